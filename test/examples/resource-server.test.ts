// The example API (examples/resource-server) against a real Gatehouse: what local verification
// accepts and refuses, and how long a revocation takes to reach each kind of call — never for
// ordinary calls until the token expires, at once for introspected calls, within cacheSeconds
// when introspection answers are cached. Every Gatehouse here has the development demo seeded, as a
// quick start's database does, and the last part follows the example's README command by command.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer, type ResourceServerOptions } from '../../examples/resource-server/api.js';
import { loadConfig } from '../../src/config.js';
import { seedDemo } from '../../src/demo/seed.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, signIn as flowSignIn, signIn as signInAt, type App } from '../support/flows.js';
import { UserAgent } from '../support/user-agent.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';
import { cleanEnv, startMain, waitFor200, type Server as ProcessServer } from '../support/process.js';
import { proof, proofKey } from '../support/dpop.js';
import { written } from '../support/changes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const NOTES_API = 'https://notes.example.test';
const BILLING_API = 'https://billing.example.test';
const ALL_SCOPES = 'openid profile email offline_access notebook:read notebook:write';

interface RunningApi { url: string; errors: unknown[]; close(): Promise<void> }

let server: TestServer;
let introspectionCredentials: ResourceServerOptions['introspection'];
let app: App;
const running: RunningApi[] = [];

async function startApi(options: Partial<ResourceServerOptions> = {}): Promise<RunningApi> {
  const port = await freePort();
  // DPoP proofs name the URL the API is reached at, which it is told, as it would be in production.
  const koa = createResourceServer({ issuer: server.issuer, audience: NOTES_API, introspection: introspectionCredentials, url: `http://127.0.0.1:${port}`, ...options });
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

/** What `npm start` creates on a new development database, into the stores of `server`. */
async function seedQuickStartDemo(stores: TestServer['stores']): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-demo-'));
  try {
    expect(await seedDemo(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir }), stores)).toBeDefined();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  server = await startTestServer();
  await seedQuickStartDemo(server.stores);
  const notes = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notebook:read notebook:write', isDefault: true });
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

  it('a valid token with notebook:read reads the person\'s notes', async () => {
    const tokens = await signIn();
    const id = await createNote(api, tokens.access_token);
    const res = await call(api, 'GET', '/notes', tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.body.notes).toEqual([expect.objectContaining({ id, text: 'remember the milk' })]);
  });

  it('a machine client\'s token (client_credentials) works as well', async () => {
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Nightly job', clientCredentials: true, scope: 'notebook:read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'notebook:read' });
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
    const readOnly = await signIn('openid offline_access notebook:read');
    const denied = await call(api, 'POST', '/notes', readOnly.access_token, { text: 'x' });
    expect(denied.status).toBe(403);
    expect(denied.challenge).toMatch(/error="insufficient_scope"/);
    expect(denied.challenge).toMatch(/scope="notebook:write"/);
    const writeOnly = await signIn('openid offline_access notebook:write');
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

