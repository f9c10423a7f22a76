// The discovery document, walked member by member: every value it advertises is used here, the
// way an app or an API would use it, and works. A member this file does not know fails the last
// test, so nothing new is advertised without being shown to work.
import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';

const NOTES_API = 'https://notes.example.test';
const FORM = 'application/x-www-form-urlencoded';

let server: TestServer;
let metadata: Record<string, unknown>;
let app: App;
let person: Awaited<ReturnType<typeof createPerson>>;
/** A browser signed in to Gatehouse as `person`. */
let agent: UserAgent;
const idTokenAlgs = new Set<string>();
const checked = new Set<string>();

function advertised(member: string): unknown {
  checked.add(member);
  return metadata[member];
}

function list(member: string): string[] {
  const value = advertised(member);
  expect(Array.isArray(value), member).toBe(true);
  return value as string[];
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function machineClient(extra: Record<string, unknown> = {}) {
  const { client: registered, clientSecret } = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'notes:read', ...extra });
  return { clientId: registered.clientId, secret: clientSecret };
}

/** A code flow in `agent`'s browser, answered in `responseMode`; returns the parameters the app receives. */
async function authorize(params: Record<string, string>, responseMode: string) {
  const request = await authorizationRequest(app, { ...params, response_mode: responseMode });
  let received: URLSearchParams;
  if (responseMode === 'form_post') {
    // The last page is an auto-submitting form to the app: the parameters are its inputs.
    let page = await agent.follow(String(request.url));
    if (/name="password"/.test(page.body)) {
      const login = formOf(page.body, /\/login$/);
      page = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    }
    if (/name="decision"/.test(page.body)) {
      const consent = formOf(page.body, /\/confirm$/);
      page = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
    }
    expect(page.body).toContain(`action="${app.redirectUri}"`);
    received = new URLSearchParams([...page.body.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m): [string, string] => [m[1]!, m[2]!]));
  } else {
    const back = await signIn(agent, request.url, person);
    received = new URLSearchParams(responseMode === 'fragment' ? back.hash.slice(1) : back.search);
  }
  const callback = new URL(`${app.redirectUri}?${received}`);
  const tokens = await client.authorizationCodeGrant(app.config, callback, {
    pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true,
  });
  idTokenAlgs.add(decodeProtectedHeader(tokens.id_token!).alg!);
  return { received, tokens };
}

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read', isDefault: true });
  person = await createPerson(server);
  await server.testDb.db('users').where({ id: person.id }).update({ given_name: 'Ada', family_name: 'Lovelace' });
  app = await registerApp(server, { scope: 'openid profile email offline_access notes:read' });
  agent = new UserAgent(server.issuer);
  metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
});

afterAll(async () => { await server?.stop(); });

