// The discovery document, walked member by member: every value it advertises is used here, the
// way an app or an API would use it, and works. A member this file does not know fails the last
// test, so nothing new is advertised without being shown to work.
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startLogoutReceiver } from '../support/logout-receiver.js';
import { ACR_VALUES } from '../../src/factors/levels.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from '../../src/vocabulary.js';
import { proof, proofKey } from '../support/dpop.js';
import { written } from '../support/changes.js';

const NOTES_API = 'https://notes.example.test';
const FILES_API = 'https://files.example.test';
const FORM = 'application/x-www-form-urlencoded';

let server: TestServer;
let metadata: Record<string, unknown>;
let app: App;
/** The notes API's own credentials (it introspects, and exchanges tokens, with them). */
let notesApi: { clientId: string; secret: string };
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
  const notes = await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read', isDefault: true });
  notesApi = { clientId: notes.clientId, secret: notes.clientSecret! };
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

  it('every grant type works: the code above, refresh_token, client_credentials, the device code and token exchange below', async () => {
    const grantTypes = list('grant_types_supported');
    expect(grantTypes).toEqual(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', TOKEN_EXCHANGE_GRANT]);
    const { tokens } = await authorize({ scope: 'openid offline_access notes:read' }, 'query');
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    const machine = await machineClient();
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(machine.clientId, machine.secret!) }, body: 'grant_type=client_credentials&scope=notes%3Aread' });
    expect(res.status).toBe(200);

    // Token exchange (RFC 8693): the notes API exchanges a person's token for the files API.
    const { clientId, clientSecret } = await server.stores.resources.create({ identifier: FILES_API, name: 'Files', scope: 'files:read' });
    await written(server, () => server.stores.resources.update(NOTES_API, { mayExchangeFor: [FILES_API] }));
    const delegating = await registerApp(server, { scope: 'openid notes:read files:read' });
    const request = await authorizationRequest(delegating, { scope: 'openid notes:read files:read', resource: NOTES_API });
    request.url.searchParams.append('resource', FILES_API);
    const personTokens = await client.authorizationCodeGrant(delegating.config, await signIn(agent, request.url, person), {
      pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce,
    }, { resource: NOTES_API });
    const exchanged = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basic(notesApi.clientId, notesApi.secret) },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: personTokens.access_token, subject_token_type: ACCESS_TOKEN_TYPE, resource: FILES_API }),
    });
    expect(exchanged.status).toBe(200);
    const { access_token: downstream } = (await exchanged.json()) as { access_token: string };
    const introspected = await fetch(`${server.issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(clientId, clientSecret!) }, body: new URLSearchParams({ token: downstream }) });
    expect(await introspected.json()).toMatchObject({ active: true, aud: FILES_API, scope: 'files:read' });
    // With a DPoP proof of every advertised algorithm, the exchanged token is bound to its key.
    for (const alg of list('dpop_signing_alg_values_supported')) {
      const key = await proofKey(alg);
      const bound = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: basic(notesApi.clientId, notesApi.secret), dpop: await proof(key, { alg, htm: 'POST', htu: `${server.issuer}/token` }) },
        body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: personTokens.access_token, subject_token_type: ACCESS_TOKEN_TYPE, resource: FILES_API }),
      });
      const body = (await bound.json()) as { token_type: string; access_token: string };
      expect(bound.status, alg).toBe(200);
      expect(body.token_type, alg).toBe('DPoP');
      expect(decodeJwt(body.access_token).cnf, alg).toEqual({ jkt: key.thumbprint });
    }
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

  it('every authentication level can be asked for with acr_values: a password meets the first, a person without a second factor is refused the others', async () => {
    const levels = list('acr_values_supported');
    expect(levels).toEqual([...ACR_VALUES]);
    const { tokens } = await authorize({ scope: 'openid', acr_values: levels[0]! }, 'query');
    expect(tokens.claims()!.acr).toBe(levels[0]);
    for (const level of levels.slice(1)) {
      const request = await authorizationRequest(app, { scope: 'openid', acr_values: level });
      const page = await agent.follow(String(request.url));
      expect(new URL(page.leftTo!).searchParams.get('error'), level).toBe('unmet_authentication_requirements');
    }
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

  it('introspection and revocation take every advertised client authentication method, and private_key_jwt with every advertised algorithm', async () => {
    for (const endpoint of ['introspection', 'revocation'] as const) {
      const url = String(advertised(`${endpoint}_endpoint`));
      expect(list(`${endpoint}_endpoint_auth_methods_supported`)).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
      /** Each client asks about its own token, which both endpoints answer for any client. */
      const ask = async (token: string, auth: { headers?: Record<string, string>; form?: Record<string, string> }) => {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': FORM, ...auth.headers }, body: new URLSearchParams({ token, ...auth.form }) });
        expect(res.status, `${endpoint} ${JSON.stringify(auth.form ?? auth.headers)}`).toBe(200);
        if (endpoint === 'introspection') expect(((await res.json()) as { active: boolean }).active).toBe(true);
      };
      const ownToken = async (credentials: { clientId: string; secret?: string | undefined }) => {
        const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(credentials.clientId, credentials.secret!) }, body: 'grant_type=client_credentials&scope=notes%3Aread' });
        return ((await res.json()) as { access_token: string }).access_token;
      };

      const basicClient = await machineClient();
      await ask(await ownToken(basicClient), { headers: { authorization: basic(basicClient.clientId, basicClient.secret!) } });
      const postClient = await machineClient({ tokenEndpointAuthMethod: 'client_secret_post' });
      const postToken = await (await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read', client_id: postClient.clientId, client_secret: postClient.secret! }) })).json() as { access_token: string };
      await ask(postToken.access_token, { form: { client_id: postClient.clientId, client_secret: postClient.secret! } });

      // none: a public app about the refresh token of its own sign-in.
      const publicApp = await registerApp(server, { scope: 'openid offline_access', public: true });
      const request = await authorizationRequest(publicApp, { scope: 'openid offline_access', prompt: 'consent' });
      const page = await agent.follow(String(request.url));
      const consent = formOf(page.body, /\/confirm$/);
      const back = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
      const tokens = await client.authorizationCodeGrant(publicApp.config, new URL(back.leftTo!), { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
      await ask(tokens.refresh_token!, { form: { client_id: publicApp.clientId } });

      for (const alg of list(`${endpoint}_endpoint_auth_signing_alg_values_supported`)) {
        const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
        const keyClient = await machineClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: alg, alg }] } });
        const assertion = () => new SignJWT({})
          .setProtectedHeader({ alg, kid: alg })
          .setIssuer(keyClient.clientId).setSubject(keyClient.clientId).setAudience(server.issuer)
          .setJti(randomUUID()).setIssuedAt().setExpirationTime('1m')
          .sign(privateKey);
        const form = async () => ({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion() });
        const issued = await (await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read', ...(await form()) }) })).json() as { access_token: string };
        await ask(issued.access_token, { form: await form() });
      }
    }
  });

  it('every advertised prompt value: none answers at once, login asks for the password, consent asks again', async () => {
    expect(list('prompt_values_supported')).toEqual(['none', 'login', 'consent']);
    const { tokens } = await authorize({ scope: 'openid' }, 'query'); // signed in, and consent given
    expect(tokens.id_token).toBeTruthy();
    const none = await agent.follow(String((await authorizationRequest(app, { scope: 'openid', prompt: 'none' })).url));
    expect(new URL(none.leftTo!).searchParams.get('code')).toBeTruthy();
    const login = await agent.follow(String((await authorizationRequest(app, { scope: 'openid', prompt: 'login' })).url));
    expect(login.body).toMatch(/name="password"/);
    const consent = await agent.follow(String((await authorizationRequest(app, { scope: 'openid', prompt: 'consent' })).url));
    expect(consent.body).toMatch(/name="decision"/);
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

  it('request objects signed with every advertised algorithm by the app\'s registered key start a sign-in', async () => {
    expect(advertised('request_parameter_supported')).toBe(true);
    for (const alg of list('request_object_signing_alg_values_supported')) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const kid = randomUUID();
      const { client: registered, clientSecret } = await server.stores.clients.create({
        name: `Signs with ${alg}`, redirectUris: [app.redirectUri], scope: 'openid', requireSignedRequestObject: true,
        jwks: { keys: [{ ...(await exportJWK(publicKey)), kid }] as never },
      });
      const signer = await client.discovery(new URL(server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const request = await new SignJWT({
        response_type: 'code', client_id: registered.clientId, redirect_uri: app.redirectUri, scope: 'openid', state,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
      })
        .setProtectedHeader({ alg, kid, typ: 'oauth-authz-req+jwt' })
        .setIssuer(registered.clientId).setAudience(server.issuer).setIssuedAt().setExpirationTime('5m')
        .sign(privateKey);
      const url = new URL(`${server.issuer}/auth?${new URLSearchParams({ client_id: registered.clientId, request })}`);
      const tokens = await client.authorizationCodeGrant(signer, await signIn(agent, url, person), { pkceCodeVerifier: codeVerifier, expectedState: state });
      expect(tokens.access_token, alg).toBeTruthy();
    }
  });

  it('DPoP proofs with every advertised algorithm get bound tokens; a bound token works at userinfo with openid-client\'s DPoP handle', async () => {
    const machine = await machineClient();
    for (const alg of list('dpop_signing_alg_values_supported')) {
      const key = await proofKey(alg);
      const res = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: basic(machine.clientId, machine.secret!), dpop: await proof(key, { alg, htm: 'POST', htu: `${server.issuer}/token` }) },
        body: 'grant_type=client_credentials&scope=notes%3Aread',
      });
      const body = (await res.json()) as { token_type: string; access_token: string };
      expect(res.status, alg).toBe(200);
      expect(body.token_type, alg).toBe('DPoP');
      expect(decodeJwt(body.access_token).cnf, alg).toEqual({ jkt: key.thumbprint });
    }
    const DPoP = client.getDPoPHandle(app.config, await client.randomDPoPKeyPair('ES256'));
    const request = await authorizationRequest(app, { scope: 'openid email' });
    const tokens = await client.authorizationCodeGrant(app.config, await signIn(agent, request.url, person), { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }, undefined, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    expect((await client.fetchUserInfo(app.config, tokens.access_token, person.id, { DPoP })).email).toBe(person.email);
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

  it('back-channel logout, with sessions: an app\'s URI gets a logout token naming the sid its ID token carried when the person signs out', async () => {
    expect(advertised('backchannel_logout_supported')).toBe(true);
    expect(advertised('backchannel_logout_session_supported')).toBe(true);
    // Every app's ID tokens carry sid, registered for back-channel logout or not.
    const { tokens } = await authorize({ scope: 'openid' }, 'query');
    expect(tokens.claims()!.sid).toEqual(expect.any(String));

    const receiver = await startLogoutReceiver();
    try {
      const { client: registered, clientSecret } = await server.stores.clients.create({
        name: 'Told App', redirectUris: [app.redirectUri], backchannelLogoutUri: receiver.uri, backchannelLogoutSessionRequired: true,
      });
      const told: App = { ...app, clientId: registered.clientId, clientSecret, config: await client.discovery(new URL(server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] }) };
      const browser = new UserAgent(server.issuer);
      const request = await authorizationRequest(told, { scope: 'openid' });
      const signedIn = await client.authorizationCodeGrant(told.config, await signIn(browser, request.url, person), { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
      const page = await browser.request(`${String(advertised('end_session_endpoint'))}?client_id=${told.clientId}`);
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
      expect((await browser.request(`${server.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })).status).toBe(303);
      await server.deliveries.sender.deliverDue();
      expect(receiver.tokens).toHaveLength(1);
      const { payload } = await jwtVerify(receiver.tokens[0]!, createRemoteJWKSet(new URL(String(advertised('jwks_uri')))), {
        issuer: server.issuer, audience: told.clientId, typ: 'logout+jwt',
      });
      expect(payload).toMatchObject({ sub: person.id, sid: signedIn.claims()!.sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    } finally {
      await receiver.close();
    }
  });

  it('the device authorization endpoint: a code typed at /device by a signed-in person gives the device tokens', async () => {
    const { client: tv } = await server.stores.clients.create({ name: 'TV', redirectUris: ['https://tv.example.test/cb'], public: true, deviceCode: true, scope: 'openid notes:read' });
    const started = await fetch(String(advertised('device_authorization_endpoint')), { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ client_id: tv.clientId, scope: 'openid notes:read' }) });
    expect(started.status).toBe(200);
    const device = (await started.json()) as { device_code: string; user_code: string; verification_uri: string };
    let page = await agent.follow(device.verification_uri);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
    await agent.follow(device.verification_uri, { form: { xsrf, user_code: device.user_code } });
    page = await agent.follow(device.verification_uri, { form: { xsrf, user_code: device.user_code, confirm: 'yes' } });
    if (/name="decision"/.test(page.body)) {
      const consent = formOf(page.body, /\/confirm$/);
      page = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
    }
    expect(page.body).toContain('Your device is connected');
    const res = await fetch(String(advertised('token_endpoint')), { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: tv.clientId }) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { access_token?: string }).access_token).toBeTruthy();
  });

  it('the registration endpoint: an app registers with an initial access token, reads its registration and signs a person in', async () => {
    const { token } = await server.operations.registration.create({ type: 'system', id: null }, { scope: 'openid notes:read' });
    const registered = await client.dynamicClientRegistration(new URL(server.issuer), { redirect_uris: ['https://registered.example.test/cb'], scope: 'openid notes:read' }, undefined, { initialAccessToken: token, execute: [client.allowInsecureRequests] });
    const metadata = registered.clientMetadata();
    expect(String(metadata.registration_client_uri)).toBe(`${String(advertised('registration_endpoint'))}/${metadata.client_id}`);
    const read = await fetch(String(metadata.registration_client_uri), { headers: { authorization: `Bearer ${String(metadata.registration_access_token)}` } });
    expect(read.status).toBe(200);
    const own: App = { config: registered, clientId: metadata.client_id, clientSecret: String(metadata.client_secret), redirectUri: 'https://registered.example.test/cb' };
    const request = await authorizationRequest(own, { scope: 'openid notes:read' });
    const back = await signIn(agent, request.url, person);
    const tokens = await client.authorizationCodeGrant(registered, back, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(tokens.access_token).toBeTruthy();
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
