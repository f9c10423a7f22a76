// "A database dump yields no usable credential": after a full round of flows, every secret that
// crossed the wire is searched for in every table of the database, the way an attacker holding a
// backup would. Digests, encrypted keys and password hashes are what should be there instead.
import { compactDecrypt, decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { formOf, UserAgent } from '../support/user-agent.js';

const API = 'https://api.example.test';
const POST_LOGOUT = 'https://app.example.test/signed-out';

/** Every secret value seen on the wire, by what it is, so a failure names the leak. */
const secrets = new Map<string, string>();

function remember(label: string, value: string | undefined | null): void {
  expect(value, `${label} was not captured`).toBeTruthy();
  secrets.set(label, value!);
}

let server: TestServer;
let dump: Record<string, unknown[]>;
let dumpText: Record<string, string>;

/** The authorization-code flow step by step, so the interaction uid and every cookie are seen. */
async function signInCollecting(agent: UserAgent, app: App, person: { email: string; password: string }) {
  const request = await authorizationRequest(app);
  const first = await agent.request(request.url.href);
  expect(first.status).toBe(303);
  const interactionUrl = new URL(first.headers.get('location')!, server.issuer);
  const uid = /^\/interaction\/([^/]+)$/.exec(interactionUrl.pathname)?.[1];
  remember('interaction uid', uid);

  let page = await agent.follow(interactionUrl.href);
  expect(page.status).toBe(200);
  const login = formOf(page.body, /\/login$/);
  remember('login csrf token', login.csrf);
  page = await agent.follow(new URL(login.action, page.url).href, {
    form: { csrf: login.csrf, email: person.email, password: person.password },
  });
  expect(page.leftTo).toBeUndefined();
  const consent = formOf(page.body, /\/confirm$/);
  page = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
  expect(page.leftTo).toBeDefined();
  const callback = new URL(page.leftTo!);
  remember('authorization code', callback.searchParams.get('code'));
  return { request, callback };
}

/** `select *` from every table in the public schema, rows as JSON, binary columns in every encoding. */
async function dumpDatabase(): Promise<Record<string, unknown[]>> {
  const db = server.testDb.db;
  const tables = (await db('information_schema.tables')
    .select('table_name')
    .where({ table_schema: 'public', table_type: 'BASE TABLE' })) as Array<{ table_name: string }>;
  const out: Record<string, unknown[]> = {};
  for (const { table_name: table } of tables) {
    out[table] = (await db.raw(`select * from "${table}"`)).rows as unknown[];
  }
  return out;
}

function textOf(rows: unknown[]): string {
  return JSON.stringify(rows, (_key, value: unknown) => {
    if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') {
      const bytes = Buffer.from((value as { data: number[] }).data);
      return { hex: bytes.toString('hex'), base64: bytes.toString('base64'), base64url: bytes.toString('base64url'), utf8: bytes.toString('utf8') };
    }
    if (value instanceof Uint8Array) {
      const bytes = Buffer.from(value);
      return { hex: bytes.toString('hex'), base64: bytes.toString('base64'), base64url: bytes.toString('base64url'), utf8: bytes.toString('utf8') };
    }
    return value;
  });
}

