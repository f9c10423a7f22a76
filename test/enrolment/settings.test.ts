// SIGNUP (src/config.ts): closed by default; `invite` and `open` send mail, so production refuses
// to start with either and no SMTP_URL, naming the setting, and starts with it set.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function production(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-signup-config-'));
  dirs.push(dir);
  return {
    DATA_DIR: dir,
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://gatehouse@db.internal:5432/gatehouse',
    COOKIE_KEYS: randomBytes(32).toString('base64url'),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ISSUER: 'https://id.example.com',
    TRUST_PROXY: 'true',
    // The other features that send mail, off: what SIGNUP alone asks of production is what is shown.
    PASSWORD_RECOVERY: 'false',
    EMAIL_NOTIFICATIONS: 'false',
    EMAIL_VERIFICATION: 'false',
    ...overrides,
  };
}

function problemsOf(environment: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(environment);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('SIGNUP', () => {
  it('is closed by default, and production then needs no SMTP_URL', () => {
    expect(loadConfig(production()).signup).toBe('closed');
  });

  it.each(['invite', 'open'])('=%s needs SMTP_URL in production, and starts with it', (value) => {
    expect(problemsOf(production({ SIGNUP: value }))).toEqual([
      `SMTP_URL is required in production with SIGNUP=${value} on: without it their mail would wait in the outbox and never be sent (the development mailbox does not exist in production)`,
    ]);
    expect(loadConfig(production({ SIGNUP: value, SMTP_URL: 'smtp://relay.internal:25', MAIL_FROM: 'id@example.com' })).signup).toBe(value);
  });

  it('refuses anything else, naming the setting', () => {
    expect(problemsOf(production({ SIGNUP: 'yes' }))).toEqual([expect.stringMatching(/^SIGNUP: /)]);
  });
});
