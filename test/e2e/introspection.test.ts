// RFC 7662 introspection and RFC 7009 revocation, as APIs and apps use them: every token kind,
// every revocation path, who may see what, and forged tokens.
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, UnsecuredJWT, type JSONWebKeySet, type JWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { CLOCK_TOLERANCE_SECONDS, MAX_ACCESS_TOKEN_LIFETIME_SECONDS } from '../../src/lifetimes.js';
import { keyStoreFor, signingJwk } from '../../src/keys/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer, startReplicas } from '../support/gatehouse.js';
import { written } from '../support/changes.js';

const NOTES_API = 'https://notes.example.test';
const BILLING_API = 'https://billing.example.test';

interface Credentials { clientId: string; clientSecret: string }

let testDb: TestDatabase;
let server: TestServer;
let other: TestServer; // a second instance on the same database, behind the same issuer
let notes: Credentials;
let billing: Credentials;
let app: App;
let otherApp: App;

function basic({ clientId, clientSecret }: Credentials): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

function appCredentials(a: App): Credentials {
  return { clientId: a.clientId, clientSecret: a.clientSecret! };
}

async function introspect(
  caller: Credentials | undefined,
  token: string,
  options: { hint?: string; accept?: string; via?: TestServer; post?: boolean } = {},
): Promise<{ status: number; body: Record<string, unknown>; text: string; headers: Headers }> {
  const form: Record<string, string> = { token };
  if (options.hint) form.token_type_hint = options.hint;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (caller && options.post) Object.assign(form, { client_id: caller.clientId, client_secret: caller.clientSecret });
  else if (caller) headers.authorization = basic(caller);
  if (options.accept) headers.accept = options.accept;
  const res = await fetch(`${(options.via ?? server).address.replace('localhost', '127.0.0.1')}/token/introspection`, {
    method: 'POST', headers, body: new URLSearchParams(form),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try { body = JSON.parse(text) as Record<string, unknown>; } catch { /* a JWT response */ }
  return { status: res.status, body, text, headers: res.headers };
}

async function revoke(caller: Credentials, token: string, hint?: string): Promise<number> {
  const res = await fetch(`${server.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(caller) },
    body: new URLSearchParams({ token, ...(hint ? { token_type_hint: hint } : {}) }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function active(caller: Credentials, token: string, via?: TestServer): Promise<boolean> {
  const { status, body } = await introspect(caller, token, { ...(via ? { via } : {}) });
  expect(status).toBe(200);
  return body.active === true;
}

async function signInFresh(a: App = app) {
  const person = await createPerson(server);
  const { tokens } = await obtainTokens(server, a, person, { scope: 'openid profile email offline_access notes:read' });
  return { person, tokens };
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  [server, other] = await startReplicas(testDb);
  const n = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notes:read', isDefault: true, jwtIntrospection: true });
  notes = { clientId: n.clientId, clientSecret: n.clientSecret! };
  const b = await server.stores.resources.create({ identifier: BILLING_API, scope: 'billing:read' });
  billing = { clientId: b.clientId, clientSecret: b.clientSecret! };
  app = await registerApp(server, { scope: 'openid profile email offline_access notes:read' });
  otherApp = await registerApp(server, { scope: 'openid profile email offline_access notes:read' });
});

afterAll(async () => {
  await server?.stop();
  await other?.stop();
  await testDb?.destroy();
});

describe('an API introspects the JWT access token an app received', () => {
  it('reads active with the RFC 7662 members, never cached', async () => {
    const { person, tokens } = await signInFresh();
    const res = await introspect(notes, tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
    expect(res.body).toMatchObject({
      active: true,
      client_id: app.clientId,
      sub: person.id,
      iss: server.issuer,
      token_type: 'Bearer',
      username: person.email,
    });
    expect(res.body.aud).toContain(NOTES_API);
    expect(String(res.body.scope).split(' ')).toContain('notes:read');
    for (const member of ['exp', 'iat', 'jti']) expect(typeof res.body[member]).not.toBe('undefined');
  });

  it('accepts client_secret_post as well as client_secret_basic', async () => {
    const { tokens } = await signInFresh();
    expect((await introspect(notes, tokens.access_token, { post: true })).body.active).toBe(true);
  });

  it('answers 401 invalid_client without credentials or with wrong ones', async () => {
    const { tokens } = await signInFresh();
    const none = await introspect(undefined, tokens.access_token);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_client');
    const wrong = await introspect({ clientId: notes.clientId, clientSecret: 'wrong' }, tokens.access_token);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
  });

  it('gives a signed JWT response (RFC 9701) to an API registered for it', async () => {
    const { tokens } = await signInFresh();
    const res = await introspect(notes, tokens.access_token, { accept: 'application/token-introspection+jwt' });
    expect(res.headers.get('content-type')).toMatch(/application\/token-introspection\+jwt/);
    const jwks = (await (await fetch(`${server.issuer}/jwks`)).json()) as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(res.text, createLocalJWKSet(jwks), { issuer: server.issuer, audience: notes.clientId });
    expect(protectedHeader.typ).toBe('token-introspection+jwt');
    expect(payload.token_introspection).toMatchObject({ active: true, client_id: app.clientId });
  });
});

describe('an API that authenticates with private_key_jwt', () => {
  it('introspects with a signed client assertion, and a replayed assertion is refused', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'api-key-1', alg: 'ES256', use: 'sig' };
    const api = await server.stores.resources.create({ identifier: 'https://keys.example.test', scope: 'keys:read', jwks: { keys: [jwk] } });
    expect(api.clientSecret).toBeUndefined();
    const keysApp = await registerApp(server, { scope: 'openid profile email offline_access keys:read' });
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, keysApp, person, { scope: 'openid keys:read', resource: 'https://keys.example.test' });

    const assertion = await new SignJWT({ jti: randomBytes(16).toString('hex') })
      .setProtectedHeader({ alg: 'ES256', kid: 'api-key-1' })
      .setIssuer(api.clientId).setSubject(api.clientId).setAudience(server.issuer)
      .setIssuedAt().setExpirationTime('1m')
      .sign(privateKey);
    const call = () => fetch(`${server.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: tokens.access_token,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    const first = await call();
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ active: true, client_id: keysApp.clientId });
    const replay = await call();
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_client');
  });
});

