// What operators set: an app's minimum sign-in level, administrators needing a second factor for
// the console (ADMIN_REQUIRE_SECOND_FACTOR, on by default), and an administrator removing a
// person's factors when they lost them.
import { randomBytes } from 'node:crypto';
import { decodeJwt, importJWK, SignJWT, type JWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR_TWO_FACTORS } from '../../src/factors/levels.js';
import { loadConfig } from '../../src/config.js';
import { keyStoreFor, signingJwk } from '../../src/keys/signing-keys.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import type { TestServer } from '../support/gatehouse.js';
import { UserAgent } from '../support/user-agent.js';
import { ageSignIns } from '../support/oidc-records.js';
import { signInToAccount } from '../account/support.js';
import { createAdmin } from '../admin/console/support.js';
import { ADMIN_SCOPE, basic, clientCredentialsToken } from '../admin/api/support.js';
import { enrolAuthenticator, post } from './support.js';

let mailing: MailingServer;
let server: TestServer;
let offset = 0;
const clock = () => Date.now() + offset;
function step() {
  offset += 30_000;
  mailing.advance(30_000);
}

beforeAll(async () => {
  // The tests' configuration turns the admin rule off for every other test file; here it is on, as by default.
  mailing = await startMailingServer({ ADMIN_REQUIRE_SECOND_FACTOR: 'true' });
  server = mailing.server;
});

afterAll(async () => {
  await mailing?.stop();
});

