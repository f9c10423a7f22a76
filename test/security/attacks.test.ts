// The attack suite: each case is an attack, sent black-box over HTTP to a running Gatehouse on a
// real database, asserting the safe outcome.
//
// Attacks already covered by other test files, not repeated here (this list is the whole picture):
//   - 20 parallel redemptions of one code → exactly one success ........ test/e2e/authorization-code.test.ts
//   - PKCE missing at /auth ........................................... test/e2e/authorization-code.test.ts, test/e2e/bad-input.test.ts
//   - code_challenge_method=plain at /auth .............................. test/e2e/bad-input.test.ts
//   - refresh-token reuse after rotation → invalid_grant, newest refresh
//     token and access tokens of the grant dead too ..................... test/e2e/authorization-code.test.ts, test/e2e/introspection.test.ts
//   - forged JWTs at introspection: alg none, HS256 keyed with our public
//     key, attacker keys named through jwk/jku/x5u/kid, wrong typ/iss/aud test/e2e/introspection.test.ts
//   - alg none and HS256-by-guess JWTs at userinfo ...................... test/e2e/bad-input.test.ts
//   - garbage, bad-signature, other-API, ID-token and expired tokens at
//     the example API ................................................... test/examples/resource-server.test.ts
//   - session fixation (planted cookie, attacker's own valid session,
//     new id at every sign-in) ......................................... test/interaction/pages.test.ts
//   - CSRF on the login and consent forms (no token, another browser's
//     token), a guessed logout xsrf ..................................... test/interaction/pages.test.ts
//   - abort/confirm without a token, 300-character and duplicate tokens test/e2e/bad-input.test.ts
//   - an unregistered redirect_uri / post_logout_redirect_uri on another
//     host .............................................................. test/interaction/pages.test.ts, test/e2e/bad-input.test.ts
//   - every near miss of a registered redirect URI and the logout rules  test/security/redirect-uris.test.ts
//   - 100 KB parameters, broken percent-encoding, duplicate parameters,
//     JSON/text/multipart bodies where a form is expected, NULs, broken
//     Basic headers, at every endpoint except introspection ............. test/e2e/bad-input.test.ts
//   - security headers on the sign-in page; no-store on error pages ..... test/interaction/pages.test.ts
//   - Secure/__Host- cookies behind TLS ................................. test/interaction/pages.test.ts
//   - no secret in the database or the logs ............................. test/e2e/at-rest.test.ts, test/e2e/logs.test.ts
//   - generated requests at every endpoint (no 5xx, nothing lost) ...... test/security/fuzz.test.ts
// Not here: the admin API does not exist yet (a later issue); its SQL-injection cases belong with it.
// Throttling and rate limits are tested in test/security/throttling*.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { exportJWK, generateKeyPair, importJWK, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer } from '../../examples/resource-server/api.js';
import { isGatehouseError } from '../../src/errors.js';
import { keyStoreFor, signingJwk } from '../../src/oidc/keys.js';
import { createPerson, obtainTokens, registerApp, signIn, type App } from '../support/flows.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent, type Response as AgentResponse } from '../support/user-agent.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read notes:write';
const REDIRECT = 'https://app.example.test/callback';
const SECOND_REDIRECT = 'https://app.example.test/second-callback';
const POST_LOGOUT = 'https://app.example.test/signed-out';
const FORM = 'application/x-www-form-urlencoded';
const KB = 1024;

interface Credentials { clientId: string; clientSecret?: string | undefined }

let server: TestServer;
let notes: Credentials; // the API's introspection credentials
let app: App; // confidential, REDIRECT, POST_LOGOUT
let twoUris: Credentials; // confidential, REDIRECT and SECOND_REDIRECT
let otherApp: App; // another confidential app
let publicApp: App; // a public app (no secret)
let person: Awaited<ReturnType<typeof createPerson>>;
let api: { url: string; close(): Promise<void> };

const creds = (a: App): Credentials => ({ clientId: a.clientId, clientSecret: a.clientSecret });

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

interface JsonResponse { status: number; headers: Headers; body: Record<string, unknown>; text: string }

async function asJson(res: Response): Promise<JsonResponse> {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try { body = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body, text };
}

/** A request to a client-authenticated endpoint: Basic for confidential clients, client_id for public ones. */
async function post(path: string, caller: Credentials | undefined, params: Record<string, string>, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const form = new URLSearchParams(params);
  const all: Record<string, string> = { 'content-type': FORM, ...headers };
  if (caller?.clientSecret) all.authorization = basic(caller.clientId, caller.clientSecret);
  else if (caller) form.set('client_id', caller.clientId);
  return asJson(await fetch(`${server.issuer}${path}`, { method: 'POST', headers: all, body: form }));
}

