// The authorization-code flow end to end, as a third-party app (openid-client) and an API (jose)
// see it, against a real server on a real database.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, signIn, type App } from '../support/flows.js';
import { UserAgent } from '../support/user-agent.js';
import { digest } from '../../src/crypto/digest.js';

const API = 'https://api.example.test';

let server: TestServer;
let app: App;
let person: Awaited<ReturnType<typeof createPerson>>;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, scope: 'read write', isDefault: true });
  app = await registerApp(server, { scope: 'openid profile email offline_access read' });
  person = await createPerson(server, { name: 'Ada Lovelace' });
});

afterAll(async () => {
  await server?.stop();
});

describe('an app signs a person in', () => {
  it('gets an ID token, a JWT access token the API verifies, userinfo, and a rotating refresh token', async () => {
    const { tokens, request } = await obtainTokens(server, app, person, { scope: 'openid profile email offline_access read' });

    // The ID token: RS256, for this app, with the nonce it sent.
    const idClaims = tokens.claims()!;
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256');
    expect(idClaims).toMatchObject({ iss: server.issuer, aud: app.clientId, sub: person.id, nonce: request.nonce, email: person.email });
    expect(typeof idClaims.auth_time).toBe('number');

    // The access token, verified the way an API would: remote JWKS, typ, issuer, audience.
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: server.issuer,
      audience: API,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: person.id, client_id: app.clientId });
    expect(String(payload.scope).split(' ')).toContain('read');
    expect(payload.exp! - payload.iat!).toBe(600);

    // Userinfo accepts the very JWT the app got.
    const userinfo = await client.fetchUserInfo(app.config, tokens.access_token, person.id);
    expect(userinfo).toMatchObject({ sub: person.id, email: person.email, name: 'Ada Lovelace', email_verified: true });

    // Refresh rotates the refresh token.
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await jwtVerify(refreshed.access_token, jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' });
  });

  it('revokes the whole grant when a rotated refresh token is presented again', async () => {
    const { tokens } = await obtainTokens(server, app, person);
    const rotated = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    // The app goes on with its successor, so the old token again is reuse, not a retry
    // (a retry within REFRESH_TOKEN_RETRY_WINDOW gets the successor back: test/tokens/refresh-retry.test.ts).
    const newest = await client.refreshTokenGrant(app.config, rotated.refresh_token!);

    const reuse = client.refreshTokenGrant(app.config, tokens.refresh_token!);
    await expect(reuse).rejects.toMatchObject({ error: 'invalid_grant' });

    // The newest refresh token of the grant is dead too, and so is the access token at userinfo.
    await expect(client.refreshTokenGrant(app.config, newest.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.fetchUserInfo(app.config, newest.access_token, person.id)).rejects.toMatchObject({ status: 401 });
  });

  it('remembers consent: a second sign-in for the same app skips the consent page', async () => {
    const agent = new UserAgent(server.issuer);
    const first = await authorizationRequest(app, { prompt: 'login' });
    const callback = await signIn(agent, first.url, person);
    expect(callback.searchParams.get('code')).toBeTruthy();

    // Same browser session, no prompt: straight back to the app with a code.
    const second = await authorizationRequest(app, { prompt: '' , scope: 'openid profile email' });
    const page = await agent.follow(second.url.href);
    expect(page.leftTo).toBeDefined();
    expect(new URL(page.leftTo!).searchParams.get('code')).toBeTruthy();
  });

  it('honours prompt=none without a session with login_required', async () => {
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { prompt: 'none', scope: 'openid' });
    const page = await agent.follow(request.url.href);
    const back = new URL(page.leftTo!);
    expect(back.origin + back.pathname).toBe(app.redirectUri);
    expect(back.searchParams.get('error')).toBe('login_required');
    expect(back.searchParams.get('state')).toBe(request.state);
  });

  it('asks the person to sign in again when max_age has passed', async () => {
    const agent = new UserAgent(server.issuer);
    const first = await authorizationRequest(app);
    await signIn(agent, first.url, person);
    const again = await authorizationRequest(app, { max_age: '0', prompt: '', scope: 'openid' });
    const page = await agent.follow(again.url.href);
    expect(page.leftTo).toBeUndefined();
    expect(page.body).toMatch(/name="password"/);
  });

  it('returns access_denied to the app when the person denies consent', async () => {
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app);
    const callback = await signIn(agent, request.url, person, 'deny');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(request.state);
  });

  it('requires PKCE of every client, confidential ones included', async () => {
    const agent = new UserAgent(server.issuer);
    const url = client.buildAuthorizationUrl(app.config, { redirect_uri: app.redirectUri, scope: 'openid', state: 'xyz' });
    const page = await agent.follow(url.href);
    const back = new URL(page.leftTo!);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  /** A sign-in for `scope`, and the statements its code exchange sends. */
  async function exchangeStatements(scope: string): Promise<{ tokens: client.TokenEndpointResponse; statements: string[] }> {
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope });
    const callback = await signIn(agent, request.url, person);
    const statements: string[] = [];
    const record = (query: { sql: string }) => statements.push(query.sql);
    server.db.on('query', record);
    try {
      const tokens = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
      return { tokens, statements };
    } finally {
      server.db.off('query', record);
    }
  }

  it('exchanges a code in two statements on codes, sessions and grants: the code read with its session and grant, then its consume', async () => {
    // No offline_access: the code (and its tokens) end with the sign-in session.
    const { tokens, statements } = await exchangeStatements('openid read');
    expect(tokens.access_token).toBeTruthy();
    // Apps, people and APIs come from caches on PostgreSQL; PGlite, with no change feed, reads them.
    expect(statements.filter((sql) => sql.includes('oidc_records'))).toEqual([
      expect.stringMatching(/join oidc_records s/),
      expect.stringMatching(/^update oidc_records set consumed_at/),
    ]);
  });

  it('exchanges a code for a refresh token in two statements too: the code read, then its consume with the refresh token\'s insert', async () => {
    const { tokens, statements } = await exchangeStatements('openid offline_access read');
    expect(tokens.refresh_token).toBeTruthy();
    // One commit for both: a failure between them would spend the code and issue nothing
    // (test/e2e/authorization-code-retry.test.ts).
    expect(statements.filter((sql) => sql.includes('oidc_records'))).toEqual([
      expect.stringMatching(/join oidc_records s/),
      expect.stringMatching(/^with consumed as \(\s*update oidc_records set consumed_at[\s\S]*insert into oidc_records/),
    ]);
  });

  it('refuses a code that ends with its sign-in session once that session has expired, and keeps the grant', async () => {
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope: 'openid read' });
    const callback = await signIn(agent, request.url, person);
    const code = await server.db('oidc_records').where({ model: 'AuthorizationCode', id_digest: digest(callback.searchParams.get('code')!) }).first();
    const { sessionUid } = (typeof code.payload === 'string' ? JSON.parse(code.payload) : code.payload) as { sessionUid: string };
    const expired = await server.db('oidc_records').where({ model: 'Session', uid_digest: digest(sessionUid) }).update({ expires_at: new Date(Date.now() - 60_000) });
    expect(expired).toBe(1);
    const refused = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ error: 'invalid_grant' });
    // The session ended, not the consent: the code's grant stands.
    expect(await server.db('oidc_records').where({ model: 'Grant', grant_id: code.grant_id }).first()).toBeDefined();
  });

  it('issues a code only once: of 20 parallel redemptions exactly one succeeds', async () => {
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app);
    const callback = await signIn(agent, request.url, person);
    const code = callback.searchParams.get('code')!;
    const attempts = await Promise.all(Array.from({ length: 20 }, () =>
      fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: app.redirectUri, code_verifier: request.codeVerifier }),
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as { error?: string } }))));
    expect(attempts.filter((a) => a.status === 200)).toHaveLength(1);
    expect(attempts.filter((a) => a.status === 400 && a.body.error === 'invalid_grant')).toHaveLength(19);
  });
});

