// The server process as `npm start` runs it: refuses a production start without its settings
// (exit 78, every problem listed), and otherwise serves, reports ready, and stops cleanly on SIGTERM.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, usingPostgres, type TestDatabase } from './support/database.js';
import { freePort } from './support/gatehouse.js';
import { cleanEnv, logLines, startMain, waitFor200 } from './support/process.js';


const tempDirs: string[] = [];
let testDb: TestDatabase | undefined;

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-main-'));
  tempDirs.push(dir);
  return dir;
}

afterAll(async () => {
  await testDb?.destroy();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('refuses to start in production without its settings, listing every problem, exit 78', async () => {
    const dataDir = tempDir();
    const server = startMain({ ...cleanEnv(), NODE_ENV: 'production', DATA_DIR: dataDir });
    const { code } = await server.exited;

    expect(code).toBe(78);
    const stderr = server.stderr();
    expect(stderr).toContain('Gatehouse cannot start');
    expect(stderr).toMatch(/^\s*- DATABASE_URL /m);
    expect(stderr).toMatch(/^\s*- COOKIE_KEYS /m);
    expect(stderr).toMatch(/^\s*- KEY_ENCRYPTION_KEY /m);
    expect(existsSync(path.join(dataDir, 'development-secrets.json'))).toBe(false);
  });

  it('serves, reports ready and healthy, and stops cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const port = await freePort();
    // A database the server has to migrate itself: PostgreSQL when it answers, else the embedded one in DATA_DIR.
    testDb = (await usingPostgres()) ? await createTestDatabase({ migrate: false }) : undefined;
    const server = startMain({
      ...cleanEnv(),
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...(testDb?.url ? { DATABASE_URL: testDb.url } : {}),
    });
    try {
      const origin = `http://127.0.0.1:${port}`;
      const ready = await waitFor200(`${origin}/readyz`, server);
      expect(await ready.json()).toEqual({ status: 'ready', database: 'ok' });

      const health = await fetch(`${origin}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });

      const discovery = await fetch(`${origin}/.well-known/openid-configuration`);
      expect(discovery.status).toBe(200);
      expect(((await discovery.json()) as { issuer: string }).issuer).toBe(`http://localhost:${port}`);

      const started = logLines(server.stdout());
      expect(started.find((l) => l.event === 'database.migrated')).toMatchObject({ applied: expect.arrayContaining(['001_initial']) });
      expect(started.find((l) => l.event === 'started')).toMatchObject({
        env: 'test', listening: origin, database: testDb ? 'postgresql' : 'embedded',
      });

      expect(server.child.kill('SIGTERM')).toBe(true);
      const { code, signal } = await server.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      const events = logLines(server.stdout()).map((l) => l.event);
      expect(events).toContain('stopping');
      expect(events.at(-1)).toBe('stopped');
      expect(logLines(server.stdout()).find((l) => l.event === 'stopping')).toMatchObject({ signal: 'SIGTERM' });
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill('SIGKILL');
        await server.exited;
      }
    }
  });
});