describe('the discovery document', () => {
  it('is the same at the OAuth 2.0 address (RFC 8414) and names this issuer', async () => {
    const oauth = await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).json();
    expect(oauth).toEqual(metadata);
    expect(advertised('issuer')).toBe(server.issuer);
  });

  it('every response type and response mode, with every scope, PKCE S256 and the iss parameter, yields working tokens', async () => {
    const scopes = list('scopes_supported');
    expect(list('code_challenge_methods_supported')).toEqual(['S256']); // authorizationRequest uses S256
    expect(advertised('authorization_endpoint')).toBe(`${server.issuer}/auth`);
    expect(advertised('authorization_response_iss_parameter_supported')).toBe(true);
    for (const responseType of list('response_types_supported')) {
      for (const responseMode of list('response_modes_supported')) {
        const { received, tokens } = await authorize({ response_type: responseType, scope: scopes.join(' ') }, responseMode);
        expect(received.get('iss'), responseMode).toBe(server.issuer);
        // offline_access is granted as the refresh token; the others are the access token's scope.
        expect(tokens.scope!.split(' '), responseMode).toEqual(expect.arrayContaining(scopes.filter((s) => s !== 'offline_access')));
        expect(tokens.refresh_token, responseMode).toBeTruthy();
      }
    }
  });

  it('every grant type works: the code above, refresh_token and client_credentials', async () => {
    const grantTypes = list('grant_types_supported');
    expect(grantTypes).toEqual(['authorization_code', 'refresh_token', 'client_credentials']);
    const { tokens } = await authorize({ scope: 'openid offline_access notes:read' }, 'query');
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    const machine = await machineClient();
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(machine.clientId, machine.secret!) }, body: 'grant_type=client_credentials&scope=notes%3Aread' });
    expect(res.status).toBe(200);
  });

  it('ID tokens are signed with exactly the advertised algorithms, by keys at jwks_uri', async () => {
    const { tokens } = await authorize({ scope: 'openid' }, 'query');
    const jwks = createRemoteJWKSet(new URL(String(advertised('jwks_uri'))));
    await jwtVerify(tokens.id_token!, jwks, { issuer: server.issuer, audience: app.clientId });
    expect([...idTokenAlgs].sort()).toEqual([...list('id_token_signing_alg_values_supported')].sort());
  });

  it('every supported claim can be asked for with the claims parameter, and arrives in the ID token', async () => {
    expect(advertised('claims_parameter_supported')).toBe(true);
    expect(list('claim_types_supported')).toEqual(['normal']);
    const claims = list('claims_supported');
    const request = Object.fromEntries(claims.map((claim) => [claim, { essential: true }]));
    const { tokens } = await authorize({ scope: 'openid', claims: JSON.stringify({ id_token: request }), prompt: 'consent' }, 'query');
    const idToken = tokens.claims()!;
    for (const claim of claims) expect(idToken[claim], claim).toBeDefined();
  });

  it('the subject type is public: two apps see the same sub', async () => {
    expect(list('subject_types_supported')).toEqual(['public']);
    const other = await registerApp(server, { scope: 'openid' });
    const request = await authorizationRequest(other, { scope: 'openid' });
    const tokens = await client.authorizationCodeGrant(other.config, await signIn(agent, request.url, person), { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(tokens.claims()!.sub).toBe(person.id);
  });

  it('every client authentication method, and private_key_jwt with every advertised algorithm', async () => {
    expect(advertised('token_endpoint')).toBe(`${server.issuer}/token`);
    const methods = list('token_endpoint_auth_methods_supported');
    expect(methods).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);

    const basicClient = await machineClient();
    const viaBasic = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(basicClient.clientId, basicClient.secret!) }, body: 'grant_type=client_credentials&scope=notes%3Aread' });
    expect(viaBasic.status).toBe(200);

    const postClient = await machineClient({ tokenEndpointAuthMethod: 'client_secret_post' });
    const viaPost = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read', client_id: postClient.clientId, client_secret: postClient.secret! }) });
    expect(viaPost.status).toBe(200);

    // none: a public app's code exchange, with PKCE only.
    const publicApp = await registerApp(server, { scope: 'openid', public: true });
    const request = await authorizationRequest(publicApp, { scope: 'openid' });
    const tokens = await client.authorizationCodeGrant(publicApp.config, await signIn(agent, request.url, person), { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(tokens.id_token).toBeTruthy();

    for (const alg of list('token_endpoint_auth_signing_alg_values_supported')) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const keyClient = await machineClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: alg, alg }] } });
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg, kid: alg })
        .setIssuer(keyClient.clientId).setSubject(keyClient.clientId).setAudience(server.issuer)
        .setJti(randomUUID()).setIssuedAt().setExpirationTime('1m')
        .sign(privateKey);
      const res = await fetch(`${server.issuer}/token`, {
        method: 'POST', headers: { 'content-type': FORM },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
      });
      expect(res.status, alg).toBe(200);
    }
  });

  it('pushed authorization requests: the request_uri from the endpoint starts a sign-in', async () => {
    expect(advertised('pushed_authorization_request_endpoint')).toBe(`${server.issuer}/request`);
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = await client.buildAuthorizationUrlWithPAR(app.config, {
      redirect_uri: app.redirectUri, scope: 'openid', state,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const tokens = await client.authorizationCodeGrant(app.config, await signIn(agent, url, person), { pkceCodeVerifier: codeVerifier, expectedState: state });
    expect(tokens.access_token).toBeTruthy();
    // Only pushed request_uris: any other is refused, as request_uri_parameter_supported says.
    expect(advertised('request_uri_parameter_supported')).toBe(false);
    const foreign = await fetch(`${server.issuer}/auth?client_id=${app.clientId}&request_uri=${encodeURIComponent('https://attacker.example.test/request.jwt')}`, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(foreign.status).toBeGreaterThanOrEqual(300);
    expect(String(foreign.headers.get('location') ?? '')).not.toContain('code=');
  });

  it('userinfo, introspection (signed with every advertised algorithm), revocation and end-session all answer', async () => {
    const { tokens } = await authorize({ scope: 'openid email offline_access notes:read' }, 'query');
    expect(advertised('userinfo_endpoint')).toBe(`${server.issuer}/me`);
    expect((await client.fetchUserInfo(app.config, tokens.access_token, person.id)).email).toBe(person.email);

    const introspectionEndpoint = String(advertised('introspection_endpoint'));
    for (const alg of list('introspection_signing_alg_values_supported')) {
      const { client: own, clientSecret } = await server.stores.clients.create({ name: `Introspects ${alg}`, redirectUris: ['https://own.example.test/cb'], scope: 'openid', introspectionSignedResponseAlg: alg as 'ES256' | 'RS256' });
      const res = await fetch(introspectionEndpoint, { method: 'POST', headers: { 'content-type': FORM, accept: 'application/token-introspection+jwt', authorization: basic(own.clientId, clientSecret!) }, body: new URLSearchParams({ token: tokens.access_token }) });
      expect(res.status, alg).toBe(200);
      expect(decodeProtectedHeader(await res.text()).alg, alg).toBe(alg);
    }

    const revocation = await fetch(String(advertised('revocation_endpoint')), { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ token: tokens.refresh_token! }) });
    expect(revocation.status).toBe(200);
    const after = await client.tokenIntrospection(app.config, tokens.refresh_token!);
    expect(after.active).toBe(false);

    const endSession = await agent.request(`${String(advertised('end_session_endpoint'))}?client_id=${app.clientId}`);
    expect(endSession.status).toBe(200);
    expect(endSession.body).toContain('/session/end/confirm');
  });

  it('every advertised ui_locales value shows the sign-in page in that language, and exactly the catalogs present are advertised', async () => {
    const locales = list('ui_locales_supported');
    const catalogs = readdirSync(fileURLToPath(new URL('../../locales/', import.meta.url))).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    expect([...locales].sort()).toEqual([...catalogs].sort());
    for (const locale of locales) {
      // A fresh browser: signed out, so the sign-in page is what the request shows.
      const stranger = new UserAgent(server.issuer);
      const request = await authorizationRequest(app, { ui_locales: locale });
      const page = await stranger.follow(String(request.url));
      expect(page.body, locale).toContain(`<html lang="${locale}">`);
      expect(page.body, locale).toContain('name="password"');
    }
  });

  it('advertises nothing the tests above do not use', () => {
    expect(Object.keys(metadata).filter((member) => !checked.has(member))).toEqual([]);
  });
});