describe('DPoP-bound tokens (RFC 9449): only the holder of the key gets in', () => {
  let api: RunningApi;
  let apiUrl: string;
  let key: Awaited<ReturnType<typeof proofKey>>;
  let bound: string;
  beforeAll(async () => {
    api = await startApi();
    apiUrl = api.url;
    key = await proofKey();
    const person = await createPerson(server);
    const request = await authorizationRequest(app, { scope: ALL_SCOPES });
    const callback = await signInAt(new UserAgent(server.issuer), request.url, person);
    const DPoP = client.getDPoPHandle(app.config, { privateKey: key.privateKey, publicKey: key.publicKey });
    bound = (await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }, undefined, { DPoP })).access_token;
  });

  async function dpopCall(method: string, path: string, headers: Record<string, string>) {
    const res = await fetch(`${apiUrl}${path}`, { method, headers });
    const text = await res.text();
    return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  it('through openid-client\'s DPoP handle the bound token reads the person\'s notes', async () => {
    const DPoP = client.getDPoPHandle(app.config, { privateKey: key.privateKey, publicKey: key.publicKey });
    const res = await client.fetchProtectedResource(app.config, bound, new URL(`${apiUrl}/notes`), 'GET', undefined, undefined, { DPoP });
    expect(res.status).toBe(200);
  });

  it('the stolen token is refused: as a bearer token, without a proof, and with a proof of the thief\'s key', async () => {
    const asBearer = await dpopCall('GET', '/notes', { authorization: `Bearer ${bound}` });
    expect(asBearer.status).toBe(401);
    expect(asBearer.challenge).toMatch(/^DPoP /);
    expect((await dpopCall('GET', '/notes', { authorization: `DPoP ${bound}` })).status).toBe(401);
    const thief = await proofKey();
    const withOwnKey = await dpopCall('GET', '/notes', { authorization: `DPoP ${bound}`, dpop: await proof(thief, { htm: 'GET', htu: `${apiUrl}/notes`, accessToken: bound }) });
    expect(withOwnKey.status).toBe(401);
    expect(withOwnKey.body.error).toBe('invalid_token');
  });

  it('a proof used once is refused the second time; a proof for another token, URL, method or moment is refused', async () => {
    const once = await proof(key, { htm: 'GET', htu: `${apiUrl}/notes`, accessToken: bound });
    expect((await dpopCall('GET', '/notes', { authorization: `DPoP ${bound}`, dpop: once })).status).toBe(200);
    const replayed = await dpopCall('GET', '/notes', { authorization: `DPoP ${bound}`, dpop: once });
    expect(replayed.status).toBe(401);
    expect(replayed.body.error).toBe('invalid_dpop_proof');
    for (const claims of [
      { htm: 'GET', htu: `${apiUrl}/notes`, accessToken: 'another-token' },
      { htm: 'GET', htu: `https://attacker.example.test/notes`, accessToken: bound },
      { htm: 'POST', htu: `${apiUrl}/notes`, accessToken: bound },
      { htm: 'GET', htu: `${apiUrl}/notes`, accessToken: bound, iat: Math.floor(Date.now() / 1000) - 600 },
    ]) {
      const res = await dpopCall('GET', '/notes', { authorization: `DPoP ${bound}`, dpop: await proof(key, claims) });
      expect(res.status, JSON.stringify(claims)).toBe(401);
      expect(res.body.error).toBe('invalid_dpop_proof');
    }
  });

  it('a malformed DPoP header is an error, with a bound or an unbound token', async () => {
    const malformed = await dpopCall('GET', '/notes', { authorization: `DPoP ${bound}`, dpop: 'not-a-proof' });
    expect(malformed.status).toBe(401);
    expect(malformed.body.error).toBe('invalid_dpop_proof');
    const plain = (await signIn()).access_token;
    expect((await dpopCall('GET', '/notes', { authorization: `Bearer ${plain}`, dpop: 'not-a-proof' })).status).toBe(401);
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

describe('calling the archive API for the person: token exchange (RFC 8693)', () => {
  const ARCHIVE_API = 'https://archive.example.test';
  let api: RunningApi;
  let delegating: App;
  /** What the archive received: the claims of each exchanged token it verified, and the note. */
  const archived: Array<{ claims: Record<string, unknown>; text: string }> = [];
  let archive: Server;

  beforeAll(async () => {
    await server.stores.resources.create({ identifier: ARCHIVE_API, scope: 'archive:write' });
    await written(server, () => server.stores.resources.update(NOTES_API, { mayExchangeFor: [ARCHIVE_API] }));
    delegating = await registerApp(server, { scope: 'openid offline_access notebook:write archive:write' });
    // The archive checks tokens as any API does: locally, for its own audience.
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const port = await freePort();
    archive = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        jwtVerify(token, jwks, { issuer: server.issuer, audience: ARCHIVE_API, typ: 'at+jwt' })
          .then(({ payload }) => {
            archived.push({ claims: payload, text: (JSON.parse(Buffer.concat(chunks).toString()) as { text: string }).text });
            res.writeHead(201).end();
          })
          .catch(() => res.writeHead(401).end());
      });
    }).listen(port, '127.0.0.1');
    await once(archive, 'listening');
    api = await startApi({ archive: { identifier: ARCHIVE_API, url: `http://127.0.0.1:${port}` } });
  });
  afterAll(async () => { await new Promise((resolve) => archive?.close(resolve)); });

  /** The person allows the app the notes API and, for them, the archive; the app's token is for notes. */
  async function signInForBoth(scope = 'openid notebook:write archive:write') {
    const person = await createPerson(server);
    const request = await authorizationRequest(delegating, { scope, resource: NOTES_API });
    request.url.searchParams.append('resource', ARCHIVE_API);
    const callback = await flowSignIn(new UserAgent(server.issuer), request.url, person);
    const tokens = await client.authorizationCodeGrant(delegating.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }, { resource: NOTES_API });
    return { person, tokens };
  }

  it('the archive receives a token for itself, naming the person and the notes API as the actor', async () => {
    const { person, tokens } = await signInForBoth();
    const id = await createNote(api, tokens.access_token, 'keep this');
    const res = await call(api, 'POST', `/notes/${id}/archive`, tokens.access_token);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(archived.at(-1)).toEqual({ text: 'keep this', claims: expect.objectContaining({ sub: person.id, aud: ARCHIVE_API, act: { sub: NOTES_API }, scope: 'archive:write' }) });
  });

  it('a person who did not allow the archive: 403, and the archive is never called', async () => {
    const { tokens } = await signInForBoth('openid notebook:write');
    const id = await createNote(api, tokens.access_token);
    const before = archived.length;
    const res = await call(api, 'POST', `/notes/${id}/archive`, tokens.access_token);
    expect(res.status).toBe(403);
    expect(archived).toHaveLength(before);
  });

  it('a revoked grant: the exchange is refused, 401, though the token still verifies locally', async () => {
    const { tokens } = await signInForBoth('openid offline_access notebook:write archive:write');
    const id = await createNote(api, tokens.access_token);
    await client.tokenRevocation(delegating.config, tokens.refresh_token!);
    const res = await call(api, 'POST', `/notes/${id}/archive`, tokens.access_token);
    expect(res.status).toBe(401);
    expect(res.challenge).toMatch(/error="invalid_token"/);
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

describe('the README, command by command, on a quick-start database (the demo seeded)', () => {
  const readme = readFileSync(path.join(ROOT, 'examples', 'resource-server', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Run it against a local Gatehouse'), readme.indexOf('## Verify locally'));
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-quick-start-'));
  const processes: ProcessServer[] = [];
  let database: TestDatabase | undefined;
  let env: NodeJS.ProcessEnv;
  let issuer: string;

  /** The words of a shell command line, with its double quotes honoured and its line continuations joined. */
  function words(line: string): string[] {
    return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  }

  function run(args: string[], options: { script?: string } = {}): ProcessServer {
    const child = spawn(process.execPath, options.script ? ['--import', 'tsx', options.script] : [path.join(ROOT, 'bin', 'gatehouse.js'), ...args], {
      cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    const started = { child, stdout: () => stdout, stderr: () => stderr, exited };
    processes.push(started);
    return started;
  }

  /** Resolves when the process has printed `pattern`; fails if it exits first. */
  function printed(started: ProcessServer, pattern: RegExp): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => { if (pattern.test(started.stdout())) resolve(); };
      started.child.stdout!.on('data', check);
      check();
      void started.exited.then(() => reject(new Error(`exited before printing ${pattern}:\n${started.stdout()}\n${started.stderr()}`)));
    });
  }

  async function npmStart(): Promise<ProcessServer> {
    const server = startMain(env);
    processes.push(server);
    await waitFor200(`${issuer}/readyz`, server, 600);
    return server;
  }

  async function stop(server: ProcessServer): Promise<void> {
    server.child.kill('SIGTERM');
    expect((await server.exited).code, server.stderr()).toBe(0);
  }

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    // A new, empty PostgreSQL database where one answers (faster to start than the embedded one);
    // otherwise the embedded database, exactly as a quick start makes it.
    database = (await usingPostgres()) ? await createTestDatabase({ migrate: false }) : undefined;
    env = {
      ...cleanEnv(), NODE_ENV: 'development', DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn',
      ...(database ? { DATABASE_URL: database.url } : {}),
    };
    // The quick start: `npm start` on an empty database migrates it and creates the demo (whose API
    // has the scopes notes:read and notes:write), then stops, as the README asks for the embedded one.
    const first = await npmStart();
    await printed(first, /A demo person, app and API were created/);
    await stop(first);
  }, 120_000);

  afterAll(async () => {
    for (const started of processes) if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGTERM');
    await Promise.all(processes.map((started) => started.exited));
    await database?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('its commands work as written: the API verifies locally, and introspection sees the revocation', { timeout: 120_000 }, async () => {
    const cli = section.split('\n').filter((line) => line.startsWith('npx gatehouse '));
    expect(cli.map((line) => words(line).slice(2, 4).join(' '))).toEqual(['resource create', 'client create']);

    const outputs: Array<Record<string, string>> = [];
    for (const line of cli) {
      const command = run(words(line).slice(2));
      const { code } = await command.exited;
      expect(code, `${line}\n${command.stderr()}`).toBe(0);
      expect(command.stderr(), line).toBe(''); // no warning either: every scope it names is defined
      outputs.push(JSON.parse(command.stdout()) as Record<string, string>);
    }
    const [api, tester] = outputs as [Record<string, string>, Record<string, string>];
    const audience = /AUDIENCE=(\S+)/.exec(section)![1]!;
    expect(api.identifier).toBe(audience);

    await npmStart();
    // In another terminal, the API with the environment the README gives it.
    const apiPort = await freePort();
    env = {
      ...env, ISSUER: issuer, AUDIENCE: audience, PORT: String(apiPort),
      INTROSPECTION_CLIENT_ID: api.client_id!, INTROSPECTION_CLIENT_SECRET: api.client_secret!,
    };
    await printed(run([], { script: /node --import tsx (\S+)/.exec(section)![1]! }), /listening on/);
    const base = `http://localhost:${apiPort}`;

    // "Get a token, use it, revoke it", with the machine client's credentials.
    const basic = `Basic ${Buffer.from(`${tester.client_id}:${tester.client_secret}`).toString('base64')}`;
    const tokenRequest = /-d scope="([^"]+)" -d resource=(\S+)/.exec(readme)!;
    const tokenResponse = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: tokenRequest[1]!, resource: tokenRequest[2]! }),
    });
    expect(tokenResponse.status).toBe(200);
    const token = ((await tokenResponse.json()) as { access_token: string }).access_token;
    const bearer = { authorization: `Bearer ${token}` };

    const created = await fetch(`${base}/notes`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: '{"text":"hello"}' });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { id: string }).id).toBe('1');
    const revoked = await fetch(`${issuer}/token/revocation`, {
      method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }),
    });
    expect(revoked.status).toBe(200);
    expect((await fetch(`${base}/notes`, { headers: bearer })).status).toBe(200); // verified locally
    expect((await fetch(`${base}/notes/1`, { method: 'DELETE', headers: bearer })).status).toBe(401); // introspection says inactive
  });
});
