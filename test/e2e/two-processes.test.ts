// Two Gatehouse server processes on one PostgreSQL database, behind one issuer: a revocation made
// through one process, or a person disabled in the database, reads active:false at introspection
// on the other process within one second. (On the embedded PGlite, a second process is refused.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { freePort, startTestServer, type TestServer, replicaEnvironment } from '../support/gatehouse.js';
import { cleanEnv, startMain, waitFor200, type Server } from '../support/process.js';

const API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';

let testDb: TestDatabase;
let dataDir: string;
let a: TestServer;
let b: Server | undefined;
let bOrigin: string;
let app: App;
let api: { clientId: string; clientSecret: string };

beforeAll(async () => {
  testDb = await createTestDatabase();
  dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-two-'));
  const { PORT, ...shared } = await replicaEnvironment();
  a = await startTestServer({ ...shared, PORT }, { testDb });
  const created = await a.stores.resources.create({ identifier: API, scope: 'notes:read', isDefault: true });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  app = await registerApp(a, { scope: SCOPE });
  if (testDb.kind !== 'postgres') return;
  const bPort = await freePort();
  bOrigin = `http://127.0.0.1:${bPort}`;
  b = startMain({
    ...cleanEnv(),
    ...shared,
    NODE_ENV: 'test',
    DATABASE_URL: testDb.url,
    DATA_DIR: dataDir,
    PORT: String(bPort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
  });
  await waitFor200(`${bOrigin}/readyz`, b);
}, 60_000);

afterAll(async () => {
  if (b && b.child.exitCode === null) {
    b.child.kill('SIGTERM');
    await b.exited;
  }
  await a?.stop();
  await testDb?.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

async function activeOnB(token: string): Promise<boolean> {
  const res = await fetch(`${bOrigin}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${api.clientId}:${api.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { active: boolean }).active;
}

/** Asks B until it reads inactive, for at most one second; returns how long it took. */
async function inactiveOnBWithinASecond(token: string): Promise<number> {
  const started = Date.now();
  while (Date.now() - started <= 1000) {
    if (!(await activeOnB(token))) return Date.now() - started;
  }
  throw new Error('still active on the other process after one second');
}

describe('two server processes on one database', () => {
  it('see each other\'s revocations within a second (on PGlite, a second process is refused)', async () => {
    if (testDb.kind !== 'postgres') {
      // The embedded database belongs to one process: a second one on the same data directory is
      // told so and exits, rather than opening the files twice.
      const env = { ...cleanEnv(), NODE_ENV: 'test', DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'silent' };
      const port = await freePort();
      const first = startMain({ ...env, PORT: String(port) });
      try {
        await waitFor200(`http://127.0.0.1:${port}/readyz`, first);
        const second = startMain({ ...env, PORT: String(await freePort()) });
        const { code } = await second.exited;
        expect(code).not.toBe(0);
        expect(second.stderr()).toMatch(/in use by another Gatehouse process/);
      } finally {
        first.child.kill('SIGTERM');
        await first.exited;
      }
      return;
    }
    const person = await createPerson(a);
    const first = await obtainTokens(a, app, person, { scope: SCOPE });
    // Warm on B: B has now looked at this token and may have cached its standing.
    expect(await activeOnB(first.tokens.access_token)).toBe(true);
    expect(await activeOnB(first.tokens.access_token)).toBe(true);

    // The app revokes its refresh token through A: the grant goes, with its JWT access tokens.
    await client.tokenRevocation(app.config, first.tokens.refresh_token!);
    expect(await inactiveOnBWithinASecond(first.tokens.access_token)).toBeLessThanOrEqual(1000);

    // A person disabled in the database (by an admin tool, or by hand) is seen on B too.
    const second = await obtainTokens(a, app, person, { scope: SCOPE });
    expect(await activeOnB(second.tokens.access_token)).toBe(true);
    await testDb.db('users').where({ id: person.id }).update({ disabled_at: new Date() });
    expect(await inactiveOnBWithinASecond(second.tokens.access_token)).toBeLessThanOrEqual(1000);
  });
});
