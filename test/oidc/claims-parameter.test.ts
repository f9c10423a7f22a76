// The claims parameter (OIDC Core §5.5): an app asks for single claims, for the ID token or for
// userinfo, essential or not. The person sees each on the consent page and a claim is released
// only once consented to, and only if the app is registered for the scope it belongs to (asking
// beyond the registration: test/security/attacks/overreach.test.ts).
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';

let server: TestServer;
/** Registered for no API: its access tokens are opaque, for userinfo only. */
let app: App;
/** Registered for the default API: its access tokens are JWTs, for the API and userinfo. */
let apiApp: App;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: 'https://notes.example.test', name: 'Notes', scope: 'notes:read', isDefault: true });
  app = await registerApp(server, { scope: 'openid profile email' });
  apiApp = await registerApp(server, { scope: 'openid profile email offline_access notes:read' });
});
afterAll(async () => { await server?.stop(); });

const EMAIL_BOTH_WAYS = JSON.stringify({
  id_token: { email: { essential: true } },
  userinfo: { email: null, phone_number: null },
});

/** Signs in and stops at the consent page, returning it. */
async function consentPageFor(agent: UserAgent, url: URL, person: { email: string; password: string }) {
  const page = await agent.follow(String(url));
  const login = formOf(page.body, /\/login$/);
  return agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
}

async function allow(agent: UserAgent, page: { body: string; url: string }): Promise<URL> {
  const consent = formOf(page.body, /\/confirm$/);
  const done = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
  return new URL(done.leftTo!);
}

describe('the claims parameter', () => {
  it('is advertised', async () => {
    expect(app.config.serverMetadata()).toMatchObject({ claims_parameter_supported: true });
  });

  it('releases email in the ID token and at userinfo after the person consents to exactly that', async () => {
    const person = await createPerson(server, { name: 'Grace Hopper' });
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope: 'openid', claims: EMAIL_BOTH_WAYS });

    const consent = await consentPageFor(agent, request.url, person);
    expect(consent.status).toBe(200);
    expect(consent.body).toContain('Your email address');
    expect(consent.body).toMatch(/<code>email<\/code> <span class="essential">/);
    expect(consent.body).not.toContain('<code>name</code>');
    expect(consent.body).not.toContain('phone_number');

    const callback = await allow(agent, consent);
    const tokens = await client.authorizationCodeGrant(app.config, callback, {
      pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true,
    });
    const idToken = tokens.claims()!;
    expect(idToken.email).toBe(person.email);
    expect(idToken.name).toBeUndefined();
    const userinfo = await client.fetchUserInfo(app.config, tokens.access_token, idToken.sub);
    expect(userinfo.email).toBe(person.email);
    expect(userinfo).not.toHaveProperty('name');
    expect(userinfo).not.toHaveProperty('email_verified');
    expect(userinfo).not.toHaveProperty('phone_number');

    const [recorded] = await server.testDb.db('audit_events').where({ type: 'consent.given', user_id: person.id });
    expect(recorded.details).toMatchObject({ claims: ['email'] });

    // Consent to the claim is remembered like consent to a scope: no page the second time.
    const again = await authorizationRequest(app, { scope: 'openid', claims: EMAIL_BOTH_WAYS });
    again.url.searchParams.delete('prompt');
    const back = await agent.follow(String(again.url));
    expect(new URL(back.leftTo!).searchParams.get('code')).toBeTruthy();
  });

  it('releases a userinfo claim for a JWT access token (an app of an API) as for an opaque one', async () => {
    const person = await createPerson(server);
    const request = await authorizationRequest(apiApp, { scope: 'openid offline_access notes:read', claims: JSON.stringify({ userinfo: { email: { essential: true } } }) });
    const tokens = await client.authorizationCodeGrant(apiApp.config, await signIn(new UserAgent(server.issuer), request.url, person), {
      pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce,
    });
    expect(tokens.access_token.split('.')).toHaveLength(3);
    const userinfo = await client.fetchUserInfo(apiApp.config, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo).toEqual({ sub: person.id, email: person.email });
    // The refreshed token remembers the request as well.
    const refreshed = await client.refreshTokenGrant(apiApp.config, tokens.refresh_token!);
    expect(await client.fetchUserInfo(apiApp.config, refreshed.access_token, person.id)).toEqual({ sub: person.id, email: person.email });
  });

  it('releases nothing beyond what was consented: a new claim needs the person again', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const first = await authorizationRequest(app, { scope: 'openid', claims: JSON.stringify({ userinfo: { email: null } }) });
    const tokens = await client.authorizationCodeGrant(app.config, await signIn(agent, first.url, person), {
      pkceCodeVerifier: first.codeVerifier, expectedState: first.state, expectedNonce: first.nonce,
    });

    const silently = await authorizationRequest(app, { scope: 'openid', prompt: 'none', claims: JSON.stringify({ userinfo: { name: { essential: true } } }) });
    const refused = new URL((await agent.follow(String(silently.url))).leftTo!);
    expect(refused.searchParams.get('error')).toBe('consent_required');

    const userinfo = await client.fetchUserInfo(app.config, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo).toEqual({ sub: person.id, email: person.email });
  });

  it('shows a claim asked for again with prompt=consent, instead of an empty page', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const claims = JSON.stringify({ id_token: { email: null } });
    await signIn(agent, (await authorizationRequest(app, { scope: 'openid', claims })).url, person);
    const page = await agent.follow(String((await authorizationRequest(app, { scope: 'openid', claims, prompt: 'consent' })).url));
    expect(page.body).toContain('Your email address');
  });
});
