// Dynamic client registration (RFC 7591) and management (RFC 7592), as an app developer meets it:
// openid-client registers with the operator's initial access token and signs a person in with the
// app it got; what the policy refuses is RFC 7591 error JSON; the registration access token reads,
// updates (and is rotated) and deletes the registration.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, obtainTokens, type App } from '../support/flows.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { replicaEnvironment, startTestServer, type TestServer } from '../support/gatehouse.js';
import { ADMIN_SCOPE } from '../../src/vocabulary.js';
import { digest } from '../../src/crypto/digest.js';

const NOTES_API = 'https://notes.example.test';
const REDIRECT = 'https://app.example.test/callback';
const SYSTEM = { type: 'system' as const, id: null };

let server: TestServer;
let person: Awaited<ReturnType<typeof createPerson>>;

beforeAll(async () => {
  // Every registration here comes from loopback: a limit well above what the file makes.
  server = await startTestServer({ REGISTRATION_REDIRECT_HOSTS: 'app.example.test,*.apps.example.test', REGISTRATION_RATE_LIMIT: '1000' });
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read notes:write', isDefault: true });
  person = await createPerson(server);
});

afterAll(async () => { await server?.stop(); });

async function issueToken(input: { scope?: string; uses?: number; expiresIn?: number } = {}): Promise<string> {
  return (await server.operations.registration.create(SYSTEM, input)).token;
}

function register(metadata: Partial<client.ClientMetadata>, initialAccessToken?: string) {
  return client.dynamicClientRegistration(new URL(server.issuer), { redirect_uris: [REDIRECT], ...metadata }, undefined, {
    ...(initialAccessToken ? { initialAccessToken } : {}),
    execute: [client.allowInsecureRequests],
  });
}

/** The refusal a registration met: its HTTP status and OAuth error code, as openid-client reports them. */
async function refusal(attempt: Promise<unknown>): Promise<{ status: number; error: string }> {
  const error = await attempt.then(() => { throw new Error('the registration was accepted'); }, (e: unknown) => e);
  const e = error as { status?: number; error?: string; cause?: unknown };
  // A 401 is reported as its WWW-Authenticate challenge; anything else as the error JSON.
  const challenge = Array.isArray(e.cause) ? (e.cause[0] as { parameters?: { error?: string } }).parameters?.error : undefined;
  return { status: e.status ?? 0, error: e.error ?? challenge ?? String(error) };
}