async function introspect(caller: Credentials, token: string): Promise<Record<string, unknown>> {
  const res = await post('/token/introspection', caller, { token });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function userinfoStatus(accessToken: string): Promise<number> {
  const res = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  await res.arrayBuffer();
  return res.status;
}

interface Issued { code: string; verifier: string; redirectUri: string; agent: UserAgent }

/** A person signs in and consents; the code comes back to `redirectUri`. */
async function issueCode(caller: Credentials, redirectUri: string, extra: Record<string, string> = {}): Promise<Issued> {
  const verifier = client.randomPKCECodeVerifier();
  const url = new URL(`${server.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: caller.clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: SCOPE,
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    ...extra,
  }).toString();
  const agent = new UserAgent(server.issuer);
  const callback = await signIn(agent, url, person);
  const code = callback.searchParams.get('code');
  expect(code, callback.href).toBeTruthy();
  return { code: code!, verifier, redirectUri, agent };
}

function redeem(caller: Credentials, issued: Issued, overrides: Record<string, string | undefined> = {}): Promise<JsonResponse> {
  const params: Record<string, string> = { grant_type: 'authorization_code', code: issued.code, redirect_uri: issued.redirectUri, code_verifier: issued.verifier };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete params[key];
    else params[key] = value;
  }
  return post('/token', caller, params);
}

function expectInvalidGrant(res: JsonResponse) {
  expect(res.status, res.text).toBe(400);
  expect(res.body.error, res.text).toBe('invalid_grant');
  expect(res.body.access_token).toBeUndefined();
}

/** Whether this browser has a signed-in session (prompt=none answers without a page). */
async function isSignedIn(agent: UserAgent): Promise<boolean> {
  const url = client.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirectUri, scope: 'openid', prompt: 'none', state: 's',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  });
  const page = await agent.follow(url.href);
  const back = new URL(page.leftTo!);
  if (back.searchParams.get('error') === 'login_required') return false;
  if (back.searchParams.get('code') || back.searchParams.get('error') === 'consent_required') return true;
  throw new Error(`unexpected answer to prompt=none: ${back.href}`);
}

/** A 4xx HTML page with a heading, and nothing for developers only. */
function expectErrorPage(res: { status: number; headers: Headers; body: string }, status: number | number[]) {
  expect(Array.isArray(status) ? status : [status], `${res.status}: ${res.body.slice(0, 300)}`).toContain(res.status);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.body).toMatch(/<h1[^>]*>[^<]+<\/h1>/);
  expect(res.body).not.toMatch(/\n\s+at \S|node_modules|\b(TypeError|RangeError|SyntaxError|error):/i);
}

async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['users', 'clients', 'resource_servers']) {
    const [row] = await server.testDb.db(table).count<Array<{ count: string | number }>>({ count: '*' });
    counts[table] = Number(row!.count);
  }
  return counts;
}

beforeAll(async () => {
  server = await startTestServer();
  const n = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notes:read notes:write', isDefault: true });
  notes = { clientId: n.clientId, clientSecret: n.clientSecret! };
  app = await registerApp(server, { scope: SCOPE, redirectUri: REDIRECT, postLogoutRedirectUri: POST_LOGOUT });
  otherApp = await registerApp(server, { scope: SCOPE, redirectUri: REDIRECT });
  publicApp = await registerApp(server, { scope: SCOPE, redirectUri: REDIRECT, public: true });
  const two = await server.stores.clients.create({ name: 'Two Callbacks', redirectUris: [REDIRECT, SECOND_REDIRECT], scope: SCOPE });
  twoUris = { clientId: two.client.clientId, clientSecret: two.clientSecret };
  person = await createPerson(server, { name: 'Alice Attacked' });

  const port = await freePort();
  const koa = createResourceServer({ issuer: server.issuer, audience: NOTES_API, introspection: { clientId: notes.clientId, clientSecret: notes.clientSecret! } });
  const http: Server = koa.listen(port, '127.0.0.1');
  await once(http, 'listening');
  api = {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()); }),
  };
});

afterAll(async () => {
  await api?.close();
  await server?.stop();
});

describe('authorization codes', () => {
  it('a replayed code is invalid_grant, and the tokens of the first exchange are revoked', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    const first = await redeem(creds(app), issued);
    expect(first.status, first.text).toBe(200);
    const accessToken = String(first.body.access_token);
    const refreshToken = String(first.body.refresh_token);
    expect(accessToken.split('.')).toHaveLength(3); // a JWT for the notes API
    expect(await introspect(notes, accessToken)).toMatchObject({ active: true });

    expectInvalidGrant(await redeem(creds(app), issued));

    // RFC 6749 §4.1.2 / RFC 9700 §4.5: everything issued from the replayed code is revoked.
    expect(await introspect(notes, accessToken)).toEqual({ active: false });
    expect(await introspect(creds(app), refreshToken)).toEqual({ active: false });
    expect(await userinfoStatus(accessToken)).toBe(401);
    expectInvalidGrant(await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: refreshToken }));
  });

  it('a code presented by another confidential client is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(otherApp), issued));
  });

  it('a code presented by a public client (no secret) is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(publicApp), issued));
  });

  it('a public client\'s code presented by a confidential client is invalid_grant', async () => {
    const issued = await issueCode(creds(publicApp), REDIRECT);
    expectInvalidGrant(await redeem(creds(app), issued));
  });

  it('a code presented with the owner\'s client_id but no secret is refused as invalid_client', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    const res = await redeem({ clientId: app.clientId }, issued);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it.each([
    ['the app\'s other registered redirect URI', SECOND_REDIRECT],
    ['a trailing slash', `${REDIRECT}/`],
    ['an added query', `${REDIRECT}?x=1`],
    ['an upper-case host', REDIRECT.replace('app.example.test', 'APP.EXAMPLE.TEST')],
    ['another host', 'https://evil.example.test/callback'],
  ])('a code redeemed with another redirect_uri (%s) is invalid_grant', async (_name, redirectUri) => {
    const issued = await issueCode(twoUris, REDIRECT);
    expectInvalidGrant(await redeem(twoUris, issued, { redirect_uri: redirectUri }));
  });

  it('a code redeemed without redirect_uri by an app with several is refused', async () => {
    const issued = await issueCode(twoUris, REDIRECT);
    const res = await redeem(twoUris, issued, { redirect_uri: undefined });
    expect(res.status).toBe(400);
    expect(['invalid_request', 'invalid_grant']).toContain(res.body.error);
    expect(res.body.access_token).toBeUndefined();
  });
});

describe('PKCE', () => {
  it('a code redeemed without its code_verifier is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(app), issued, { code_verifier: undefined }));
  });

  it('a code redeemed with another (well-formed) code_verifier is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(app), issued, { code_verifier: client.randomPKCECodeVerifier() }));
  });

  it('a public client\'s code redeemed with a wrong verifier is invalid_grant', async () => {
    const issued = await issueCode(creds(publicApp), REDIRECT);
    expectInvalidGrant(await redeem(creds(publicApp), issued, { code_verifier: client.randomPKCECodeVerifier() }));
  });

  it('the challenge itself sent as the verifier (plain semantics) is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    const challenge = await client.calculatePKCECodeChallenge(issued.verifier);
    expectInvalidGrant(await redeem(creds(app), issued, { code_verifier: challenge }));
  });

  it.each([
    ['too short (42 characters)', 'a'.repeat(42)],
    ['too long (129 characters)', 'a'.repeat(129)],
    ['characters outside the verifier alphabet', `${'a'.repeat(43)}+/=`],
    ['a NUL', `${'a'.repeat(43)}\u0000`],
  ])('a malformed code_verifier (%s) is refused', async (_name, verifier) => {
    const issued = await issueCode(creds(app), REDIRECT);
    const res = await redeem(creds(app), issued, { code_verifier: verifier });
    expect(res.status, res.text).toBe(400);
    expect(['invalid_grant', 'invalid_request']).toContain(res.body.error);
    expect(res.body.access_token).toBeUndefined();
  });

  function authorizeWithout(params: Record<string, string | undefined>): string {
    const all: Record<string, string> = {
      client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 'pkce-state',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    };
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined) delete all[key];
      else all[key] = value;
    }
    return `${server.issuer}/auth?${new URLSearchParams(all)}`;
  }

  /** The app gets an error back at its registered address, and no code. */
  async function expectRefusedToApp(url: string) {
    const res = await new UserAgent(server.issuer).request(url);
    expect(res.status).toBe(303);
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('code')).toBeNull();
  }

  it('a code_verifier sent to /auth instead of a challenge (downgrade attempt) is refused', async () => {
    await expectRefusedToApp(authorizeWithout({ code_challenge: undefined, code_challenge_method: undefined, code_verifier: client.randomPKCECodeVerifier() }));
  });

  it('a challenge without code_challenge_method (plain by default in RFC 7636) is refused', async () => {
    await expectRefusedToApp(authorizeWithout({ code_challenge_method: undefined, code_challenge: client.randomPKCECodeVerifier() }));
  });

  it.each([
    ['without a challenge', { code_challenge: undefined, code_challenge_method: undefined }],
    ['with a code_verifier instead of a challenge', { code_challenge: undefined, code_challenge_method: undefined, code_verifier: 'v'.repeat(43) }],
    ['with code_challenge_method=plain', { code_challenge_method: 'plain', code_challenge: 'v'.repeat(43) }],
    ['with a challenge but no method', { code_challenge_method: undefined }],
  ])('a pushed authorization request %s is refused', async (_name, overrides: Record<string, string | undefined>) => {
    const params: Record<string, string> = {
      client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    };
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete params[key];
      else params[key] = value;
    }
    const res = await post('/request', creds(app), params);
    expect(res.status, res.text).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.request_uri).toBeUndefined();
  });
});

describe('refresh tokens', () => {
  let refreshToken: string;

  beforeAll(async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    refreshToken = tokens.refresh_token!;
    expect(refreshToken).toBeTruthy();
  });

  it('another confidential client presenting the app\'s refresh token gets invalid_grant', async () => {
    expectInvalidGrant(await post('/token', creds(otherApp), { grant_type: 'refresh_token', refresh_token: refreshToken }));
  });

  it('a public client presenting the app\'s refresh token gets invalid_grant', async () => {
    expectInvalidGrant(await post('/token', creds(publicApp), { grant_type: 'refresh_token', refresh_token: refreshToken }));
  });

  it('the app\'s client_id without its secret gets invalid_client', async () => {
    const res = await post('/token', { clientId: app.clientId }, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('a public client\'s refresh token presented by a confidential client gets invalid_grant', async () => {
    const { tokens } = await obtainTokens(server, publicApp, person, { scope: SCOPE });
    expect(tokens.refresh_token).toBeTruthy();
    expectInvalidGrant(await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }));
  });
});

describe('forged JWT access tokens', () => {
  let realKey: JWK;
  let claims: Record<string, unknown>;

  beforeAll(async () => {
    const keySet = await keyStoreFor(server.config, server.testDb.db).loadKeySet();
    realKey = signingJwk(keySet, 'ES256')!;
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.aud).toContain(NOTES_API);
  });

  async function signedWithRealKey(): Promise<string> {
    return new SignJWT({ ...claims, jti: randomBytes(8).toString('hex') })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: realKey.kid! })
      .sign(await importJWK(realKey, 'ES256'));
  }

  /** Every forgery: same claims as a real token, signed by anyone but Gatehouse. */
  async function forgeries(): Promise<Array<[string, string]>> {
    const payload = { ...claims, jti: randomBytes(8).toString('hex') };
    const publicJwk = { kty: realKey.kty, crv: realKey.crv, x: realKey.x, y: realKey.y };
    const hs256 = (secret: string) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: realKey.kid! }).sign(new TextEncoder().encode(secret));
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const withHeader = (header: Record<string, unknown>) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header } as { alg: string }).sign(attacker.privateKey);
    return [
      ['alg none', new UnsecuredJWT(payload).setIssuer(String(claims.iss)).encode()],
      ['alg none with typ at+jwt and our kid', `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: realKey.kid })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`],
      ['HS256 keyed with our public JWK', await hs256(JSON.stringify(publicJwk))],
      ['HS256 keyed with our public key\'s x coordinate', await hs256(String(realKey.x))],
      ['an attacker key embedded through jwk', await withHeader({ jwk: attackerJwk, kid: realKey.kid })],
      ['an attacker key named through jku', await withHeader({ jku: 'https://evil.example.test/jwks.json', kid: realKey.kid })],
      ['an attacker key named through x5u', await withHeader({ x5u: 'https://evil.example.test/cert.pem', kid: realKey.kid })],
      ['an attacker key under our kid', await withHeader({ kid: realKey.kid })],
      ['an attacker kid', await withHeader({ kid: 'attacker-key' })],
      ['a path-traversal kid', await withHeader({ kid: '../../../../../../dev/null' })],
      ['a SQL-injection kid', await withHeader({ kid: "' UNION SELECT 'AAAA' AS kid --" })],
      ['a kid with a NUL', await withHeader({ kid: `${realKey.kid}\u0000` })],
    ];
  }

  it('a token signed with our real key passes everywhere (the baseline the forgeries depart from)', async () => {
    const token = await signedWithRealKey();
    const res = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await userinfoStatus(token)).toBe(200);
    expect((await introspect(notes, token)).active).toBe(true);
  });

  it('the example API answers 401 invalid_token to every forgery', async () => {
    for (const [name, token] of await forgeries()) {
      const res = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      expect(res.status, `${name}: ${body}`).toBe(401);
      expect(res.headers.get('www-authenticate'), name).toMatch(/error="invalid_token"/);
    }
  });

  it('a sensitive call (introspected) at the example API is refused too', async () => {
    for (const [name, token] of await forgeries()) {
      const res = await fetch(`${api.url}/notes/1`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      expect(res.status, name).toBe(401);
    }
  });

  it('userinfo answers 401 to every forgery', async () => {
    for (const [name, token] of await forgeries()) {
      expect(await userinfoStatus(token), name).toBe(401);
    }
  });

  it('introspection reads every forgery inactive, with nothing more', async () => {
    for (const [name, token] of await forgeries()) {
      expect(await introspect(notes, token), name).toEqual({ active: false });
    }
  });
});

describe('CSRF on the logout confirmation', () => {
  async function openLogout(agent: UserAgent, idToken: string) {
    const page = await agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT })}`);
    expect(page.status).toBe(200);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page.body)!;
    return { action: new URL(form[1]!, server.issuer).href, xsrf: /name="xsrf" value="([^"]+)"/.exec(form[2]!)![1]! };
  }

  it('a confirmation without the xsrf value is refused and the person stays signed in', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    const { action } = await openLogout(agent, tokens.id_token!);
    const res = await agent.request(action, { form: { logout: 'yes' } });
    expectErrorPage(res, 400);
    expect(res.headers.get('location')).toBeNull();
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('a confirmation carrying another browser\'s xsrf value is refused and the person stays signed in', async () => {
    const attacker = await obtainTokens(server, app, await createPerson(server));
    const attackerForm = await openLogout(attacker.agent, attacker.tokens.id_token!);
    const victim = await obtainTokens(server, app, person);
    const { action } = await openLogout(victim.agent, victim.tokens.id_token!);
    const res = await victim.agent.request(action, { form: { xsrf: attackerForm.xsrf, logout: 'yes' } });
    expectErrorPage(res, 400);
    expect(res.headers.get('location')).toBeNull();
    expect(await isSignedIn(victim.agent)).toBe(true);
    // The attacker's own confirmation still works for the attacker: the value is per session.
    const done = await attacker.agent.request(attackerForm.action, { form: { xsrf: attackerForm.xsrf, logout: 'yes' } });
    expect(done.status).toBe(303);
  });

  it('a cross-site confirmation (no cookies: SameSite=Lax keeps them home) signs nobody out', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    const { action, xsrf } = await openLogout(agent, tokens.id_token!);
    const res = await fetch(action, { method: 'POST', headers: { 'content-type': FORM, accept: 'text/html', origin: 'https://evil.example.test' }, body: new URLSearchParams({ xsrf, logout: 'yes' }), redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await isSignedIn(agent)).toBe(true);
  });
});

