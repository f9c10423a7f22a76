// Pushed and signed authorization requests as an app makes them with openid-client: JAR (RFC 9101)
// request objects signed by the app's registered keys, by value and pushed (RFC 9126); apps
// registered to require either; unsigned or foreign-signed request objects refused; and
// REQUIRE_PAR, which holds every app to pushed requests while Gatehouse's own pages still sign in.
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';

const REDIRECT = 'https://app.example.test/callback';

let server: TestServer;
let person: Awaited<ReturnType<typeof createPerson>>;

interface KeyedApp extends App { privateKey: CryptoKey; kid: string }

/** An app registered with its public key (jwks), as `client create --jwks-file` registers one. */
async function appWithKey(on: TestServer, options: { requireSignedRequestObject?: boolean; requirePar?: boolean } = {}): Promise<KeyedApp> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const { client: registered, clientSecret } = await on.stores.clients.create({
    name: 'Signs its requests', redirectUris: [REDIRECT], scope: 'openid email',
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] as never },
    ...options,
  });
  const config = await client.discovery(new URL(on.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { config, clientId: registered.clientId, clientSecret, redirectUri: REDIRECT, privateKey, kid };
}

async function plainApp(on: TestServer, options: { requirePar?: boolean } = {}): Promise<App> {
  const { client: registered, clientSecret } = await on.stores.clients.create({ name: 'Plain', redirectUris: [REDIRECT], scope: 'openid email', ...options });
  const config = await client.discovery(new URL(on.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { config, clientId: registered.clientId, clientSecret, redirectUri: REDIRECT };
}

async function checks() {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  return {
    codeVerifier, state,
    params: { redirect_uri: REDIRECT, scope: 'openid email', state, code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256' },
  };
}

/** Signs in at `url` and exchanges the code; the tokens, or the error the app was sent back with. */
async function complete(app: App, url: URL, codeVerifier: string, state: string) {
  const callback = await signIn(new UserAgent(server.issuer), url, person);
  return client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state });
}

/** What a browser sent to `url` meets: the app's redirect with an error, or Gatehouse's error page. Never a code. */
async function refusal(url: URL | string): Promise<string> {
  const res = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
  const location = res.headers.get('location') ?? '';
  expect(location).not.toMatch(/[?&]code=/);
  if (res.status >= 300 && res.status < 400 && location.startsWith(REDIRECT)) return new URL(location).searchParams.get('error') ?? '';
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  const body = await res.text();
  expect(body).not.toMatch(/code=/);
  return 'error page';
}

async function push(app: App, params: Record<string, string>) {
  const res = await fetch(`${server.issuer}/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function unsignedRequestObject(app: App, params: Record<string, string>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ ...params, client_id: app.clientId, iss: app.clientId, aud: server.issuer, response_type: 'code' })}.`;
}

beforeAll(async () => {
  server = await startTestServer();
  person = await createPerson(server);
});

afterAll(async () => { await server?.stop(); });

describe('signed request objects (JAR)', () => {
  it('by value: openid-client signs the request with the app\'s key, and the sign-in completes', async () => {
    const app = await appWithKey(server);
    const { codeVerifier, state, params } = await checks();
    const url = await client.buildAuthorizationUrlWithJAR(app.config, params, { key: app.privateKey, kid: app.kid });
    expect(url.searchParams.get('request')).toBeTruthy();
    expect((await complete(app, url, codeVerifier, state)).access_token).toBeTruthy();
  });

  it('pushed: a signed request object through the PAR endpoint', async () => {
    const app = await appWithKey(server);
    const { codeVerifier, state, params } = await checks();
    const { searchParams } = await client.buildAuthorizationUrlWithJAR(app.config, params, { key: app.privateKey, kid: app.kid });
    const url = await client.buildAuthorizationUrlWithPAR(app.config, searchParams);
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect((await complete(app, url, codeVerifier, state)).access_token).toBeTruthy();
  });

  it('an unsigned request object (alg none) is refused, by value and pushed', async () => {
    const app = await appWithKey(server);
    const { params } = await checks();
    const request = unsignedRequestObject(app, params);
    expect(await refusal(`${server.issuer}/auth?${new URLSearchParams({ client_id: app.clientId, request })}`)).toBe('invalid_request_object');
    const pushed = await push(app, { request });
    expect(pushed.status).toBe(400);
    expect(pushed.body.error).toBe('invalid_request_object');
  });

  it('a request object signed by a key the app did not register is refused, by value and pushed', async () => {
    const app = await appWithKey(server);
    const { params } = await checks();
    const { privateKey } = await generateKeyPair('ES256');
    const request = await new SignJWT({ ...params, client_id: app.clientId, response_type: 'code' })
      .setProtectedHeader({ alg: 'ES256', kid: app.kid, typ: 'oauth-authz-req+jwt' })
      .setIssuer(app.clientId).setAudience(server.issuer).setIssuedAt().setExpirationTime('5m')
      .sign(privateKey);
    expect(await refusal(`${server.issuer}/auth?${new URLSearchParams({ client_id: app.clientId, request })}`)).toBe('invalid_request_object');
    const pushed = await push(app, { request });
    expect(pushed.status).toBe(400);
    expect(pushed.body.error).toBe('invalid_request_object');
  });

  it('an app registered with require_signed_request_object is refused a plain request, plain or pushed, and served a signed one', async () => {
    const app = await appWithKey(server, { requireSignedRequestObject: true });
    const { codeVerifier, state, params } = await checks();
    expect(await refusal(client.buildAuthorizationUrl(app.config, params))).toBe('invalid_request');
    const pushedPlain = await push(app, { ...params, response_type: 'code', client_id: app.clientId });
    expect(pushedPlain.status).toBe(400);
    expect(pushedPlain.body.error).toBe('invalid_request');
    const url = await client.buildAuthorizationUrlWithJAR(app.config, params, { key: app.privateKey, kid: app.kid });
    expect((await complete(app, url, codeVerifier, state)).access_token).toBeTruthy();
  });
});

describe('pushed authorization requests required', () => {
  it('an app registered with require_pushed_authorization_requests is refused a plain request and served a pushed one', async () => {
    const app = await plainApp(server, { requirePar: true });
    const { codeVerifier, state, params } = await checks();
    expect(await refusal(client.buildAuthorizationUrl(app.config, params))).toBe('invalid_request');
    const url = await client.buildAuthorizationUrlWithPAR(app.config, params);
    expect((await complete(app, url, codeVerifier, state)).access_token).toBeTruthy();
  });

  describe('REQUIRE_PAR=true', () => {
    let strict: TestServer;
    beforeAll(async () => { strict = await startTestServer({ REQUIRE_PAR: 'true' }); });
    afterAll(async () => { await strict?.stop(); });

    it('discovery says so; every app is refused a plain request and served a pushed one', async () => {
      const metadata = (await (await fetch(`${strict.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(metadata.require_pushed_authorization_requests).toBe(true);
      const app = await plainApp(strict);
      const { codeVerifier, state, params } = await checks();
      expect(await refusal(client.buildAuthorizationUrl(app.config, params))).toBe('invalid_request');
      const url = await client.buildAuthorizationUrlWithPAR(app.config, params);
      const strictPerson = await strict.stores.users.create({ email: 'par@example.test', name: 'Par', password: person.password, emailVerified: true });
      const callback = await signIn(new UserAgent(strict.issuer), url, { email: strictPerson.email, password: person.password });
      expect((await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state })).access_token).toBeTruthy();
    });

    it('Gatehouse\'s own account pages still sign people in', async () => {
      await strict.stores.users.create({ email: 'own@example.test', name: 'Own', password: person.password, emailVerified: true });
      const agent = new UserAgent(strict.issuer);
      let page = await agent.follow(`${strict.issuer}/account`);
      expect(page.body).toMatch(/name="password"/);
      const login = formOf(page.body, /\/login$/);
      page = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: 'own@example.test', password: person.password } });
      expect(page.url).toBe(`${strict.issuer}/account`);
      expect(page.status).toBe(200);
    });
  });
});