describe('who may introspect what', () => {
  it('another API never sees the token as active', async () => {
    const { tokens } = await signInFresh();
    expect(await active(billing, tokens.access_token)).toBe(false);
    expect(await active(billing, tokens.refresh_token!)).toBe(false);
  });

  it('an app sees its own tokens, and not another app\'s', async () => {
    const { tokens } = await signInFresh();
    expect(await active(appCredentials(app), tokens.access_token)).toBe(true);
    expect(await active(appCredentials(app), tokens.refresh_token!)).toBe(true);
    expect(await active(appCredentials(otherApp), tokens.access_token)).toBe(false);
    expect(await active(appCredentials(otherApp), tokens.refresh_token!)).toBe(false);
  });

  it('an API does not see refresh tokens, which are not issued for it', async () => {
    const { tokens } = await signInFresh();
    expect(await active(notes, tokens.refresh_token!)).toBe(false);
  });
});

describe('every revocation reads inactive at once, on every instance', () => {
  it('the app revokes its JWT access token: the grant goes with it, the grant\'s other tokens too', async () => {
    const { person, tokens } = await signInFresh();
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(await revoke(appCredentials(app), tokens.access_token, 'access_token')).toBe(200);
    expect(await active(notes, tokens.access_token)).toBe(false);
    expect(await active(notes, refreshed.access_token)).toBe(false);
    expect(await active(appCredentials(app), refreshed.refresh_token!)).toBe(false);
    expect(await active(notes, tokens.access_token, other)).toBe(false);
    await expect(client.fetchUserInfo(app.config, tokens.access_token, person.id)).rejects.toMatchObject({ status: 401 });
  });

  it('the app revokes its refresh token: the whole grant goes, access tokens included', async () => {
    const { tokens } = await signInFresh();
    expect(await revoke(appCredentials(app), tokens.refresh_token!, 'refresh_token')).toBe(200);
    expect(await active(notes, tokens.access_token)).toBe(false);
    expect(await active(notes, tokens.access_token, other)).toBe(false);
    expect(await active(appCredentials(app), tokens.refresh_token!, other)).toBe(false);
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a reused refresh token revokes the grant', async () => {
    const { tokens } = await signInFresh();
    const rotated = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(await active(notes, rotated.access_token)).toBe(true);
    // Its successor used, the old token is reuse rather than a retry within the window.
    const newest = await client.refreshTokenGrant(app.config, rotated.refresh_token!);
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await active(notes, rotated.access_token)).toBe(false);
    expect(await active(notes, rotated.access_token, other)).toBe(false);
    expect(await active(appCredentials(app), newest.refresh_token!, other)).toBe(false);
  });

  it('a disabled person\'s tokens all read inactive', async () => {
    const { person, tokens } = await signInFresh();
    await written([server, other], () => testDb.db('users').where({ id: person.id }).update({ disabled_at: new Date() }));
    expect(await active(notes, tokens.access_token)).toBe(false);
    expect(await active(notes, tokens.access_token, other)).toBe(false);
    expect(await active(appCredentials(app), tokens.refresh_token!)).toBe(false);
  });

  it('a disabled app\'s tokens all read inactive', async () => {
    const disposable = await registerApp(server, { scope: 'openid profile email offline_access notes:read' });
    const { tokens } = await signInFresh(disposable);
    await written([server, other], () => testDb.db('clients').where({ client_id: disposable.clientId }).update({ disabled_at: new Date() }));
    expect(await active(notes, tokens.access_token)).toBe(false);
    expect(await active(notes, tokens.access_token, other)).toBe(false);
  });

  it('an app cannot revoke another app\'s token, and is not told whether it exists', async () => {
    const { tokens } = await signInFresh();
    expect(await revoke(appCredentials(otherApp), tokens.access_token)).toBe(200);
    expect(await revoke(appCredentials(otherApp), tokens.refresh_token!)).toBe(200);
    expect(await active(notes, tokens.access_token)).toBe(true);
    expect(await active(appCredentials(app), tokens.refresh_token!)).toBe(true);
  });

  it('a machine client\'s JWT is active for its API until the client revokes it', async () => {
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Job', clientCredentials: true, scope: 'notes:read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'notes:read' });
    const res = await introspect(notes, token);
    expect(res.body).toMatchObject({ active: true, client_id: machine.clientId, scope: 'notes:read' });
    // No person stands behind a client_credentials token, so there is no `sub` to report.
    expect(res.body.sub).toBeUndefined();
    expect(await revoke({ clientId: machine.clientId, clientSecret: clientSecret! }, token)).toBe(200);
    expect(await active(notes, token)).toBe(false);
  });

  it('a revoked JWT of the longest lifetime an API may set is remembered until it has expired anyway', async () => {
    const longLived = await server.stores.resources.create({ identifier: 'https://archive.example.test', scope: 'archive:read', accessTokenTtl: MAX_ACCESS_TOKEN_LIFETIME_SECONDS });
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Archiver', clientCredentials: true, scope: 'archive:read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'archive:read', resource: 'https://archive.example.test' });
    const { exp, jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; jti: string };
    expect(exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(MAX_ACCESS_TOKEN_LIFETIME_SECONDS - 60);

    expect(await revoke({ clientId: machine.clientId, clientSecret: clientSecret! }, token)).toBe(200);
    expect(await active({ clientId: longLived.clientId, clientSecret: longLived.clientSecret! }, token)).toBe(false);
    // The janitor forgets the revocation at expires_at: never before a verifier, allowing for clock skew, would still accept the token.
    const remembered = await testDb.db('revoked_access_tokens').first<{ expires_at: Date }>('expires_at').where({ jti_digest: digest(jti) });
    expect(remembered!.expires_at.getTime()).toBeGreaterThanOrEqual((exp + CLOCK_TOLERANCE_SECONDS) * 1000);
  });

  it('a JWT that verified at introspection is still refused at userinfo, which needs its own audience', async () => {
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Job', clientCredentials: true, scope: 'notes:read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'notes:read' });
    expect(await active(notes, token)).toBe(true);

    const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(userinfo.status).toBe(401);
  });
});