describe('CSRF on cancelling a sign-in', () => {
  it('an abort carrying another browser\'s token is refused, and the sign-in can still finish', async () => {
    const other = new UserAgent(server.issuer);
    const otherPage = await other.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'x',
    })).href);
    const otherToken = formOf(otherPage.body, /\/login$/).csrf;

    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'y',
    })).href);
    const abortAction = new URL(/action="([^"]*\/abort)"/.exec(page.body)![1]!, page.url).href;
    const res = await agent.request(abortAction, { form: { csrf: otherToken } });
    expectErrorPage(res, 403);
    expect(res.headers.get('location')).toBeNull();

    const login = formOf(page.body, /\/login$/);
    const done = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    expect(done.leftTo ?? done.body).toMatch(/code=|name="decision"/);
  });
});

const SQL_INJECTION = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "admin'--",
  "'; DROP TABLE users; --",
  '"; DROP TABLE clients; --',
  "1; DELETE FROM resource_servers; --",
  "' UNION SELECT password_hash FROM users --",
  "') OR ('a'='a",
  "' OR pg_sleep(5) IS NULL --",
  "'||(SELECT pg_sleep(5))||'",
  "$$; DROP TABLE users; $$",
  "\\'; TRUNCATE users CASCADE; --",
  "'; COPY users TO '/tmp/users.csv'; --",
  "%27%20OR%201%3D1--",
  "' OR '1'='1\u0000",
];

