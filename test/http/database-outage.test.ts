// A database that stops answering, refuses connections or hangs on a statement: every request that
// needs it gets a 503 with Retry-After in about a second — OAuth error JSON for APIs and apps, the
// friendly page for people — and Gatehouse heals by itself when the database is back. The server is
// a real process whose PostgreSQL connections go through a proxy the test controls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientStore } from '../../src/clients/store.js';
import { createDatabase } from '../../src/db/knex.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { logLines, startReadyMain, type ReadyProcess, type Server } from '../support/process.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const onPostgres = await usingPostgres();
let testDb: TestDatabase;
let proxy: TcpProxy | undefined;
let server: Server | undefined;
let origin: string;
let running: ReadyProcess | undefined;
let api: { clientId: string; clientSecret: string };
let admin: { clientId: string; clientSecret: string };
let app: { clientId: string };

beforeAll(async () => {
  if (!onPostgres) return;
  testDb = await createTestDatabase();
  const created = await new ResourceServerStore(testDb.db).create({ identifier: 'https://outage.example.test', scope: 'outage:read' });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  const clients = new ClientStore(testDb.db);
  const automation = await clients.create({ name: 'Automation', clientCredentials: true, admin: true });
  admin = { clientId: automation.client.clientId, clientSecret: automation.clientSecret! };
  const registered = await clients.create({ name: 'Outage App', redirectUris: ['https://app.example.test/callback'], public: true });
  app = { clientId: registered.client.clientId };

  const target = new URL(testDb.url!);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const throughProxy = new URL(testDb.url!);
  throughProxy.host = `127.0.0.1:${proxy.port}`;
  running = await startReadyMain(throughProxy.href, { DATABASE_STATEMENT_TIMEOUT: '300', DATABASE_ACQUIRE_TIMEOUT: '300' });
  ({ server, origin } = running);
}, 60_000);

afterAll(async () => {
  await running?.stop();
  await proxy?.close();
  await testDb?.destroy();
});

/** Every request here is bounded: a hang would be the bug under test, not a slow answer. */
const bounded = () => AbortSignal.timeout(10_000);

function introspect(): Promise<Response> {
  return fetch(`${origin}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${api.clientId}:${api.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: 'an-opaque-token-that-needs-a-lookup' }),
    signal: bounded(),
  });
}

async function adminToken(): Promise<string> {
  const res = await fetch(`${origin}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'gatehouse:admin' }),
    signal: bounded(),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

function startSignIn(): Promise<Response> {
  const query = new URLSearchParams({
    client_id: app.clientId,
    response_type: 'code',
    redirect_uri: 'https://app.example.test/callback',
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  return fetch(`${origin}/auth?${query}`, { headers: { accept: 'text/html' }, redirect: 'manual', signal: bounded() });
}

/** Asks until introspection answers 200 again, as an API retrying after Retry-After would. */
async function healed(): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if ((await introspect()).status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('Gatehouse did not recover after the database came back');
}

async function expectOutageAnswers(token: string): Promise<void> {
  const res = await introspect();
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(await res.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringContaining('database') });

  const page = await startSignIn();
  expect(page.status).toBe(503);
  expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await page.text();
  expect(html).toContain('Gatehouse is briefly unavailable');
  expect(html).not.toMatch(/oops|server_error/i);

  const listing = await fetch(`${origin}/admin/api/v1/users`, { headers: { authorization: `Bearer ${token}` }, signal: bounded() });
  expect(listing.status).toBe(503);
  expect(listing.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(((await listing.json()) as { error: string }).error).toBe('temporarily_unavailable');

  const ready = await fetch(`${origin}/readyz`, { signal: bounded() });
  expect(ready.status).toBe(503);
}

// A proxy in front of a PostgreSQL server is the outage; the embedded database has no connection to lose.
describe.skipIf(!onPostgres)('the database stops answering', () => {
  it('a frozen database (connections open, nothing answered): 503 with Retry-After everywhere, then healing by itself', async () => {
    const token = await adminToken();
    expect((await introspect()).status).toBe(200);
    proxy!.setMode('freeze');
    try {
      await expectOutageAnswers(token);
    } finally {
      proxy!.setMode('pass');
    }
    await healed();
    const listing = await fetch(`${origin}/admin/api/v1/users`, { headers: { authorization: `Bearer ${token}` }, signal: bounded() });
    expect(listing.status).toBe(200);
  });

  it('a database that cuts and refuses connections (crashed, restarting): 503, then healing by itself', async () => {
    const token = await adminToken();
    proxy!.setMode('reset');
    try {
      await expectOutageAnswers(token);
    } finally {
      proxy!.setMode('pass');
    }
    await healed();
    expect((await startSignIn()).status).toBe(303);
  });

  it('a statement that hangs behind a lock: 503 once the statement timeout passes, 200 once the lock is gone', async () => {
    const locker = createDatabase({ url: testDb.url, embeddedDir: null, poolMax: 1 });
    try {
      await locker.transaction(async (trx) => {
        await trx.raw('lock table oidc_records in access exclusive mode');
        const res = await introspect();
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      });
    } finally {
      await locker.destroy();
    }
    expect((await introspect()).status).toBe(200);
  });

  it('says so in the JSON log, one line per failure, and nothing else on stderr', () => {
    const lines = server!.stdout().split('\n').filter(Boolean);
    const logged = logLines(server!.stdout());
    expect(logged.filter((line) => line.event === 'database.unavailable').length).toBeGreaterThan(0);
    // Every line of the log is a JSON object: no stack trace spread over lines of its own.
    expect(lines.filter((line) => !line.startsWith('{'))).toEqual([]);
    expect(logged.filter((line) => line.event === 'server_error')).toEqual([]);
    // (oidc-provider's own one-time notices, such as the runtime's, are not about the database.)
    const stderr = server!.stderr().split('\n').filter((line) => line && !line.startsWith('oidc-provider WARNING: '));
    expect(stderr).toEqual([]);
  });
});