function raw(path: string, init: RequestInit & { token?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  if (init.body) headers.set('content-type', 'application/json');
  return fetch(new URL(path, server.issuer), { ...init, headers });
}

describe('registering with an initial access token', () => {
  it('openid-client registers an app that then signs a person in and gets a token for the API', async () => {
    const token = await issueToken({ scope: 'openid profile email offline_access notes:read' });
    const config = await register({ client_name: 'Registered Notes', scope: 'openid email offline_access notes:read' }, token);
    const metadata = config.clientMetadata();
    expect(metadata.client_secret).toBeTruthy();
    expect(metadata.registration_access_token).toBeTruthy();
    expect(metadata.scope).toBe('openid email offline_access notes:read');

    const stored = await server.stores.clients.find(config.clientMetadata().client_id);
    expect(stored?.registeredAt).toBeInstanceOf(Date);
    expect(stored?.secretDigest).toBe(digest(String(metadata.client_secret)));
    expect(stored?.grantTypes).toEqual(['authorization_code', 'refresh_token']);

    const app: App = { config, clientId: metadata.client_id, clientSecret: String(metadata.client_secret), redirectUri: REDIRECT };
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid email notes:read' });
    const claims = await server.oidc.verifyAccessToken(tokens.access_token);
    expect(claims?.aud).toContain(NOTES_API);
    expect(String(claims?.scope).split(' ')).toContain('notes:read');

    const [audit] = await server.testDb.db('audit_events').where({ type: 'client.registered', client_id: metadata.client_id });
    expect(audit).toBeTruthy();
    expect(JSON.stringify(audit)).not.toContain(String(metadata.client_secret));
    expect(JSON.stringify(audit)).not.toContain(token);
  });

  it('a public app registers with none, and PKCE is still required of it', async () => {
    const token = await issueToken();
    const config = await register({ token_endpoint_auth_method: 'none' }, token);
    const metadata = config.clientMetadata();
    expect(metadata.client_secret).toBeUndefined();
    const noPkce = await fetch(`${server.issuer}/auth?${new URLSearchParams({ client_id: metadata.client_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid' })}`, { redirect: 'manual' });
    expect(new URL(noPkce.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('keeps the tokens as digests only', async () => {
    const token = await issueToken();
    const config = await register({}, token);
    const rat = String(config.clientMetadata().registration_access_token);
    const dump = JSON.stringify(await server.testDb.db('registration_tokens').select()) + JSON.stringify(await server.testDb.db('oidc_records').select());
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(rat);
    expect(dump).toContain(digest(rat));
  });
});

describe('what the policy refuses', () => {
  it('no token, an unknown one, an exhausted one, an expired one and a revoked one', async () => {
    // No token at all: a 401 whose challenge names no error (RFC 6750 §3.1), which openid-client reports as the challenge.
    expect(await refusal(register({}))).toMatchObject({ status: 401, error: expect.stringContaining('WWWAuthenticateChallengeError') });
    expect(await refusal(register({}, 'ghiat_not-a-token'))).toMatchObject({ status: 401, error: 'invalid_token' });

    const once = await issueToken({ uses: 1 });
    await register({}, once);
    expect(await refusal(register({}, once))).toMatchObject({ status: 401, error: 'invalid_token' });

    const expiring = await issueToken({ expiresIn: 3600 });
    await server.testDb.db('registration_tokens').where({ token_digest: digest(expiring) }).update({ expires_at: new Date(Date.now() - 1000) });
    expect(await refusal(register({}, expiring))).toMatchObject({ status: 401, error: 'invalid_token' });

    const revoked = await server.operations.registration.create(SYSTEM, {});
    await server.operations.registration.revoke(SYSTEM, revoked.registrationToken.id);
    expect(await refusal(register({}, revoked.token))).toMatchObject({ status: 401, error: 'invalid_token' });
  });

  it('uses are counted atomically: of racing registrations on a two-use token, two get an app', async () => {
    const twice = await issueToken({ uses: 2 });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => register({}, twice)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const [row] = await server.testDb.db('registration_tokens').where({ token_digest: digest(twice) });
    expect(row.uses).toBe(2);
  });

  it('the admin scope, a scope beyond the token, a client_credentials grant, an unsupported auth method', async () => {
    const token = await issueToken({ scope: 'openid profile notes:read' });
    expect(await refusal(register({ scope: `openid ${ADMIN_SCOPE}` }, token))).toMatchObject({ status: 400, error: 'invalid_client_metadata' });
    expect(await refusal(register({ scope: 'openid notes:write' }, token))).toMatchObject({ status: 400, error: 'invalid_client_metadata' });
    expect(await refusal(register({ grant_types: ['client_credentials'] }, token))).toMatchObject({ status: 400, error: 'invalid_client_metadata' });
    expect(await refusal(register({ token_endpoint_auth_method: 'client_secret_jwt' }, token))).toMatchObject({ status: 400, error: 'invalid_client_metadata' });
    expect(await refusal(register({ gatehouse_admin: true } as never, token))).toMatchObject({ status: 400, error: 'invalid_client_metadata' });
    await expect(server.operations.registration.create(SYSTEM, { scope: `openid ${ADMIN_SCOPE}` })).rejects.toThrow(ADMIN_SCOPE);
  });

  it('redirect URIs on hosts and schemes the operator did not allow, or not exact', async () => {
    const token = await issueToken({ uses: 10 });
    for (const uri of ['https://evil.example.test/callback', 'http://app.example.test/callback', 'https://app.example.test/cb#x', 'com.example.app:/callback']) {
      expect(await refusal(register({ redirect_uris: [uri] }, token)), uri).toMatchObject({ status: 400, error: 'invalid_redirect_uri' });
    }
    const sub = await register({ redirect_uris: ['https://one.apps.example.test/callback'] }, token);
    expect(sub.clientMetadata().redirect_uris).toEqual(['https://one.apps.example.test/callback']);
    // The token's use is spent only by a registration that succeeded.
    const [row] = await server.testDb.db('registration_tokens').where({ token_digest: digest(token) });
    expect(row.uses).toBe(1);
  });

  it('malformed bodies are clear 400s, never a 500', async () => {
    const token = await issueToken({ uses: 10 });
    const cases: Array<[string, string]> = [
      ['{', 'invalid_request'],
      ['[]', 'invalid_client_metadata'],
      [JSON.stringify({ redirect_uris: REDIRECT }), 'invalid_client_metadata'],
      [JSON.stringify({ redirect_uris: [REDIRECT], scope: 42 }), 'invalid_client_metadata'],
      [JSON.stringify({ redirect_uris: [REDIRECT], jwks_uri: 'https://app.example.test/jwks' }), 'invalid_client_metadata'],
      [JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt' }), 'invalid_client_metadata'],
      [JSON.stringify({ redirect_uris: [REDIRECT], client_name: 'x'.repeat(500) }), 'invalid_client_metadata'],
      [JSON.stringify({ redirect_uris: [REDIRECT], client_name: 'a\u0000b' }), 'invalid_client_metadata'],
    ];
    for (const [body, error] of cases) {
      const res = await raw('/reg', { method: 'POST', token, body });
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as { error: string }).error, body).toBe(error);
    }
  });
});

describe('managing a registration (RFC 7592)', () => {
  it('reads, updates with a rotated token, and deletes, with the registration access token only', async () => {
    const token = await issueToken({ scope: 'openid profile email notes:read' });
    const config = await register({ client_name: 'Managed', scope: 'openid notes:read' }, token);
    const metadata = config.clientMetadata();
    const uri = String(metadata.registration_client_uri);
    const rat = String(metadata.registration_access_token);
    expect(uri).toBe(`${server.issuer}/reg/${metadata.client_id}`);

    expect((await raw(uri)).status).toBe(401);
    expect((await raw(uri, { token })).status).toBe(401);
    const read = await raw(uri, { token: rat });
    expect(read.status).toBe(200);
    const current = (await read.json()) as Record<string, unknown>;
    expect(current).toMatchObject({ client_id: metadata.client_id, client_name: 'Managed', scope: 'openid notes:read', redirect_uris: [REDIRECT] });
    expect(current.client_secret).toBeUndefined();

    // Beyond the token's scopes stays refused on update, as at registration.
    const { registration_access_token: _r, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, ...rest } = current;
    const tooMuch = await raw(uri, { method: 'PUT', token: rat, body: JSON.stringify({ ...rest, scope: 'openid notes:write' }) });
    expect(tooMuch.status).toBe(400);
    expect(((await tooMuch.json()) as { error: string }).error).toBe('invalid_client_metadata');

    const second = 'https://app.example.test/other';
    const updated = await raw(uri, { method: 'PUT', token: rat, body: JSON.stringify({ ...rest, client_secret: metadata.client_secret, redirect_uris: [REDIRECT, second], scope: 'openid profile notes:read' }) });
    expect(updated.status).toBe(200);
    const after = (await updated.json()) as Record<string, unknown>;
    expect(after).toMatchObject({ redirect_uris: [REDIRECT, second], scope: 'openid profile notes:read' });
    expect(after.client_secret).toBeUndefined();
    const rotated = String(after.registration_access_token);
    expect(rotated).not.toBe(rat);
    expect((await raw(uri, { token: rat })).status).toBe(401);
    expect((await server.stores.clients.find(metadata.client_id))?.redirectUris).toEqual([REDIRECT, second]);
    // The secret still authenticates at the token endpoint after the update.
    const app: App = { config, clientId: metadata.client_id, clientSecret: String(metadata.client_secret), redirectUri: second };
    expect((await obtainTokens(server, app, person, { scope: 'openid profile', redirect_uri: second })).tokens.access_token).toBeTruthy();

    const wrongSecret = await raw(uri, { method: 'PUT', token: rotated, body: JSON.stringify({ ...rest, client_secret: 'not-it' }) });
    expect(wrongSecret.status).toBe(400);

    expect((await raw(uri, { method: 'DELETE', token: rotated })).status).toBe(204);
    expect(await server.stores.clients.find(metadata.client_id)).toBeUndefined();
    expect((await raw(uri, { token: rotated })).status).toBe(401);
  });

  it('tells a caller without the app\'s registration access token nothing about it: not that it exists, its scope ceiling or its secret', async () => {
    const token = await issueToken({ scope: 'openid notes:read' });
    const config = await register({ client_name: 'Probed', scope: 'openid notes:read' }, token);
    const metadata = config.clientMetadata();
    const uri = String(metadata.registration_client_uri);
    const other = (await register({ client_name: 'Prober', scope: 'openid' }, await issueToken({ scope: 'openid' }))).clientMetadata();
    const before = await server.stores.clients.find(metadata.client_id);
    // Each body would be refused for a different reason once the app is known: no redirect URIs,
    // a scope beyond its ceiling, a wrong secret, the right secret.
    const bodies = [
      {},
      { redirect_uris: [REDIRECT], scope: 'openid notes:write' },
      { redirect_uris: [REDIRECT], client_secret: 'not-it' },
      { redirect_uris: [REDIRECT], client_secret: metadata.client_secret },
    ];
    const answers = [];
    for (const path of [uri, `${server.issuer}/reg/no-such-app`]) {
      for (const body of bodies) {
        for (const credential of [undefined, 'not-a-token', String(other.registration_access_token)]) {
          const res = await raw(path, { method: 'PUT', ...(credential ? { token: credential } : {}), body: JSON.stringify(body) });
          answers.push({ status: res.status, error: ((await res.json()) as { error: string }).error });
        }
      }
    }
    expect(new Set(answers.map((a) => `${a.status} ${a.error}`))).toEqual(new Set(['401 invalid_token']));
    expect(await server.stores.clients.find(metadata.client_id)).toEqual(before);
  });

  it('challenges in its own words, whatever Origin the caller sends', async () => {
    const res = await fetch(`${server.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example", error="injected' },
      body: JSON.stringify({ redirect_uris: [REDIRECT] }),
    });
    expect(res.status).toBe(401);
    // No token sent: the bare challenge, without an error code (RFC 6750 §3.1).
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
    const wrong = await fetch(`${server.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example", error="injected', authorization: 'Bearer not-a-token' },
      body: JSON.stringify({ redirect_uris: [REDIRECT] }),
    });
    expect(wrong.status).toBe(401);
    const challenge = wrong.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer realm="gatehouse", error="invalid_token", /);
    expect(challenge).not.toContain('evil.example');
    expect(challenge.match(/error=/g)).toHaveLength(1);
  });

  it('rotates a registration access token once, however many updates present it at once', async () => {
    const config = await register({ client_name: 'Raced', scope: 'openid' }, await issueToken({ scope: 'openid' }));
    const metadata = config.clientMetadata();
    const uri = String(metadata.registration_client_uri);
    const rat = String(metadata.registration_access_token);
    const current = (await (await raw(uri, { token: rat })).json()) as Record<string, unknown>;
    const { registration_access_token: _r, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, ...rest } = current;
    const answers = await Promise.all(Array.from({ length: 5 }, async () => {
      const res = await raw(uri, { method: 'PUT', token: rat, body: JSON.stringify(rest) });
      return { status: res.status, token: ((await res.json()) as { registration_access_token?: string }).registration_access_token };
    }));
    const rotated = answers.filter((answer) => answer.status === 200);
    expect(rotated).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 401)).toHaveLength(answers.length - 1);
    // The one new token works; the old one does not; no other copy exists.
    expect((await raw(uri, { token: rotated[0]!.token })).status).toBe(200);
    expect((await raw(uri, { token: rat })).status).toBe(401);
    const live = await server.testDb.db('oidc_records').where({ model: 'RegistrationAccessToken', client_id: metadata.client_id }).count<Array<{ count: string | number }>>('* as count');
    expect(Number(live[0]!.count)).toBe(1);
  });

  it('answers a client address that does not decode (a stray %) as one naming no app, never with a 500', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await raw(`${server.issuer}/reg/%E0`, { method, token: 'whatever', ...(method === 'PUT' ? { body: '{}' } : {}) });
      expect(res.status, method).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
    }
  });

  it('keeps what the app says about itself: the read returns it, the consent page links it, an update that leaves it out removes it', async () => {
    const about = {
      client_uri: 'https://app.example.test/',
      logo_uri: 'https://app.example.test/logo.png',
      policy_uri: 'https://app.example.test/privacy',
      tos_uri: 'https://app.example.test/terms',
      contacts: ['ops@app.example.test'],
    };
    const config = await register({ client_name: 'Described', ...about }, await issueToken());
    const metadata = config.clientMetadata();
    const uri = String(metadata.registration_client_uri);
    const read = (await (await raw(uri, { token: String(metadata.registration_access_token) })).json()) as Record<string, unknown>;
    expect(read).toMatchObject(about);
    // The registration's answer and the read agree on what was registered.
    for (const [name, value] of Object.entries(read)) {
      if (!['registration_access_token', 'client_secret_expires_at', 'client_id_issued_at'].includes(name)) expect(metadata[name], name).toEqual(value);
    }

    // The consent page links the home page, the policy and the terms (not the logo), in a new tab.
    const app: App = { config, clientId: metadata.client_id, clientSecret: String(metadata.client_secret), redirectUri: REDIRECT };
    const browser = new UserAgent(server.issuer);
    const login = await browser.follow((await authorizationRequest(app)).url.href);
    const form = formOf(login.body, /\/login$/);
    const consent = await browser.follow(new URL(form.action, login.url).href, { form: { csrf: form.csrf, email: person.email, password: person.password } });
    expect(consent.body).toContain('What Described says about itself:');
    for (const page of [about.client_uri, about.policy_uri, about.tos_uri]) {
      expect(consent.body).toContain(`<a href="${page}" target="_blank" rel="noopener noreferrer">`);
    }
    expect(consent.body).not.toContain(about.logo_uri);

    // RFC 7592 §2.2: an update replaces the whole registration; what it leaves out is gone.
    const { registration_access_token: rat, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, policy_uri: _p, ...rest } = read;
    const updated = await raw(uri, { method: 'PUT', token: String(rat), body: JSON.stringify({ ...rest, client_secret: metadata.client_secret }) });
    expect(updated.status).toBe(200);
    expect(await updated.json()).not.toHaveProperty('policy_uri');
    expect(await server.stores.clients.find(metadata.client_id)).toMatchObject({ policyUri: null, tosUri: about.tos_uri, contacts: about.contacts });
  });

  it('answers with what it keeps: require_auth_time is always true, and an empty contact list is read back empty', async () => {
    const config = await register({ client_name: 'Minimal', require_auth_time: false, contacts: [] } as Partial<client.ClientMetadata>, await issueToken());
    const metadata = config.clientMetadata();
    expect(metadata).toMatchObject({ require_auth_time: true, contacts: [] });
    const read = (await (await raw(String(metadata.registration_client_uri), { token: String(metadata.registration_access_token) })).json()) as Record<string, unknown>;
    for (const name of new Set([...Object.keys(read), ...Object.keys(metadata)])) {
      if (!['registration_access_token', 'client_secret', 'client_secret_expires_at', 'client_id_issued_at'].includes(name)) expect(read[name], name).toEqual(metadata[name]);
    }
  });

  it('refuses a page that is not an http(s) URL, or that carries a password, and a contact that is not an address', async () => {
    const token = await issueToken({ uses: 10 });
    for (const bad of [
      { policy_uri: 'javascript:alert(1)' },
      { tos_uri: 'https://user:secret@app.example.test/terms' },
      { client_uri: 'ftp://app.example.test/' },
      { contacts: ['not an address'] },
    ]) {
      expect(await refusal(register(bad as Partial<client.ClientMetadata>, token)), JSON.stringify(bad)).toEqual({ status: 400, error: 'invalid_client_metadata' });
    }
  });

  it('a registered app is marked as such and is disabled like any other', async () => {
    const config = await register({}, await issueToken());
    const { client_id: clientId, client_secret: secret } = config.clientMetadata();
    await server.operations.apps.disableClient(SYSTEM, clientId);
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
      body: 'grant_type=authorization_code&code=x&redirect_uri=' + encodeURIComponent(REDIRECT),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
  });
});