/** What PostgreSQL, pg or knex would say if an injected string reached a query as SQL. */
const DATABASE_ERROR = /syntax error at or near|unterminated quoted string|relation "[^"]*" does not exist|column "[^"]*" does not exist|SQLSTATE|invalid input syntax for|\bknex\b|\bpg-protocol\b/i;

describe('SQL injection', () => {
  describe('in every text input of the sign-in pages', () => {
    let agent: UserAgent;
    let login: { action: string; csrf: string };
    let before: Record<string, number>;
    /** One account per payload, so sign-in throttling (a 429 after a few failures) does not hide the password check. */
    const victims: string[] = [];
    // 429 is sign-in throttling (test/security/throttling*): a 4xx as good as any other here.
    const REFUSED = [400, 401, 429];

    beforeAll(async () => {
      for (const _payload of SQL_INJECTION) victims.push((await createPerson(server)).email);
      before = await rowCounts();
      // The person signs in once from this browser (a browser Gatehouse knows), then comes back
      // to a sign-in page with prompt=login: the page the attacks below are typed into.
      agent = new UserAgent(server.issuer);
      const url = (prompt: string) => client.buildAuthorizationUrl(app.config, {
        redirect_uri: REDIRECT, scope: 'openid', prompt, state: 'sqli',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      });
      await signIn(agent, url('consent'), person);
      const page = await agent.follow(url('login').href);
      login = formOf(page.body, /\/login$/);
      login.action = new URL(login.action, page.url).href;
    });

    it.each(SQL_INJECTION)('email %j: 4xx, no redirect', async (payload) => {
      const res = await agent.request(login.action, { form: { csrf: login.csrf, email: payload, password: 'anything' } });
      expectErrorPageOrLogin(res, REFUSED);
    });

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('password %j for an existing account: 4xx, no redirect', async (payload, index) => {
      const res = await agent.request(login.action, { form: { csrf: login.csrf, email: victims[index]!, password: payload } });
      expectErrorPageOrLogin(res, REFUSED);
    });

    it.each(SQL_INJECTION)('the real email followed by %j: 4xx, no redirect', async (payload) => {
      const res = await agent.request(login.action, { form: { csrf: login.csrf, email: `${person.email}${payload}`, password: payload } });
      expectErrorPageOrLogin(res, REFUSED);
    });

    it.each(SQL_INJECTION)('csrf %j: 403', async (payload) => {
      const res = await agent.request(login.action, { form: { csrf: payload, email: person.email, password: person.password } });
      expectErrorPage(res, 403);
    });

    it.each(SQL_INJECTION)('the interaction id in the address %j: 4xx', async (payload) => {
      const uid = encodeURIComponent(payload);
      expectErrorPage(await agent.request(`${server.issuer}/interaction/${uid}`), [400, 404]);
      expectErrorPage(await agent.request(`${server.issuer}/interaction/${uid}/login`, { form: { csrf: login.csrf, email: person.email, password: person.password } }), [400, 404]);
      expectErrorPage(await agent.request(`${server.issuer}/interaction/${uid}/confirm`, { form: { csrf: login.csrf, decision: payload } }), [400, 404]);
    });

    it('nothing stored was touched, and the person still signs in on the page that took the attacks', async () => {
      expect(await rowCounts()).toEqual(before);
      const done = await agent.follow(login.action, { form: { csrf: login.csrf, email: person.email, password: person.password } });
      expect(done.leftTo ?? done.body).toMatch(/code=|name="decision"/);
    });

    function expectErrorPageOrLogin(res: AgentResponse, status: number[]) {
      // The login page again, with its one message for every failure: a 4xx, never a redirect.
      expect(status, `${res.status}: ${res.body.slice(0, 300)}`).toContain(res.status);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.body).not.toMatch(DATABASE_ERROR);
    }
  });

  describe('in the protocol endpoints\' parameters', () => {
    const grants = (res: JsonResponse) => res.body.access_token === undefined && res.body.refresh_token === undefined && res.body.request_uri === undefined;

    it.each(SQL_INJECTION)('%j as client_id, code, refresh_token, token, hint and scope: never a 5xx, nothing granted', async (payload) => {
      const attempts: Array<[string, JsonResponse]> = [
        ['/token client_id (post)', await post('/token', undefined, { grant_type: 'client_credentials', client_id: payload, client_secret: payload })],
        ['/token client_id (basic)', await asJson(await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(payload, payload) }, body: 'grant_type=client_credentials' }))],
        ['/token code', await post('/token', creds(app), { grant_type: 'authorization_code', code: payload, redirect_uri: REDIRECT, code_verifier: 'a'.repeat(43) })],
        ['/token redirect_uri and code_verifier', await post('/token', creds(app), { grant_type: 'authorization_code', code: 'x', redirect_uri: payload, code_verifier: payload })],
        ['/token refresh_token', await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: payload })],
        ['/token scope', await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: 'x', scope: payload })],
        ['/token grant_type', await post('/token', creds(app), { grant_type: payload })],
        ['/token/introspection token', await post('/token/introspection', notes, { token: payload, token_type_hint: payload })],
        ['/token/revocation token', await post('/token/revocation', creds(app), { token: payload, token_type_hint: payload })],
        ['/request client_id and scope', await post('/request', creds(app), { client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: payload, state: payload, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', login_hint: payload, resource: payload })],
        ['/me bearer', await asJson(await fetch(`${server.issuer}/me`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ access_token: payload }) }))],
      ];
      for (const [name, res] of attempts) {
        expect(res.status, `${name}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
        expect(grants(res), `${name}: ${res.text.slice(0, 200)}`).toBe(true);
        if (name.startsWith('/token/introspection')) expect(res.body).toEqual({ active: false });
        else if (!name.startsWith('/token/revocation')) expect(res.status, name).toBeGreaterThanOrEqual(400);
        expect(res.text, name).not.toMatch(DATABASE_ERROR);
      }
    });

    it.each(SQL_INJECTION)('%j in the authorization and logout requests: a page or an error for the app, never a 5xx', async (payload) => {
      const browser = new UserAgent(server.issuer);
      const auth = (extra: Record<string, string>) => `${server.issuer}/auth?${new URLSearchParams({
        client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra,
      })}`;
      const responses: Array<[string, AgentResponse]> = [
        ['/auth client_id', await browser.request(auth({ client_id: payload }))],
        ['/auth redirect_uri', await browser.request(auth({ redirect_uri: payload }))],
        ['/auth scope', await browser.request(auth({ scope: `openid ${payload}` }))],
        ['/auth resource', await browser.request(auth({ resource: payload }))],
        ['/auth login_hint, state, nonce', await browser.request(auth({ login_hint: payload, state: payload, nonce: payload }))],
        ['/session/end client_id', await browser.request(`${server.issuer}/session/end?${new URLSearchParams({ client_id: payload })}`)],
        ['/session/end id_token_hint', await browser.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: payload })}`)],
        ['/session/end/confirm xsrf', await browser.request(`${server.issuer}/session/end/confirm`, { form: { xsrf: payload, logout: 'yes' } })],
      ];
      for (const [name, res] of responses) {
        expect(res.status, `${name}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
        const location = res.headers.get('location');
        if (location) {
          // Only on to Gatehouse's own sign-in page or back to the registered address.
          const target = new URL(location, server.issuer);
          expect([server.issuer, new URL(REDIRECT).origin], `${name}: ${location}`).toContain(target.origin);
          if (target.origin !== server.issuer) expect(target.searchParams.get('code'), name).toBeNull();
        } else {
          expect(res.status, name).toBeGreaterThanOrEqual(400);
        }
        expect(res.body, name).not.toMatch(DATABASE_ERROR);
      }
    });
  });

  describe('in the stores the CLI calls: invalid_input, or stored verbatim as data', () => {
    let before: Record<string, number>;
    let stored: Record<string, number>;
    const STRONG = 'a long and unguessable passphrase 7f3k';

    beforeAll(async () => {
      before = await rowCounts();
      stored = { users: 0, clients: 0, resource_servers: 0 };
    });

    /** Runs a store call: it either succeeds or throws Gatehouse's own error, never a database error. */
    async function attempt<T>(what: string, call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
      try {
        return { ok: true, value: await call() };
      } catch (error) {
        expect(isGatehouseError(error), `${what} threw ${String(error)}`).toBe(true);
        return { ok: false, code: (error as { code: string }).code };
      }
    }

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('users: %j', async (payload, index) => {
      const users = server.stores.users;
      // As an email: not an address at all, or (with an apostrophe) a valid one stored as typed.
      for (const email of [payload, `x${index}${payload.replace(/[^'a-z-]/gi, '')}@example.test`]) {
        const result = await attempt('users.create(email)', () => users.create({ email, name: 'Injected', password: STRONG }));
        if (result.ok) {
          stored.users! += 1;
          expect(result.value.email).toBe(email);
          expect((await server.testDb.db('users').where({ id: result.value.id }).first()).email).toBe(email);
        } else {
          expect(result.code).toBe('invalid_input');
        }
      }
      // As names: data, stored verbatim (a NUL is refused before it reaches the database).
      const named = await attempt('users.create(name)', () => users.create({
        email: `named${index}.${Date.now()}@example.test`, name: payload, givenName: payload, familyName: payload, password: STRONG,
      }));
      if (payload.includes('\u0000')) {
        expect(named).toEqual({ ok: false, code: 'invalid_input' });
      } else {
        expect(named.ok).toBe(true);
        stored.users! += 1;
        const row = await server.testDb.db('users').where({ id: (named as { value: { id: string } }).value.id }).first();
        expect([row.name, row.given_name, row.family_name]).toEqual([payload, payload, payload]);
      }
      // As a password: hashed, and it signs in like any other.
      const email = `pw${index}.${Date.now()}@example.test`;
      const withPassword = await attempt('users.create(password)', () => users.create({ email, name: 'Password Person', password: `${payload} ${STRONG}` }));
      expect(withPassword.ok).toBe(true);
      stored.users! += 1;
      expect((await users.authenticate(email, `${payload} ${STRONG}`)).ok).toBe(true);
      expect((await users.authenticate(email, payload)).ok).toBe(false);

      // As lookups: nothing found, nothing thrown.
      expect(await users.findByEmail(payload)).toBeUndefined();
      expect(await users.findById(payload)).toBeUndefined();
      expect(await users.authenticate(payload, payload)).toEqual({ ok: false, reason: 'unknown_email' });
    });

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('clients: %j', async (payload, index) => {
      const clients = server.stores.clients;
      const named = await attempt('clients.create(name)', () => clients.create({ name: payload, redirectUris: ['https://app.example.test/cb'] }));
      if (payload.includes('\u0000')) {
        expect(named).toEqual({ ok: false, code: 'invalid_input' });
      } else {
        expect(named.ok).toBe(true);
        stored.clients! += 1;
        const { client: created } = (named as { value: { client: { clientId: string } } }).value;
        expect((await server.testDb.db('clients').where({ client_id: created.clientId }).first()).name).toBe(payload);
        expect((await clients.find(created.clientId))?.name).toBe(payload);
      }
      // In a redirect URI: refused when it is no URI (spaces, quotes where they cannot be), else stored as typed.
      const uri = `https://app.example.test/cb?q=${payload}`;
      const withUri = await attempt('clients.create(redirectUris)', () => clients.create({ name: `Uri ${index}`, redirectUris: [uri] }));
      if (withUri.ok) {
        stored.clients! += 1;
        expect(withUri.value.client.redirectUris).toEqual([uri]);
      } else {
        expect(withUri.code).toBe('invalid_input');
      }
      // As a scope word (scope words cannot hold spaces, quotes or backslashes).
      const word = `x${index}:${payload.replace(/[\s"\\]/g, '')}`;
      const withScope = await attempt('clients.create(scope)', () => clients.create({ name: `Scope ${index}`, redirectUris: ['https://app.example.test/cb'], scope: `openid ${word}` }));
      if (withScope.ok) {
        stored.clients! += 1;
        expect(withScope.value.client.scope.split(' ')).toContain(word);
      } else {
        expect(withScope.code).toBe('invalid_input');
      }
      expect(await clients.find(payload)).toBeUndefined();
    });

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('resource servers: %j', async (payload, index) => {
      const resources = server.stores.resources;
      const identifier = `https://api${index}.example.test/${payload}`;
      const scope = `sqli${index}:read`;
      const created = await attempt('resources.create', () => resources.create({ identifier, name: payload, scope, scopeDescriptions: { [scope]: payload } }));
      if (created.ok) {
        stored.resource_servers! += 1;
        stored.clients! += 1; // every API comes with its introspection client
        const found = await resources.find(identifier);
        expect(found).toMatchObject({ identifier, name: payload, scopeDescriptions: { [scope]: payload } });
      } else {
        expect(created.code).toBe('invalid_input');
        expect(await resources.find(identifier)).toBeUndefined();
      }
      // As a name and a description only, under a plain identifier: always data.
      const plain = await attempt('resources.create(name)', () => resources.create({
        identifier: `https://plain${index}.example.test`, name: payload, scope: `plain${index}:read`, scopeDescriptions: { [`plain${index}:read`]: payload },
      }));
      if (payload.includes('\u0000')) {
        expect(plain).toEqual({ ok: false, code: 'invalid_input' });
      } else {
        expect(plain.ok).toBe(true);
        stored.resource_servers! += 1;
        stored.clients! += 1;
        expect(await resources.find(`https://plain${index}.example.test`)).toMatchObject({ name: payload });
      }
      // As a scope: not a scope word, or stored as one.
      const asScope = await attempt('resources.create(scope)', () => resources.create({ identifier: `https://scope${index}.example.test`, scope: payload }));
      if (asScope.ok) {
        stored.resource_servers! += 1;
        stored.clients! += 1;
        expect(asScope.value.resourceServer.scopes.join(' ')).toBe(payload.trim().split(/\s+/).join(' '));
      } else {
        expect(['invalid_input', 'conflict']).toContain(asScope.code);
      }
      expect(await resources.find(payload)).toBeUndefined();
    });

    it('every table still holds every row it had, plus exactly what was stored', async () => {
      const after = await rowCounts();
      expect(after).toEqual({
        users: before.users! + stored.users!,
        clients: before.clients! + stored.clients!,
        resource_servers: before.resource_servers! + stored.resource_servers!,
      });
      // And the person from before still signs in end to end.
      const { tokens } = await obtainTokens(server, app, person);
      expect(await userinfoStatus(tokens.access_token)).toBe(200);
    });
  });
});