describe('opaque access tokens (no API registered as the default)', () => {
  let plain: TestServer;
  let plainApp: App;

  beforeAll(async () => {
    plain = await startTestServer();
    plainApp = await registerApp(plain, { scope: 'openid profile email offline_access' });
  });
  afterAll(async () => plain?.stop());

  it('introspect active for their app, then inactive once revoked', async () => {
    const person = await createPerson(plain);
    const { tokens } = await obtainTokens(plain, plainApp, person);
    expect(tokens.access_token.split('.')).toHaveLength(1); // opaque, for userinfo only
    const creds = appCredentials(plainApp);
    const call = (token: string) => fetch(`${plain.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(creds) },
      body: new URLSearchParams({ token }),
    }).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(await call(tokens.access_token)).toMatchObject({ active: true, client_id: plainApp.clientId, sub: person.id, token_type: 'Bearer' });
    const res = await fetch(`${plain.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(creds) },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(res.status).toBe(200);
    expect(await call(tokens.access_token)).toEqual({ active: false });
  });
});

describe('forged and malformed tokens read inactive, never an error', () => {
  let realKey: JWK;
  let claims: Record<string, unknown>;

  beforeAll(async () => {
    const keySet = await keyStoreFor(server.config, testDb.db).loadKeySet();
    realKey = signingJwk(keySet, 'ES256')!;
    const { tokens } = await signInFresh();
    const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    claims = payload;
  });

  async function signedWithRealKey(overrides: Record<string, unknown>, header: Record<string, unknown> = {}) {
    const { importJWK } = await import('jose');
    const key = await importJWK(realKey, 'ES256');
    return new SignJWT({ ...claims, jti: randomBytes(8).toString('hex'), ...overrides })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: realKey.kid, ...header })
      .sign(key);
  }

  it('a token signed with our real key verifies (the baseline the forgeries depart from)', async () => {
    expect(await active(notes, await signedWithRealKey({}))).toBe(true);
  });

  it.each([
    ['a foreign issuer', { iss: 'https://evil.example.test' }],
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }],
    ['another audience', { aud: 'https://somewhere-else.example.test' }],
    ['a grant that does not exist', { grant_id: 'no-such-grant' }],
  ])('%s', async (_name, overrides) => {
    expect(await active(notes, await signedWithRealKey(overrides))).toBe(false);
  });

  it('a token without typ at+jwt (an ID token, say)', async () => {
    expect(await active(notes, await signedWithRealKey({}, { typ: 'JWT' }))).toBe(false);
  });

  it('alg none', async () => {
    const unsigned = new UnsecuredJWT({ ...claims }).encode();
    expect(await active(notes, unsigned)).toBe(false);
  });

  it('HS256 signed with our public key as the secret (key confusion)', async () => {
    const publicJwk = { kty: realKey.kty, crv: realKey.crv, x: realKey.x, y: realKey.y };
    for (const secret of [JSON.stringify(publicJwk), String(realKey.x)]) {
      const forged = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: realKey.kid })
        .sign(new TextEncoder().encode(secret));
      expect(await active(notes, forged)).toBe(false);
    }
  });

  it.each(['jwk', 'jku', 'x5u', 'kid'])('an attacker key named through %s', async (member) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = await exportJWK(publicKey);
    const header: Record<string, unknown> = { alg: 'ES256', typ: 'at+jwt' };
    if (member === 'jwk') header.jwk = attackerJwk;
    if (member === 'jku') header.jku = 'https://evil.example.test/jwks';
    if (member === 'x5u') header.x5u = 'https://evil.example.test/cert.pem';
    header.kid = member === 'kid' ? 'attacker-key' : realKey.kid;
    const forged = await new SignJWT({ ...claims }).setProtectedHeader(header as { alg: string }).sign(privateKey);
    expect(await active(notes, forged)).toBe(false);
  });

  it.each([
    ['garbage', 'not-a-token'],
    ['a truncated JWT', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0'],
    ['three dots of nothing', '..'],
    ['a JWT with a bad signature', 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIxIn0.AAAA'],
    ['unicode', 'ðŸ”‘.ðŸ”‘.ðŸ”‘'],
    ['an empty-ish token', ' '],
  ])('%s', async (_name, token) => {
    const res = await introspect(notes, token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ active: false });
  });

  it('a 100 KB token gets a clear 4xx, not a 500', async () => {
    const res = await introspect(notes, 'a'.repeat(100 * 1024));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error).toBe('invalid_request');
  });

  it('a missing token is invalid_request', async () => {
    const res = await fetch(`${server.issuer}/token/introspection`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(notes) }, body: '',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });
});