describe('OPEN_REGISTRATION', () => {
  it('registers without a token, within the OIDC scopes only', { timeout: 120_000 }, async () => {
    const open = await startTestServer({ OPEN_REGISTRATION: 'true' });
    try {
      await open.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read' });
      const config = await client.dynamicClientRegistration(new URL(open.issuer), { redirect_uris: [REDIRECT] }, undefined, { execute: [client.allowInsecureRequests] });
      expect((await open.stores.clients.find(config.clientMetadata().client_id))?.registeredAt).toBeInstanceOf(Date);
      const refused = await client.dynamicClientRegistration(new URL(open.issuer), { redirect_uris: [REDIRECT], scope: 'openid notes:read' }, undefined, { execute: [client.allowInsecureRequests] }).catch((e: unknown) => e);
      expect((refused as { error?: string }).error).toBe('invalid_client_metadata');
    } finally {
      await open.stop();
    }
  });

  it('lets one network register only REGISTRATION_RATE_LIMIT times an hour, on every instance together, refused attempts included', { timeout: 120_000 }, async () => {
    const env = { ...(await replicaEnvironment()), OPEN_REGISTRATION: 'true', REGISTRATION_RATE_LIMIT: '2', TRUST_PROXY: 'true' };
    const open = await startTestServer(env);
    try {
      const register = (from: string, metadata: Record<string, unknown> = { redirect_uris: [REDIRECT] }) => fetch(`${open.issuer}/reg`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body: JSON.stringify(metadata),
      });
      // A refused registration counts too: it is what guessing and flooding look like.
      expect((await register('203.0.113.7', { redirect_uris: ['http://evil.example.test/cb'] })).status).toBe(400);
      expect((await register('203.0.113.7')).status).toBe(201);
      const refused = await register('203.0.113.7');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.json()).toMatchObject({ error: 'too_many_requests' });
      // Another network is not held back by it.
      expect((await register('198.51.100.9')).status).toBe(201);
      // The count is in the database: a second instance on it refuses the first network too.
      const other = await startTestServer({ ...env, PORT: '0' }, { testDb: open.testDb });
      try {
        const elsewhere = await fetch(`${other.address}/reg`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' }, body: JSON.stringify({ redirect_uris: [REDIRECT] }),
        });
        expect(elsewhere.status).toBe(429);
      } finally {
        await other.stop();
      }
    } finally {
      await open.stop();
    }
  });
});