describe('a native app (RFC 8252)', () => {
  it('returns to its private-use scheme with a code, and its public PKCE exchange works', async () => {
    const { client: native } = await server.stores.clients.create({
      name: 'Phone App', public: true, redirectUris: ['com.example.phone:/callback'], scope: 'openid profile email offline_access read',
    });
    const config = await client.discovery(new URL(server.issuer), native.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const nativeApp: App = { config, clientId: native.clientId, clientSecret: undefined, redirectUri: 'com.example.phone:/callback' };
    const { tokens } = await obtainTokens(server, nativeApp, person);
    expect(tokens.claims()?.sub).toBe(person.id);
    expect(tokens.refresh_token).toBeTruthy();
  });
});

describe('audiences are promises to APIs', () => {
  it('an app registered for no scope of the default API gets a userinfo-only token, not one for the API', async () => {
    const plainApp = await registerApp(server, { scope: 'openid profile email offline_access' });
    const { tokens } = await obtainTokens(server, plainApp, person);
    expect(tokens.access_token.split('.')).toHaveLength(1); // opaque: no audience at all
    expect(await client.fetchUserInfo(plainApp.config, tokens.access_token, person.id)).toMatchObject({ email: person.email });
  });

  it('a machine client asking for an API it is not registered for gets invalid_target', async () => {
    await server.stores.resources.create({ identifier: 'https://billing.example.test', scope: 'billing:write' });
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Reporter', clientCredentials: true, scope: 'read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    await expect(client.clientCredentialsGrant(config, { resource: 'https://billing.example.test' })).rejects.toMatchObject({ error: 'invalid_target' });
  });
});

describe('consent remembered across devices', () => {
  it('signing out on one device leaves the other device\'s tokens working', async () => {
    // Without offline_access: such grants end with the session that made them.
    const laptop = await obtainTokens(server, app, person, { scope: 'openid profile email read' });
    // A second device: consent is remembered (no consent page), but it gets a grant of its own.
    const phoneAgent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { prompt: 'login', scope: 'openid profile email read' });
    const callback = await signIn(phoneAgent, request.url, person);
    const phone = await client.authorizationCodeGrant(app.config, callback, {
      pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true,
    });

    // RP-initiated logout on the laptop, confirmed by the person.
    const end = client.buildEndSessionUrl(app.config, { id_token_hint: laptop.tokens.id_token! });
    const confirm = await laptop.agent.follow(end.href);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)![1]!;
    const action = /<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"|<form[^>]*action="([^"]+)"[^>]*id="op.logoutForm"/.exec(confirm.body)!;
    await laptop.agent.follow(new URL((action[1] ?? action[2])!.replace(/&amp;/g, '&'), server.issuer).href, { form: { xsrf, logout: 'yes' } });

    await expect(client.fetchUserInfo(app.config, laptop.tokens.access_token, person.id)).rejects.toMatchObject({ status: 401 });
    expect(await client.fetchUserInfo(app.config, phone.access_token, person.id)).toMatchObject({ sub: person.id });
  });
});

describe('a machine client', () => {
  it('gets a JWT access token for an API with client_credentials', async () => {
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Batch job', clientCredentials: true, scope: 'read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read', resource: API });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer, audience: API, typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ client_id: machine.clientId, scope: 'read', sub: machine.clientId });
  });

  it('is refused with a wrong secret', async () => {
    const { client: machine } = await server.stores.clients.create({ name: 'Batch job 2', clientCredentials: true, scope: 'read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, 'not-the-secret', undefined, { execute: [client.allowInsecureRequests] });
    await expect(client.clientCredentialsGrant(config, { scope: 'read' })).rejects.toMatchObject({ error: 'invalid_client' });
  });
});

describe('discovery', () => {
  it('advertises exactly the code flow with PKCE S256', async () => {
    const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    const metadata = (await res.json()) as Record<string, unknown>;
    // `none` serves only the built-in account client (no code, no token): apps are told only `code`.
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.grant_types_supported).toEqual(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange']);
    expect(metadata.token_endpoint_auth_methods_supported).not.toContain('client_secret_jwt');
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['RS256']);
    expect(metadata.scopes_supported).toEqual(['openid', 'offline_access', 'profile', 'email']);
  });
});
