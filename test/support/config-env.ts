// Environments for loadConfig in tests that judge the settings themselves: a DATA_DIR of their
// own (removed after each test), production's required settings filled in validly, and the
// problems a refused configuration lists.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** Gives each call a fresh DATA_DIR, removed after the test that made it. */
export function configEnvironments(prefix: string) {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function env(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const dir = mkdtempSync(path.join(tmpdir(), `gatehouse-${prefix}-`));
    dirs.push(dir);
    return { DATA_DIR: dir, ...overrides };
  }

  /** Everything production requires, valid, without a mail relay: `overrides` decide the rest. */
  function production(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return env({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://gatehouse@db.internal:5432/gatehouse',
      COOKIE_KEYS: randomBytes(32).toString('base64url'),
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      ISSUER: 'https://id.example.com',
      TRUST_PROXY: 'true',
      ...overrides,
    });
  }

  return { env, production };
}

/** The problems a configuration is refused for; none when it loads. */
export function problemsOf(environment: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(environment);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