async function appRequiring(level: string): Promise<App> {
  const redirectUri = 'https://strict.example.test/callback';
  const { client: registered, clientSecret } = await server.stores.clients.create({ name: 'Strict App', redirectUris: [redirectUri], requireAcr: level as never });
  const config = await client.discovery(new URL(server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { config, clientId: registered.clientId, clientSecret, redirectUri };
}

describe('an app that requires two factors', () => {
  it('sends a person without a second factor back to the app with unmet_authentication_requirements', async () => {
    const app = await appRequiring(ACR_TWO_FACTORS);
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app);
    const login = await agent.follow(request.url.href);
    const back = await post(agent, login, /\/login$/, { email: person.email, password: person.password });
    const error = new URL(back.leftTo!);
    expect(error.origin + error.pathname).toBe(app.redirectUri);
    expect(error.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(error.searchParams.get('state')).toBe(request.state);
  });

  it('lets a person with an authenticator app in, at the two-factor level', async () => {
    const app = await appRequiring(ACR_TWO_FACTORS);
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const { app: authenticator } = await enrolAuthenticator(server, agent, clock());
    step();
    // Already signed in with the password alone: asked only for the code.
    const request = await authorizationRequest(app);
    const page = await agent.follow(request.url.href);
    expect(page.body).toContain('autocomplete="one-time-code"');
    let done = await post(agent, page, /\/second-factor$/, { code: authenticator.code(clock()) });
    if (!done.leftTo) done = await post(agent, done, /\/confirm$/, { decision: 'allow' });
    const tokens = await client.authorizationCodeGrant(app.config, new URL(done.leftTo!), { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(tokens.claims()!.acr).toBe(ACR_TWO_FACTORS);
  });

  it('refuses a minimum the registration cannot hold', async () => {
    await expect(server.stores.clients.create({ name: 'x', redirectUris: ['https://x.example.test/cb'], requireAcr: 'gold' as never })).rejects.toThrow(/level/);
    await expect(server.stores.clients.create({ name: 'x', clientCredentials: true, scope: 'openid', requireAcr: ACR_TWO_FACTORS })).rejects.toThrow(/sign-in level/);
  });
});

describe('administrators need a second factor (ADMIN_REQUIRE_SECOND_FACTOR)', () => {
  it('is on by default', () => {
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: '/tmp/unused' }).adminSecondFactor).toBe(true);
  });

  it('an admin with a password only is refused from the console, and told to add an authenticator app', async () => {
    const admin = await createAdmin(server);
    const agent = new UserAgent(server.issuer);
    const login = await agent.follow(`${server.issuer}/admin/people`);
    const page = await post(agent, login, /\/login$/, { email: admin.email, password: admin.password });
    expect(page.status).toBe(403);
    expect(page.body).toContain('A second sign-in step is needed');
    expect(page.body).not.toContain('admin-nav');
    // Still refused on the next try: a password-only session never reaches the console.
    const again = await agent.follow(`${server.issuer}/admin/people`);
    expect(again.status).toBe(403);
  });

  it('an admin with an authenticator app gets in after the code', async () => {
    const admin = await createAdmin(server);
    const { agent } = await signInToAccount(server, admin, '/account/security');
    const { app: authenticator } = await enrolAuthenticator(server, agent, clock());
    step();
    const page = await agent.follow(`${server.issuer}/admin/people`);
    expect(page.body).toContain('autocomplete="one-time-code"');
    const consoleHome = await post(agent, page, /\/second-factor$/, { code: authenticator.code(clock()) });
    expect(consoleHome.status).toBe(200);
    expect(consoleHome.url).toBe(`${server.issuer}/admin/people`);

    // From the console, the admin removes the second factors of a person who lost their phone.
    const person = await createPerson(server);
    const own = await signInToAccount(server, person, '/account/security');
    await enrolAuthenticator(server, own.agent, clock());
    const personPage = await agent.follow(`${server.issuer}/admin/people/${person.id}`);
    expect(personPage.body).toContain('My phone');
    const done = await post(agent, personPage, `/admin/people/${person.id}/factors/reset`, {});
    expect(done.status).toBe(200);
    expect(done.body).toContain('Every second factor of the person was removed');
    expect(await server.testDb.db('factors').where({ user_id: person.id })).toHaveLength(0);
    const audit = await server.testDb.db('audit_events').where({ user_id: person.id, type: 'factor.reset' });
    expect(audit[0]).toMatchObject({ actor_type: 'user', actor_id: admin.id });

    // Sixteen minutes after the sign-in, reading still works, but an action sends the admin to
    // sign in again (max_age=900) and does nothing: the form is not replayed.
    expect(await ageSignIns(server.testDb.db, admin.id, 16 * 60)).toBeGreaterThan(0);
    const later = await agent.follow(`${server.issuer}/admin/people/${person.id}`);
    expect(later.status).toBe(200);
    const disable = /<form method="post" action="([^"]*\/disable)"[\s\S]*?name="csrf" value="([^"]+)"/.exec(later.body)!;
    const refused = await agent.request(new URL(disable[1]!, server.issuer).href, { form: { csrf: disable[2]! } });
    expect(refused.status).toBe(303);
    const signIn = new URL(refused.headers.get('location')!, server.issuer);
    expect(signIn.searchParams.get('max_age')).toBe('900');
    expect((await server.stores.users.findById(person.id))?.disabledAt).toBeNull();
  });
});

describe('an admin\'s own token for the admin API, through an admin app', () => {
  const ADMIN_API = () => `${server.issuer}/admin/api/v1`;

  /** An app an operator registered with --admin: admins sign in through it to use the admin API as themselves. */
  async function adminApp(): Promise<App> {
    const redirectUri = 'https://ops.example.test/callback';
    const { client: registered, clientSecret } = await server.stores.clients.create({ name: 'Ops Board', redirectUris: [redirectUri], admin: true });
    const config = await client.discovery(new URL(server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    return { config, clientId: registered.clientId, clientSecret, redirectUri };
  }

  /** A person with an authenticator app signs in through the app, asked for the admin scope, and allows it. */
  async function tokenFor(app: App, person: { email: string; password: string }) {
    const { agent } = await signInToAccount(server, person as never, '/account/security');
    const { app: authenticator } = await enrolAuthenticator(server, agent, clock());
    step();
    const browser = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope: `openid ${ADMIN_SCOPE}` });
    const login = await browser.follow(request.url.href);
    const second = await post(browser, login, /\/login$/, { email: person.email, password: person.password });
    // Two factors, as for the console: the sign-in asks for the code.
    expect(second.body).toContain('autocomplete="one-time-code"');
    const consent = await post(browser, second, /\/second-factor$/, { code: authenticator.code(clock()) });
    // The consent page says what the app gets: to administer Gatehouse as this person.
    expect(consent.body).toContain('Administer Gatehouse as you');
    const back = await post(browser, consent, /\/confirm$/, { decision: 'allow' });
    const tokens = await client.authorizationCodeGrant(app.config, new URL(back.leftTo!), { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
    return tokens.access_token;
  }

  /** An admin API token as this server signs them, for states no flow reaches while the rules hold. */
  async function signedByServer(claims: Record<string, unknown>): Promise<string> {
    const jwk = signingJwk(await keyStoreFor(server.config, server.db).loadKeySet(), 'ES256') as JWK;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomBytes(12).toString('hex'), iat: now, exp: now + 300, iss: server.issuer, aud: ADMIN_API(), scope: ADMIN_SCOPE, ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid! })
      .sign(await importJWK(jwk, 'ES256'));
  }

  const call = (token: string, method: string, path: string) => fetch(`${ADMIN_API()}${path}`, { method, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });

  it('is issued after the second factor and acts as the admin: the audit log names them', async () => {
    const app = await adminApp();
    const admin = await createAdmin(server);
    const token = await tokenFor(app, admin);
    expect(decodeJwt(token)).toMatchObject({ aud: ADMIN_API(), sub: admin.id, client_id: app.clientId, scope: ADMIN_SCOPE, acr: ACR_TWO_FACTORS });
    const person = await createPerson(server);
    expect((await call(token, 'POST', `/users/${person.id}/disable`)).status).toBe(200);
    await server.audit.flush();
    const [entry] = await server.testDb.db('audit_events').where({ user_id: person.id, type: 'user.disabled' });
    expect(entry).toMatchObject({ actor_type: 'user', actor_id: admin.id, client_id: null });
  });

  it('cannot disable or delete its own admin, nor give them a new password or remove their sign-in methods: 409, and nothing changes', async () => {
    const app = await adminApp();
    const admin = await createAdmin(server);
    // Another admin stays active: the last-admin rule is not what refuses here.
    await createAdmin(server);
    const token = await tokenFor(app, admin);
    const before = await server.testDb.db('users').where({ id: admin.id }).first('password_hash', 'disabled_at');
    const acts: Array<[string, string, unknown?]> = [
      ['POST', `/users/${admin.id}/disable`],
      ['DELETE', `/users/${admin.id}`],
      ['POST', `/users/${admin.id}/password`, { password: 'a brand new passphrase here' }],
      ['POST', `/users/${admin.id}/factors/reset`],
    ];
    for (const [method, path, body] of acts) {
      const res = await fetch(`${ADMIN_API()}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(409);
      expect(await res.json(), `${method} ${path}`).toEqual({ error: 'conflict', error_description: expect.stringMatching(/their own/) });
    }
    expect(await server.testDb.db('users').where({ id: admin.id }).first('password_hash', 'disabled_at')).toEqual(before);
    expect((await server.testDb.db('factors').where({ user_id: admin.id })).length).toBeGreaterThan(0);
    await server.audit.flush();
    expect(await server.testDb.db('audit_events').where({ user_id: admin.id }).whereIn('type', ['user.disabled', 'user.deleted', 'user.password_reset', 'factor.reset'])).toEqual([]);
    // The token still acts: the refusals were about the account, not the caller.
    expect((await call(token, 'GET', `/users/${admin.id}`)).status).toBe(200);
  });

  it('sends an admin with a password alone back to the app with unmet_authentication_requirements', async () => {
    const app = await adminApp();
    const admin = await createAdmin(server);
    const browser = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope: `openid ${ADMIN_SCOPE}` });
    const back = await post(browser, await browser.follow(request.url.href), /\/login$/, { email: admin.email, password: admin.password });
    expect(new URL(back.leftTo!).searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('issues nothing for the admin API to a person who is not an admin: the app is told after their sign-in, before any consent', async () => {
    const app = await adminApp();
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const { app: authenticator } = await enrolAuthenticator(server, agent, clock());
    step();
    const browser = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope: `openid ${ADMIN_SCOPE}` });
    const second = await post(browser, await browser.follow(request.url.href), /\/login$/, { email: person.email, password: person.password });
    const back = await post(browser, second, /\/second-factor$/, { code: authenticator.code(clock()) });
    const answer = new URL(back.leftTo!);
    expect(answer.origin + answer.pathname).toBe(app.redirectUri);
    expect(answer.searchParams.get('error')).toBe('invalid_target');
    expect(answer.searchParams.get('code')).toBeNull();
    // The API refuses such a token too, should one exist (one issued while the person was an admin).
    const res = await call(await signedByServer({ client_id: app.clientId, sub: person.id, acr: ACR_TWO_FACTORS }), 'GET', '/users');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('insufficient_scope');
  });

  it('refuses an admin\'s token from a password-only sign-in (issued before the rule was on) with insufficient_user_authentication', async () => {
    const app = await adminApp();
    const admin = await createAdmin(server);
    // No flow issues one while the rule is on: signed as this server signs, as one issued before.
    const res = await call(await signedByServer({ client_id: app.clientId, sub: admin.id, acr: 'urn:gatehouse:acr:1fa', amr: ['pwd'] }), 'GET', '/users');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication"');
    expect(res.headers.get('www-authenticate')).toContain(`acr_values="${ACR_TWO_FACTORS}"`);
  });

  it('is refused to a machine client that is not an admin client, and by the device flow', async () => {
    const { client: plain, clientSecret } = await server.stores.clients.create({ name: 'Reports', clientCredentials: true, scope: 'openid' });
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(plain.clientId, clientSecret!) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: ADMIN_SCOPE, resource: ADMIN_API() }),
    });
    expect(res.status).toBe(400);
    await expect(server.stores.clients.create({ name: 'TV', redirectUris: ['https://tv.example.test/cb'], admin: true, deviceCode: true })).rejects.toThrow(/admin client is confidential/);
    await expect(server.stores.clients.create({ name: 'SPA', redirectUris: ['https://spa.example.test/cb'], admin: true, public: true })).rejects.toThrow(/admin client is confidential/);
  });
});

describe('an administrator removes a person\'s factors', () => {
  it('through the admin API: the factors go, the person is signed out and told, the audit log says so, no secret is shown', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const { app: authenticator } = await enrolAuthenticator(server, agent, clock());
    const { client: adminClient, clientSecret } = await server.stores.clients.create({ name: 'Ops', clientCredentials: true, admin: true });
    const token = await clientCredentialsToken(server, adminClient.clientId, clientSecret!, { scope: ADMIN_SCOPE });
    const call = (method: string, path: string) => fetch(`${server.issuer}/admin/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });

    const listed = await call('GET', `/users/${person.id}/factors`);
    expect(listed.status).toBe(200);
    const text = await listed.text();
    expect(text).not.toContain(authenticator.secret);
    expect((JSON.parse(text) as { factors: Array<{ kind: string }> }).factors.map((f) => f.kind)).toEqual(['totp', 'recovery_codes']);

    const reset = await call('POST', `/users/${person.id}/factors/reset`);
    expect(reset.status).toBe(200);
    const body = (await reset.json()) as { removed: unknown[]; sessions_ended: number };
    expect(body.removed).toHaveLength(2);
    expect(body.sessions_ended).toBeGreaterThanOrEqual(1);
    expect(await server.testDb.db('factors').where({ user_id: person.id })).toHaveLength(0);
    // Signed out: the account page asks for the password again.
    expect((await agent.follow(`${server.issuer}/account`)).body).toMatch(/name="password"/);
    const audit = await server.testDb.db('audit_events').where({ user_id: person.id, type: 'factor.reset' });
    expect(audit).toHaveLength(1);
    expect(audit[0].actor_type).toBe('client');
    await mailing.deliver();
    expect(mailing.mailsTo(person.email).map((m) => m.subject)).toContain('A sign-in method was removed from your Gatehouse account');

    // Their next sign-in tells them too, before it goes on to the app: a mail may go unread.
    const app = await registerApp(server);
    const next = await agent.follow((await authorizationRequest(app)).url.href);
    const told = await post(agent, next, /\/login$/, { email: person.email, password: person.password });
    expect(told.status).toBe(200);
    expect(told.body).toContain('An administrator removed your second factors');
    expect(told.body).toMatch(new RegExp(`<time datetime="${new Date().toISOString().slice(0, 10)}T`));
    expect(told.body).toContain('/account/security');
    const onward = /<a class="button primary" href="([^"]+)">Continue<\/a>/.exec(told.body)![1]!;
    const consent = await agent.follow(new URL(onward, server.issuer).href);
    expect(consent.body).toContain('>Allow<');
    // Once: the sign-in after that goes straight on.
    const later = new UserAgent(server.issuer);
    const again = await post(later, await later.follow((await authorizationRequest(app)).url.href), /\/login$/, { email: person.email, password: person.password });
    expect(again.body).not.toContain('An administrator removed your second factors');
    expect(again.body).toContain('>Allow<');

    // An unknown person is a 404, not a 500.
    expect((await call('POST', '/users/00000000-0000-4000-8000-000000000000/factors/reset')).status).toBe(404);
  });
});

describe('removing a factor oneself', () => {
  it('needs the password or a code first; a wrong one changes nothing', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    await enrolAuthenticator(server, agent, clock());
    const page = await agent.follow(`${server.issuer}/account/security`);
    const totpId = /name="factor" value="([^"]+)"[\s\S]*?Remove My phone/.exec(page.body)?.[1];
    expect(totpId).toBeDefined();
    const refused = await post(agent, page, '/account/security/remove', { factor: totpId!, proof: 'not my password' });
    expect(refused.status).toBe(401);
    expect(await server.testDb.db('factors').where({ user_id: person.id })).toHaveLength(2);
    const done = await post(agent, page, '/account/security/remove', { factor: totpId!, proof: person.password });
    expect(done.status).toBe(200);
    expect(done.body).toContain('That sign-in method is removed.');
    // The recovery codes went with the last authenticator app.
    expect(await server.testDb.db('factors').where({ user_id: person.id })).toHaveLength(0);
    expect(await server.testDb.db('audit_events').where({ user_id: person.id, type: 'factor.removed' })).toHaveLength(1);
  });
});
