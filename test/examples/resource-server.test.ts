// The example API (examples/resource-server) against a real Gatehouse: what local verification
// accepts and refuses, and how long a revocation takes to reach each kind of call — never for
// ordinary calls until the token expires, at once for introspected calls, within cacheSeconds
// when introspection answers are cached.
import type { Server } from 'node:http';
import { once } from 'node:events';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer, type ResourceServerOptions } from '../../examples/resource-server/api.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';

const NOTES_API = 'https://notes.example.test';
const BILLING_API = 'https://billing.example.test';
const ALL_SCOPES = 'openid profile email offline_access notes:read notes:write';

interface RunningApi { url: string; errors: unknown[]; close(): Promise<void> }

let server: TestServer;
let introspectionCredentials: ResourceServerOptions['introspection'];
let app: App;
const running: RunningApi[] = [];

async function startApi(options: Partial<ResourceServerOptions> = {}): Promise<RunningApi> {
  const port = await freePort();
  const koa = createResourceServer({ issuer: server.issuer, audience: NOTES_API, introspection: introspectionCredentials, ...options });
  const errors: unknown[] = [];
  koa.on('error', (error: unknown) => errors.push(error));
  const http: Server = koa.listen(port, '127.0.0.1');
  await once(http, 'listening');
  const api = {
    url: `http://127.0.0.1:${port}`,
    errors,
    close: () => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()); }),
  };
  running.push(api);
  return api;
}

async function call(api: RunningApi, method: string, path: string, token?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${api.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function createNote(api: RunningApi, token: string, text = 'remember the milk'): Promise<string> {
  const res = await call(api, 'POST', '/notes', token, { text });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function signIn(scope = ALL_SCOPES) {
  const person = await createPerson(server);
  const { tokens } = await obtainTokens(server, app, person, { scope });
  return tokens;
}

/** The app revokes its refresh token, which revokes the whole grant (RFC 7009 §2.1). */
async function revokeGrant(refreshToken: string): Promise<void> {
  const res = await fetch(`${server.issuer}/token/revocation`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret!)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }),
  });
  expect(res.status).toBe(200);
}

/** How many introspection requests Gatehouse has answered, from its own request log. */
function introspections(): number {
  return server.logs.filter((line) => line.msg === 'request' && line.path === '/token/introspection').length;
}

beforeAll(async () => {
  server = await startTestServer();
  const notes = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notes:read notes:write', isDefault: true });
  // Registered without keys, so it authenticates with a secret (client_secret_basic).
  introspectionCredentials = { clientId: notes.clientId, clientSecret: notes.clientSecret! };
  await server.stores.resources.create({ identifier: BILLING_API, scope: 'billing:read' });
  app = await registerApp(server, { scope: ALL_SCOPES });
});

afterAll(async () => {
  await Promise.all(running.map((api) => api.close()));
  await server?.stop();
});