beforeAll(async () => {
  server = await startTestServer();

  // An API with its introspection credentials, the default audience of access tokens.
  const api = await server.stores.resources.create({ identifier: API, scope: 'read write', isDefault: true });
  remember('API introspection secret', api.clientSecret);

  const app = await registerApp(server, { scope: 'openid profile email offline_access read', postLogoutRedirectUri: POST_LOGOUT });
  remember('app client secret', app.clientSecret);
  const person = await createPerson(server, { name: 'Grace Hopper' });
  remember('password', person.password);

  // Sign in and consent, then redeem the code.
  const agent = new UserAgent(server.issuer);
  const { request, callback } = await signInCollecting(agent, app, person);
  const tokens = await client.authorizationCodeGrant(app.config, callback, {
    pkceCodeVerifier: request.codeVerifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  });
  remember('PKCE code verifier', request.codeVerifier);
  remember('access token', tokens.access_token);
  remember('refresh token', tokens.refresh_token);
  remember('ID token', tokens.id_token);

  // Userinfo with the access token.
  const userinfo = await client.fetchUserInfo(app.config, tokens.access_token, person.id);
  expect(userinfo.sub).toBe(person.id);

  // One refresh: the old refresh token is consumed and stays in the table as consumed.
  const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
  remember('refreshed access token', refreshed.access_token);
  remember('rotated refresh token', refreshed.refresh_token);
  expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
  if (refreshed.id_token) remember('refreshed ID token', refreshed.id_token);

  // A machine client's token.
  const { client: machine, clientSecret: machineSecret } = await server.stores.clients.create({ name: 'Nightly job', clientCredentials: true, scope: 'read' });
  remember('machine client secret', machineSecret);
  const machineConfig = await client.discovery(new URL(server.issuer), machine.clientId, machineSecret, undefined, { execute: [client.allowInsecureRequests] });
  const machineTokens = await client.clientCredentialsGrant(machineConfig, { scope: 'read', resource: API });
  remember('client_credentials access token', machineTokens.access_token);

  // The logout confirmation page, so the session also holds its logout state while dumped.
  const logout = await agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT })}`);
  expect(logout.status).toBe(200);
  expect(logout.body).toContain('op.logoutForm');

  // A second browser left on the consent page: its interaction (which copies the session) and its
  // signed-in session are live while the database is dumped.
  const pending = new UserAgent(server.issuer);
  const pendingRequest = await authorizationRequest(app);
  const atLogin = await pending.request(pendingRequest.url.href);
  const pendingUid = /\/interaction\/([^/?]+)/.exec(atLogin.headers.get('location') ?? '')?.[1];
  remember('pending interaction uid (before sign-in)', pendingUid);
  let pendingPage = await pending.follow(new URL(atLogin.headers.get('location')!, server.issuer).href);
  const pendingLogin = formOf(pendingPage.body, /\/login$/);
  pendingPage = await pending.follow(new URL(pendingLogin.action, pendingPage.url).href, {
    form: { csrf: pendingLogin.csrf, email: person.email, password: person.password },
  });
  expect(pendingPage.body).toMatch(/name="decision"/);
  remember('pending interaction uid (at consent)', /\/interaction\/([^/?]+)/.exec(pendingPage.url)?.[1]);

  // Every cookie the browsers hold, and every value they were ever sent.
  for (const [who, browser] of [['browser', agent], ['pending browser', pending]] as const) {
    for (const [name, value] of browser.cookies) remember(`${who} cookie ${name}`, value);
    for (const line of browser.setCookieHeaders) {
      const pair = line.split(';')[0]!;
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value) remember(`${who} Set-Cookie ${name}=${value.slice(0, 6)}…`, value);
    }
  }
  // Sanity: the session cookie was among them.
  expect(agent.cookies.has('gh_session')).toBe(true);

  dump = await dumpDatabase();
  dumpText = Object.fromEntries(Object.entries(dump).map(([table, rows]) => [table, textOf(rows)]));
});

afterAll(async () => {
  await server?.stop();
});

describe('a database dump', () => {
  it('covers every table, and the tables the flows wrote are not empty', () => {
    expect(Object.keys(dump)).toEqual(expect.arrayContaining(['users', 'clients', 'resource_servers', 'signing_keys', 'oidc_records']));
    for (const table of ['users', 'clients', 'resource_servers', 'signing_keys', 'oidc_records']) {
      expect(dump[table]!.length, table).toBeGreaterThan(0);
    }
    // The flows left their records behind: a session, a grant, the (consumed) code and refresh tokens.
    const models = new Set((dump.oidc_records as Array<{ model: string }>).map((row) => row.model));
    expect([...models]).toEqual(expect.arrayContaining(['Session', 'Grant', 'AuthorizationCode', 'RefreshToken', 'Interaction']));
  });

  it('contains none of the secrets that crossed the wire', () => {
    expect(secrets.size).toBeGreaterThan(12);
    const leaks: string[] = [];
    for (const [label, value] of secrets) {
      expect(value.length, `${label} is too short to search for`).toBeGreaterThanOrEqual(8);
      for (const [table, text] of Object.entries(dumpText)) {
        if (!text.includes(value)) continue;
        // Name the column (and oidc-provider model) holding it, so a failure is its own bug report.
        for (const row of dump[table] as Array<Record<string, unknown>>) {
          for (const [column, cell] of Object.entries(row)) {
            if (textOf([cell]).includes(value)) leaks.push(`${label} in ${table}.${column}${typeof row.model === 'string' ? ` (${row.model})` : ''}`);
          }
        }
      }
    }
    expect(leaks).toEqual([]);
  });

  it('does not need to hide the jti of JWT access tokens, which are not credentials', () => {
    // Documenting the boundary: a jti identifies a token, it cannot be presented as one.
    const { jti } = decodeJwt(secrets.get('access token')!);
    expect(typeof jti).toBe('string');
  });

  it('keeps private signing keys only as JWEs that do not open without KEY_ENCRYPTION_KEY', async () => {
    expect(dumpText.signing_keys).not.toMatch(/"d":/);
    expect(dumpText.signing_keys).not.toMatch(/\\?"(d|p|q|dp|dq|qi)\\?":/);
    const rows = dump.signing_keys as Array<{ kid: string; public_jwk: Record<string, unknown>; private_jwk_jwe: string }>;
    for (const row of rows) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(row.public_jwk).not.toHaveProperty(member);
      const parts = row.private_jwk_jwe.split('.');
      expect(parts).toHaveLength(5);
      expect(decodeProtectedHeader(row.private_jwk_jwe)).toMatchObject({ alg: 'dir', enc: 'A256GCM', kid: row.kid });
      // The ciphertext is not the JWK in disguise.
      expect(Buffer.from(parts[3]!, 'base64url').toString('latin1')).not.toContain('"d"');
      await expect(compactDecrypt(row.private_jwk_jwe, new Uint8Array(32))).rejects.toThrow();
    }
  });

  it('stores passwords as argon2id hashes and client secrets as digests', () => {
    const users = dump.users as Array<{ password_hash: string }>;
    for (const user of users) expect(user.password_hash.startsWith('$argon2id$')).toBe(true);
    const clients = dump.clients as Array<{ secret_digest: string | null; token_endpoint_auth_method: string }>;
    for (const row of clients) {
      if (row.token_endpoint_auth_method === 'none') expect(row.secret_digest).toBeNull();
      else expect(row.secret_digest).toMatch(/^[\w-]{43}$/);
    }
  });
});