describe('oversized and malformed input: a clear 4xx, never a 5xx', () => {
  let interaction: { loginAction: string; confirmAction: string; csrf: string; cookie: string };
  let accessToken: string;

  beforeAll(async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    accessToken = tokens.access_token;
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'm',
    })).href);
    const login = formOf(page.body, /\/login$/);
    const loginAction = new URL(login.action, page.url).href;
    interaction = { loginAction, confirmAction: loginAction.replace(/\/login$/, '/confirm'), csrf: login.csrf, cookie: agent.cookieHeader() };
  });

  const INVALID_UTF8 = ['%FF%FE', '%C0%AF', '%ED%A0%80', '%C3%28', '%F8%88%80%80%80', '%E2%82'];
  const deepJson = (depth: number) => `{"a":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
  const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

  interface Case {
    name: string;
    method?: string;
    path: () => string;
    headers?: () => Record<string, string>;
    body?: () => string | Uint8Array;
    status: number[];
    /** 'json': OAuth-style { error }; 'page': an HTML page with a heading; 'any': any 4xx body. */
    shape: 'json' | 'page' | 'any';
  }

  const browserForm = () => ({ cookie: interaction.cookie, 'content-type': FORM, accept: 'text/html' });
  const appForm = () => ({ authorization: basic(app.clientId, app.clientSecret!), 'content-type': FORM });
  const notesForm = () => ({ authorization: basic(notes.clientId, notes.clientSecret!), 'content-type': FORM });
  const raw = (...bytes: number[]) => () => Uint8Array.from(bytes);
  const prefixed = (text: string, ...bytes: number[]) => () => Uint8Array.from([...Buffer.from(text), ...bytes]);

  const cases: Case[] = [
    // Invalid UTF-8, percent-encoded, in the fields each endpoint must read.
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token grant_type ${bytes}`, method: 'POST', path: () => '/token', headers: appForm, body: () => `grant_type=${bytes}`, status: [400], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token code ${bytes}`, method: 'POST', path: () => '/token', headers: appForm, body: () => `grant_type=authorization_code&code=${bytes}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${'a'.repeat(43)}`, status: [400], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token client_id ${bytes}`, method: 'POST', path: () => '/token', headers: () => ({ 'content-type': FORM }), body: () => `grant_type=client_credentials&client_id=${bytes}&client_secret=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token/introspection client_id ${bytes}`, method: 'POST', path: () => '/token/introspection', headers: () => ({ 'content-type': FORM }), body: () => `token=x&client_id=${bytes}&client_secret=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token/revocation client_id ${bytes}`, method: 'POST', path: () => '/token/revocation', headers: () => ({ 'content-type': FORM }), body: () => `token=x&client_id=${bytes}&client_secret=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/request client_id ${bytes}`, method: 'POST', path: () => '/request', headers: () => ({ 'content-type': FORM }), body: () => `client_id=${bytes}&client_secret=x&response_type=code`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/me access_token ${bytes}`, method: 'POST', path: () => '/me', headers: () => ({ 'content-type': FORM }), body: () => `access_token=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `login email and password ${bytes}`, method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => `csrf=${encodeURIComponent(interaction.csrf)}&email=${bytes}&password=${bytes}`, status: [400, 401, 429], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `login csrf ${bytes}`, method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => `csrf=${bytes}&email=a%40example.test&password=x`, status: [400, 403], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/session/end/confirm xsrf ${bytes}`, method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': FORM, accept: 'text/html' }), body: () => `xsrf=${bytes}&logout=yes`, status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/auth client_id ${bytes}`, path: () => `/auth?client_id=${bytes}&response_type=code&scope=openid`, headers: () => ({ accept: 'text/html' }), status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/auth redirect_uri ${bytes}`, path: () => `/auth?client_id=${app.clientId}&redirect_uri=https%3A%2F%2Fapp.example.test%2F${bytes}&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`, headers: () => ({ accept: 'text/html' }), status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/session/end client_id ${bytes}`, path: () => `/session/end?client_id=${bytes}`, headers: () => ({ accept: 'text/html' }), status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/interaction/${bytes}`, path: () => `/interaction/${bytes}`, headers: () => ({ accept: 'text/html' }), status: [400, 404], shape: 'page' })),

    // Invalid UTF-8 as raw bytes in the body.
    { name: '/token with raw invalid bytes', method: 'POST', path: () => '/token', headers: appForm, body: prefixed('grant_type=', 0xff, 0xfe, 0xc0, 0xaf), status: [400], shape: 'json' },
    { name: '/token/introspection with raw invalid bytes', method: 'POST', path: () => '/token/introspection', headers: () => ({ 'content-type': FORM }), body: prefixed('token=x&client_id=', 0xff, 0xfe, 0xed, 0xa0, 0x80), status: [400, 401], shape: 'json' },
    { name: 'login with a body of raw invalid bytes', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: raw(0xff, 0xfe, 0x3d, 0xc0, 0xaf, 0x26, 0xed, 0xa0, 0x80), status: [400, 403], shape: 'page' },
    { name: 'login with raw invalid bytes in the password', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => Uint8Array.from([...Buffer.from(`csrf=${encodeURIComponent(interaction.csrf)}&email=${encodeURIComponent(person.email)}&password=`), 0xff, 0xfe, 0xc3, 0x28]), status: [400, 401, 429], shape: 'page' },

    // Deeply nested JSON where a form is expected.
    { name: '/token with deeply nested JSON', method: 'POST', path: () => '/token', headers: () => ({ ...appForm(), 'content-type': 'application/json' }), body: () => deepJson(20_000), status: [400, 413, 415], shape: 'json' },
    { name: '/token/introspection with JSON', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'application/json' }), body: () => JSON.stringify({ token: accessToken }), status: [400, 415], shape: 'json' },
    { name: '/token/introspection with deeply nested JSON', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'application/json' }), body: () => deepObject(5_000), status: [400, 413, 415], shape: 'json' },
    { name: '/token/revocation with deeply nested JSON', method: 'POST', path: () => '/token/revocation', headers: () => ({ ...appForm(), 'content-type': 'application/json' }), body: () => deepJson(20_000), status: [400, 413, 415], shape: 'json' },
    { name: '/request with deeply nested JSON', method: 'POST', path: () => '/request', headers: () => ({ ...appForm(), 'content-type': 'application/json' }), body: () => deepObject(5_000), status: [400, 413, 415], shape: 'json' },
    { name: '/me with deeply nested JSON', method: 'POST', path: () => '/me', headers: () => ({ 'content-type': 'application/json' }), body: () => deepJson(20_000), status: [400, 401, 413, 415], shape: 'json' },
    { name: 'login with deeply nested JSON', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: () => ({ ...browserForm(), 'content-type': 'application/json' }), body: () => deepObject(5_000), status: [400, 403, 413, 415], shape: 'page' },
    { name: '/session/end/confirm with deeply nested JSON', method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': 'application/json', accept: 'text/html' }), body: () => deepJson(20_000), status: [400, 413, 415], shape: 'page' },

    // Deeply nested form fields (qs-style brackets).
    { name: 'login with deeply nested form fields', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => `csrf=${encodeURIComponent(interaction.csrf)}&email${'[a]'.repeat(1_000)}=x&password${'[b]'.repeat(1_000)}=y`, status: [400, 413], shape: 'page' },
    { name: 'consent with deeply nested form fields', method: 'POST', path: () => new URL(interaction.confirmAction).pathname, headers: browserForm, body: () => `csrf${'[0]'.repeat(1_000)}=x&decision=allow`, status: [400, 403, 413], shape: 'page' },
    { name: '/token with deeply nested form fields', method: 'POST', path: () => '/token', headers: appForm, body: () => `grant_type${'[x]'.repeat(1_000)}=client_credentials`, status: [400], shape: 'json' },

    // Oversized input not covered by bad-input.test.ts.
    { name: '/me by POST with a 100 KB access_token', method: 'POST', path: () => '/me', headers: () => ({ 'content-type': FORM }), body: () => `access_token=${'A'.repeat(100 * KB)}`, status: [400, 401, 413], shape: 'any' },
    { name: 'consent with a 100 KB form', method: 'POST', path: () => new URL(interaction.confirmAction).pathname, headers: browserForm, body: () => `csrf=${encodeURIComponent(interaction.csrf)}&decision=${'A'.repeat(100 * KB)}`, status: [413], shape: 'page' },
    { name: '/token/introspection with a 100 KB token_type_hint', method: 'POST', path: () => '/token/introspection', headers: notesForm, body: () => `token=x&token_type_hint=${'A'.repeat(100 * KB)}`, status: [400, 413], shape: 'json' },
    { name: '/me with a 100 KB Authorization header', path: () => '/me', headers: () => ({ authorization: `Bearer ${'A'.repeat(100 * KB)}` }), status: [431], shape: 'any' },
    { name: '/token with a 100 KB Authorization header', method: 'POST', path: () => '/token', headers: () => ({ authorization: `Basic ${'A'.repeat(100 * KB)}`, 'content-type': FORM }), body: () => 'grant_type=client_credentials', status: [431], shape: 'any' },

    // Duplicates and the wrong content type at introspection (not in bad-input.test.ts).
    { name: '/token/introspection with duplicate tokens', method: 'POST', path: () => '/token/introspection', headers: notesForm, body: () => `token=${accessToken}&token=x`, status: [400], shape: 'json' },
    { name: '/token/introspection with a text/plain body', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'text/plain' }), body: () => `token=${accessToken}`, status: [400, 415], shape: 'json' },
    { name: '/token/introspection with a multipart body', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'multipart/form-data; boundary=xyz' }), body: () => `--xyz\r\nContent-Disposition: form-data; name="token"\r\n\r\n${accessToken}\r\n--xyz--\r\n`, status: [400, 415], shape: 'json' },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await fetch(`${server.issuer}${c.path()}`, { method: c.method ?? 'GET', headers: c.headers?.() ?? {}, body: c.body?.(), redirect: 'manual' });
    const text = await res.text();
    expect(c.status, `${res.status}: ${text.slice(0, 300)}`).toContain(res.status);
    expect(res.headers.get('location')).toBeNull();
    expect(text).not.toMatch(/\n\s+at \S|node_modules|\b(TypeError|RangeError|SyntaxError|URIError):/);
    if (c.shape === 'json') {
      expect(res.headers.get('content-type'), text.slice(0, 200)).toMatch(/^application\/json/);
      const body = JSON.parse(text) as { error?: unknown; error_description?: unknown };
      expect(typeof body.error, text.slice(0, 200)).toBe('string');
    } else if (c.shape === 'page') {
      expect(res.headers.get('content-type'), text.slice(0, 200)).toMatch(/^text\/html/);
      expect(text).toMatch(/<h1[^>]*>[^<]+<\/h1>/);
    }
  });

  it('the resume address of an unknown sign-in, with a client_id in the query: a 4xx or an error for the app, not a 500', async () => {
    // Found by test/security/fuzz.test.ts. Client ids are public, so anyone can send this.
    for (const path of [`/auth/no-such-uid?client_id=${app.clientId}`, `/auth/%20?client_id=${app.clientId}`, `/auth/x?client_id=${twoUris.clientId}`]) {
      const res = await fetch(`${server.issuer}${path}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      const text = await res.text();
      expect(res.status, `${path}: ${res.status} ${text.slice(0, 200)}`).toBeLessThan(500);
      const location = res.headers.get('location');
      if (location) {
        const back = new URL(location);
        expect(back.origin + back.pathname).toBe(REDIRECT);
        expect(back.searchParams.get('error')).toBeTruthy();
        expect(back.searchParams.get('code')).toBeNull();
      } else {
        expectErrorPage({ status: res.status, headers: res.headers, body: text }, [400, 404]);
      }
    }
  });

  describe('at the example API', () => {
    async function postNote(body: string | Uint8Array, contentType = 'application/json') {
      const res = await fetch(`${api.url}/notes`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': contentType }, body });
      return { status: res.status, body: await res.text() };
    }

    const apiCases: Array<{ name: string; body: () => string; contentType: string; statuses: number[] }> = [
      { name: 'deeply nested JSON', body: () => `{"text":${'['.repeat(5_000)}${']'.repeat(5_000)}}`, contentType: 'application/json', statuses: [400] },
      { name: 'deeply nested JSON past the size limit', body: () => deepObject(20_000), contentType: 'application/json', statuses: [400, 413] },
      { name: 'a 100 KB note', body: () => JSON.stringify({ text: 'A'.repeat(100 * KB) }), contentType: 'application/json', statuses: [413] },
      { name: 'JSON that is not JSON', body: () => '{"text":', contentType: 'application/json', statuses: [400] },
      { name: 'a form where JSON is expected', body: () => 'text=hello', contentType: FORM, statuses: [400, 415] },
    ];

    it.each(apiCases.map((c) => [c.name, c] as const))('%s: a 4xx', async (_name, c) => {
      const res = await postNote(c.body(), c.contentType);
      expect(c.statuses, `${res.status}: ${res.body.slice(0, 200)}`).toContain(res.status);
    });

    it('a 100 KB Authorization header: 431', async () => {
      const res = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${'A'.repeat(100 * KB)}` } });
      await res.arrayBuffer();
      expect(res.status).toBe(431);
    });
  });
});

describe('headers on every page and endpoint', () => {
  interface Captured { name: string; status: number; headers: Headers; body: string; hasForm: boolean; html: boolean }
  const captured: Captured[] = [];

  function capture<T extends { status: number; headers: Headers; body: string }>(name: string, res: T): T {
    const html = (res.headers.get('content-type') ?? '').startsWith('text/html');
    captured.push({ name, status: res.status, headers: res.headers, body: res.body, html, hasForm: html && /<form/i.test(res.body) });
    return res;
  }

  async function raw(name: string, url: string, init: RequestInit = {}) {
    const res = await fetch(url, { redirect: 'manual', ...init });
    return capture(name, { status: res.status, headers: res.headers, body: await res.text() });
  }

  beforeAll(async () => {
    const issuer = server.issuer;
    const agent = new UserAgent(issuer);
    const request = await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: SCOPE, prompt: 'consent', state: 'h',
      code_challenge: await client.calculatePKCECodeChallenge('h'.repeat(43)), code_challenge_method: 'S256',
    });
    const redirect = capture('/auth (redirect to the sign-in page)', await agent.request(request.href));
    const loginPage = capture('the sign-in page', await agent.request(new URL(redirect.headers.get('location')!, issuer).href));
    const login = formOf(loginPage.body, /\/login$/);
    const loginAction = new URL(login.action, loginPage.url).href;
    capture('a failed sign-in', await agent.request(loginAction, { form: { csrf: login.csrf, email: person.email, password: 'wrong password entirely' } }));
    capture('a sign-in without its CSRF token', await agent.request(loginAction, { form: { email: person.email, password: person.password } }));
    const signedIn = capture('POST sign-in (redirect)', await agent.request(loginAction, { form: { csrf: login.csrf, email: person.email, password: person.password } }));
    let page = await agent.request(new URL(signedIn.headers.get('location')!, issuer).href); // /auth/:uid resume
    capture('/auth/:uid (resume)', page);
    const consentPage = capture('the consent page', await agent.request(new URL(page.headers.get('location')!, issuer).href));
    const consent = formOf(consentPage.body, /\/confirm$/);
    page = capture('POST consent (redirect)', await agent.request(new URL(consent.action, consentPage.url).href, { form: { csrf: consent.csrf, decision: 'allow' } }));
    const back = capture('/auth/:uid (back to the app)', await agent.request(new URL(page.headers.get('location')!, issuer).href));
    const code = new URL(back.headers.get('location')!).searchParams.get('code')!;

    const token = await raw('/token (success)', `${issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: 'h'.repeat(43) }) });
    const tokens = JSON.parse(token.body) as { access_token: string; id_token: string; refresh_token: string };
    await raw('/token (error)', `${issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: 'grant_type=authorization_code&code=used' });
    await raw('/token (refresh)', `${issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }) });
    await raw('/token/introspection', `${issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(notes.clientId, notes.clientSecret!) }, body: new URLSearchParams({ token: tokens.access_token }) });
    await raw('/token/introspection (unauthenticated)', `${issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ token: tokens.access_token }) });
    await raw('/me', `${issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await raw('/me (invalid token)', `${issuer}/me`, { headers: { authorization: 'Bearer nope' } });
    await raw('/token/revocation', `${issuer}/token/revocation`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ token: 'nothing' }) });
    await raw('/request', `${issuer}/request`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }) });
    await raw('discovery', `${issuer}/.well-known/openid-configuration`);
    await raw('/jwks', `${issuer}/jwks`);
    await raw('/healthz', `${issuer}/healthz`);
    await raw('/readyz', `${issuer}/readyz`);
    await raw('/assets/gatehouse.css', `${issuer}/assets/gatehouse.css`);
    await raw('a 404 page', `${issuer}/no-such-page`, { headers: { accept: 'text/html' } });
    await raw('a 404 for programs', `${issuer}/no-such-page`, { headers: { accept: 'application/json' } });
    await raw('an error page from /auth', `${issuer}/auth`, { headers: { accept: 'text/html' } });
    await raw('an expired sign-in page', `${issuer}/interaction/does-not-exist`, { headers: { accept: 'text/html' } });

    const logout = capture('the sign-out page', await agent.request(`${issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token })}`));
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(logout.body)!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form[2]!)![1]!;
    const done = capture('POST sign-out (redirect)', await agent.request(new URL(form[1]!, issuer).href, { form: { xsrf, logout: 'yes' } }));
    capture('the signed-out page', await agent.request(new URL(done.headers.get('location')!, issuer).href));
    capture('a sign-out without a session', await new UserAgent(issuer).request(`${issuer}/session/end`));
  });

  it('captured every kind of response (the baseline)', () => {
    expect(captured.filter((c) => c.hasForm).map((c) => c.name)).toEqual(expect.arrayContaining(['the sign-in page', 'the consent page', 'the sign-out page']));
    expect(captured.find((c) => c.name === '/token (success)')?.status).toBe(200);
    expect(captured.find((c) => c.name === '/me')?.status).toBe(200);
    expect(captured.find((c) => c.name === '/token/introspection')?.status).toBe(200);
    expect(captured.find((c) => c.name === 'the signed-out page')?.status).toBe(200);
  });

  it('every response: nosniff and Referrer-Policy no-referrer', () => {
    for (const c of captured) {
      expect(c.headers.get('x-content-type-options'), c.name).toBe('nosniff');
      expect(c.headers.get('referrer-policy'), c.name).toBe('no-referrer');
    }
  });

  it('every HTML page: CSP with frame-ancestors \'none\' and no inline script, X-Frame-Options DENY', () => {
    const html = captured.filter((c) => c.html);
    expect(html.length).toBeGreaterThan(8);
    for (const c of html) {
      const csp = c.headers.get('content-security-policy') ?? '';
      expect(csp, c.name).toMatch(/(^|;)\s*frame-ancestors 'none'/);
      expect(csp, c.name).toMatch(/(^|;)\s*default-src 'self'/);
      expect(csp, c.name).not.toMatch(/'unsafe-inline'|'unsafe-eval'|\*/);
      expect(c.headers.get('x-frame-options'), c.name).toBe('DENY');
    }
  });

  it('Cache-Control: no-store on token, introspection, userinfo, pushed requests and every page with a form or an error', () => {
    const mustNotBeStored = captured.filter((c) => c.hasForm || (c.html && c.status >= 400) || /^\/(token \(|token\/introspection|me\b|request\b|auth)/.test(c.name) || c.name.startsWith('POST '));
    expect(mustNotBeStored.map((c) => c.name)).toEqual(expect.arrayContaining(['/token (success)', '/token (error)', '/token/introspection', '/me', 'the sign-in page', 'the consent page', 'the sign-out page']));
    for (const c of mustNotBeStored) expect(c.headers.get('cache-control') ?? '(none)', `${c.name} (${c.status})`).toMatch(/no-store/);
  });

  it('303 after every POST that redirects, never 302/307/308 (the browser must not re-post the form)', () => {
    const posts = captured.filter((c) => c.name.startsWith('POST '));
    expect(posts.map((c) => c.name)).toEqual(['POST sign-in (redirect)', 'POST consent (redirect)', 'POST sign-out (redirect)']);
    for (const c of posts) expect(c.status, c.name).toBe(303);
  });

  it('a cancelled sign-in and a stale sign-in tab are answered with 303 too', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', state: 'c', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    })).href);
    const login = formOf(page.body, /\/login$/);
    const abortAction = new URL(/action="([^"]*\/abort)"/.exec(page.body)![1]!, page.url).href;
    const confirmAction = new URL(login.action, page.url).href.replace(/\/login$/, '/confirm');
    // The consent form posted while the sign-in step is still open: sent back to the current step.
    const stale = await agent.request(confirmAction, { form: { csrf: login.csrf, decision: 'allow' } });
    expect(stale.status).toBe(303);
    const aborted = await agent.request(abortAction, { form: { csrf: login.csrf } });
    expect(aborted.status).toBe(303);
  });

  it('no CORS on the authorization endpoint and the pages, even for an origin an app registered', async () => {
    const origin = new URL(REDIRECT).origin;
    const auth = `${server.issuer}/auth?${new URLSearchParams({ client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`;
    const attempts = [
      await fetch(auth, { headers: { origin }, redirect: 'manual' }),
      await fetch(auth, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' }, redirect: 'manual' }),
      await fetch(`${server.issuer}/auth`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.test', 'access-control-request-method': 'POST' }, redirect: 'manual' }),
      await fetch(`${server.issuer}/interaction/does-not-exist`, { headers: { origin }, redirect: 'manual' }),
      await fetch(`${server.issuer}/session/end`, { headers: { origin }, redirect: 'manual' }),
      await fetch(`${server.issuer}/session/end/confirm`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' }, redirect: 'manual' }),
    ];
    for (const res of attempts) {
      await res.arrayBuffer();
      expect(res.headers.get('access-control-allow-origin'), res.url).toBeNull();
      expect(res.headers.get('access-control-allow-credentials'), res.url).toBeNull();
    }
  });

  it('the token endpoint does not answer CORS for an origin no app registered', async () => {
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { origin: 'https://evil.example.test', 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    await res.arrayBuffer();
    expect(res.headers.get('access-control-allow-origin')).not.toBe('https://evil.example.test');
    expect(res.headers.get('access-control-allow-origin')).not.toBe('*');
  });

  describe('HSTS', () => {
    let proxied: TestServer;

    beforeAll(async () => {
      proxied = await startTestServer({ TRUST_PROXY: 'true' });
    });

    afterAll(async () => {
      await proxied?.stop();
    });

    const paths = ['/.well-known/openid-configuration', '/jwks', '/healthz', '/auth', '/no-such-page', '/session/end'];

    it('over TLS (through the trusted proxy) every response carries Strict-Transport-Security for at least a year', async () => {
      for (const path of paths) {
        const res = await fetch(`${proxied.issuer}${path}`, { headers: { 'x-forwarded-proto': 'https', accept: 'text/html' }, redirect: 'manual' });
        await res.arrayBuffer();
        const hsts = res.headers.get('strict-transport-security') ?? '';
        expect(hsts, path).toMatch(/max-age=\d+/);
        expect(Number(/max-age=(\d+)/.exec(hsts)![1]), path).toBeGreaterThanOrEqual(31_536_000);
        expect(hsts, path).toMatch(/includeSubDomains/i);
      }
      const token = await fetch(`${proxied.issuer}/token`, { method: 'POST', headers: { 'x-forwarded-proto': 'https', 'content-type': FORM }, body: 'grant_type=client_credentials' });
      await token.arrayBuffer();
      expect(token.headers.get('strict-transport-security')).toMatch(/max-age=31536000/);
    });

    it('over plain HTTP there is no Strict-Transport-Security (RFC 6797 §7.2: MUST NOT)', async () => {
      for (const path of paths) {
        const res = await fetch(`${proxied.issuer}${path}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
        await res.arrayBuffer();
        expect(res.headers.get('strict-transport-security'), path).toBeNull();
      }
    });
  });
});