describe('ordinary calls: the token is verified locally', () => {
  let api: RunningApi;
  beforeAll(async () => { api = await startApi(); });

  it('a valid token with notes:read reads the person\'s notes', async () => {
    const tokens = await signIn();
    const id = await createNote(api, tokens.access_token);
    const res = await call(api, 'GET', '/notes', tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.body.notes).toEqual([expect.objectContaining({ id, text: 'remember the milk' })]);
  });

  it('a machine client\'s token (client_credentials) works as well', async () => {
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Nightly job', clientCredentials: true, scope: 'notes:read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'notes:read' });
    const res = await call(api, 'GET', '/notes', token);
    expect(res.status).toBe(200);
    expect(res.body.notes).toEqual([]);
  });

  it('no token: 401 with a bare Bearer challenge (RFC 6750 §3.1: no error code)', async () => {
    const res = await call(api, 'GET', '/notes');
    expect(res.status).toBe(401);
    expect(res.challenge).toMatch(/^Bearer /);
    expect(res.challenge).not.toMatch(/error=/);
  });

  it('another authentication scheme is treated as no token', async () => {
    const res = await fetch(`${api.url}/notes`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it.each([
    ['garbage', 'not-a-token'],
    ['a truncated JWT', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0'],
    ['three dots of nothing', '..'],
    ['a JWT with a bad signature', 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIxIn0.AAAA'],
  ])('%s: 401 invalid_token', async (_name, token) => {
    const res = await call(api, 'GET', '/notes', token);
    expect(res.status).toBe(401);
    expect(res.challenge).toMatch(/^Bearer .*error="invalid_token"/);
  });

  it('a malformed Authorization header is 400 invalid_request, not a 500', async () => {
    for (const header of ['Bearer', 'Bearer two words', 'Bearer caf\u00e9']) {
      const res = await fetch(`${api.url}/notes`, { headers: { authorization: header } });
      expect(res.status, header).toBe(400);
      expect(res.headers.get('www-authenticate'), header).toMatch(/error="invalid_request"/);
    }
  });

  it('a token for another API: 401 invalid_token', async () => {
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Billing job', clientCredentials: true, scope: 'billing:read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'billing:read', resource: BILLING_API });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { aud: unknown };
    expect(claims.aud).toBe(BILLING_API); // the baseline: a genuine Gatehouse token, just not ours
    const res = await call(api, 'GET', '/notes', token);
    expect(res.status).toBe(401);
    expect(res.challenge).toMatch(/error="invalid_token"/);
  });

  it('an ID token, signed by the same keys, is not an access token', async () => {
    const tokens = await signIn();
    const res = await call(api, 'GET', '/notes', tokens.id_token!);
    expect(res.status).toBe(401);
    expect(res.challenge).toMatch(/error="invalid_token"/);
  });

  it('an expired token: 401 invalid_token', async () => {
    const tokens = await signIn();
    const later = await startApi({ now: () => Date.now() + 11 * 60_000 }); // past the 10-minute default TTL
    const res = await call(later, 'GET', '/notes', tokens.access_token);
    expect(res.status).toBe(401);
    expect(res.challenge).toMatch(/error="invalid_token"/);
    expect(res.body.error_description).toMatch(/expired/);
  });

  it('a token without the scope: 403 insufficient_scope, naming the scope', async () => {
    const readOnly = await signIn('openid offline_access notes:read');
    const denied = await call(api, 'POST', '/notes', readOnly.access_token, { text: 'x' });
    expect(denied.status).toBe(403);
    expect(denied.challenge).toMatch(/error="insufficient_scope"/);
    expect(denied.challenge).toMatch(/scope="notes:write"/);
    const writeOnly = await signIn('openid offline_access notes:write');
    expect((await call(api, 'GET', '/notes', writeOnly.access_token)).status).toBe(403);
    expect((await call(api, 'DELETE', '/notes/1', readOnly.access_token)).status).toBe(403);
  });

  it('a bad body is a 400, not a 500', async () => {
    const tokens = await signIn();
    expect((await call(api, 'POST', '/notes', tokens.access_token, { text: 42 })).status).toBe(400);
    const res = await fetch(`${api.url}/notes`, {
      method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' }, body: '{not json',
    });
    expect(res.status).toBe(400);
  });
});

describe('a revocation: ordinary calls do not see it, sensitive calls see it at once', () => {
  let api: RunningApi;
  beforeAll(async () => { api = await startApi(); });

  it('the app revokes its refresh token: reading still works, deleting is refused', async () => {
    const tokens = await signIn();
    const first = await createNote(api, tokens.access_token);
    const second = await createNote(api, tokens.access_token);
    expect((await call(api, 'DELETE', `/notes/${first}`, tokens.access_token)).status).toBe(204);

    await revokeGrant(tokens.refresh_token!);

    // Local verification cannot know: the token works until it expires (the documented staleness).
    const read = await call(api, 'GET', '/notes', tokens.access_token);
    expect(read.status).toBe(200);
    expect(read.body.notes).toEqual([expect.objectContaining({ id: second })]);

    const refused = await call(api, 'DELETE', `/notes/${second}`, tokens.access_token);
    expect(refused.status).toBe(401);
    expect(refused.challenge).toMatch(/error="invalid_token"/);
    expect((await call(api, 'GET', '/notes', tokens.access_token)).body.notes).toHaveLength(1);
  });

  it('without a cache every sensitive call asks Gatehouse', async () => {
    const tokens = await signIn();
    const ids = [await createNote(api, tokens.access_token), await createNote(api, tokens.access_token)];
    const before = introspections();
    for (const id of ids) expect((await call(api, 'DELETE', `/notes/${id}`, tokens.access_token)).status).toBe(204);
    expect(introspections() - before).toBe(2);
  });

  it('a token that fails local verification never reaches Gatehouse', async () => {
    const before = introspections();
    expect((await call(api, 'DELETE', '/notes/1', 'not-a-token')).status).toBe(401);
    expect((await call(api, 'DELETE', '/notes/1')).status).toBe(401);
    expect(introspections()).toBe(before);
  });
});

describe('an introspection cache of 30 seconds: staleness bounded by the clock', () => {
  let clock: number;
  let api: RunningApi;
  beforeAll(async () => {
    clock = Date.now();
    api = await startApi({ cacheSeconds: 30, now: () => clock });
  });

  it('a revoked token is accepted while the positive answer is fresh, refused once the bound passes', async () => {
    const tokens = await signIn();
    const ids = await Promise.all([1, 2, 3, 4].map((n) => createNote(api, tokens.access_token, `note ${n}`)));
    const before = introspections();
    expect((await call(api, 'DELETE', `/notes/${ids[0]}`, tokens.access_token)).status).toBe(204);
    expect(introspections() - before).toBe(1);

    await revokeGrant(tokens.refresh_token!);

    clock += 29_000;
    expect((await call(api, 'DELETE', `/notes/${ids[1]}`, tokens.access_token)).status).toBe(204);
    expect(introspections() - before).toBe(1); // answered from the cache: this is the staleness

    clock += 1_000; // exactly 30 seconds after Gatehouse was asked
    const refused = await call(api, 'DELETE', `/notes/${ids[2]}`, tokens.access_token);
    expect(refused.status).toBe(401);
    expect(refused.challenge).toMatch(/error="invalid_token"/);
    expect(introspections() - before).toBe(2);
  });

  it('an inactive answer is not cached: every attempt asks again', async () => {
    const tokens = await signIn();
    const id = await createNote(api, tokens.access_token);
    await revokeGrant(tokens.refresh_token!);
    const before = introspections();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect((await call(api, 'DELETE', `/notes/${id}`, tokens.access_token)).status).toBe(401);
    }
    expect(introspections() - before).toBe(3);
  });

  it('each token has its own answer: another person\'s fresh entry does not vouch for a revoked token', async () => {
    const [alive, revoked] = [await signIn(), await signIn()];
    const aliveNote = await createNote(api, alive.access_token);
    const revokedNote = await createNote(api, revoked.access_token);
    expect((await call(api, 'DELETE', `/notes/${aliveNote}`, alive.access_token)).status).toBe(204);
    await revokeGrant(revoked.refresh_token!);
    expect((await call(api, 'DELETE', `/notes/${revokedNote}`, revoked.access_token)).status).toBe(401);
  });
});

describe('when Gatehouse cannot be asked, sensitive calls fail closed', () => {
  it('wrong introspection credentials: 503, never the action', async () => {
    const api = await startApi({ introspection: { clientId: introspectionCredentials.clientId, clientSecret: 'wrong' } });
    const tokens = await signIn();
    const id = await createNote(api, tokens.access_token);
    const res = await call(api, 'DELETE', `/notes/${id}`, tokens.access_token);
    expect(res.status).toBe(503);
    expect(String(api.errors[0])).toMatch(/introspection answered 401/);
    expect((await call(api, 'GET', '/notes', tokens.access_token)).body.notes).toHaveLength(1);
  });
});
