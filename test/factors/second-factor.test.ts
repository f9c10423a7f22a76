// Authenticator apps and recovery codes from a person's side: added on /account/security, asked
// for after the password, accepted once, throttled, told about by mail and in the audit log; and
// the level they reach seen by the app (ID token), the API (JWT access token) and introspection.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR_ONE_FACTOR, ACR_TWO_FACTORS } from '../../src/factors/levels.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import type { TestServer } from '../support/gatehouse.js';
import { UserAgent, type Response } from '../support/user-agent.js';
import { signInToAccount } from '../account/support.js';
import { ageSignIns } from '../support/oidc-records.js';
import { authenticatorFor, enrolAuthenticator, post, type Authenticator } from './support.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';

let mailing: MailingServer;
let server: TestServer;
let app: App;
let notes: { clientId: string; clientSecret: string };
let offset = 0;
/** Gatehouse's clock (the mailing server's): the tests move it a time step on, rather than waiting for the next code. */
const clock = () => Date.now() + offset;
function step() {
  offset += 30_000;
  mailing.advance(30_000);
}

beforeAll(async () => {
  mailing = await startMailingServer();
  server = mailing.server;
  const api = await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read notes:write', isDefault: true });
  notes = { clientId: api.clientId, clientSecret: api.clientSecret! };
  app = await registerApp(server, { scope: SCOPE });
});

afterAll(async () => {
  await mailing?.stop();
});

/** Starts a sign-in for `app` and types the password; the page that follows. */
async function passwordStep(agent: UserAgent, person: { email: string; password: string }, params: Record<string, string> = {}) {
  const request = await authorizationRequest(app, params);
  const login = await agent.follow(request.url.href);
  const page = await post(agent, login, /\/login$/, { email: person.email, password: person.password });
  return { request, page };
}

/** Answers consent if asked, and exchanges the code like the app would. */
async function finishAtApp(agent: UserAgent, page: Response & { leftTo?: string }, request: Awaited<ReturnType<typeof authorizationRequest>>) {
  let last = page;
  if (!last.leftTo && /name="decision"/.test(last.body)) last = await post(agent, last, /\/confirm$/, { decision: 'allow' });
  expect(last.leftTo, last.body.slice(0, 500)).toBeDefined();
  return client.authorizationCodeGrant(app.config, new URL(last.leftTo!), {
    pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true,
  });
}

async function personWithAuthenticator(): Promise<{ person: Awaited<ReturnType<typeof createPerson>>; authenticator: Authenticator; recoveryCodes: string[] }> {
  const person = await createPerson(server);
  const { agent } = await signInToAccount(server, person, '/account/security');
  const { app: authenticator, recoveryCodes, codesPage } = await enrolAuthenticator(server, agent, clock());
  expect(codesPage.status).toBe(200);
  expect(codesPage.headers.get('cache-control')).toBe('no-store');
  return { person, authenticator, recoveryCodes };
}

/** Introspects as the notes API, or as `caller` (an app may introspect its own refresh tokens). */
async function introspect(token: string, caller: { clientId: string; clientSecret: string } = notes): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(caller.clientId)}:${encodeURIComponent(caller.clientSecret)}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  });
  return (await res.json()) as Record<string, unknown>;
}

describe('adding an authenticator app', () => {
  it('shows a QR code and the secret, takes one valid code, and gives ten recovery codes once; the secret is sealed at rest', async () => {
    const { person, authenticator, recoveryCodes } = await personWithAuthenticator();
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    const rows = await server.testDb.db('factors').where({ user_id: person.id });
    expect(rows.map((r) => r.kind).sort()).toEqual(['recovery_codes', 'totp']);
    const stored = JSON.stringify(await server.testDb.db('factors').select('*')) + JSON.stringify(await server.testDb.db('recovery_codes').select('*'));
    expect(stored).not.toContain(authenticator.secret);
    for (const code of recoveryCodes) expect(stored).not.toContain(code.replace('-', ''));
    const audit = await server.testDb.db('audit_events').where({ user_id: person.id, type: 'factor.added' });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain(authenticator.secret);
    await mailing.deliver();
    expect(mailing.mailsTo(person.email).map((mail) => mail.subject)).toContain('A sign-in method was added to your Gatehouse account');
  });

  it('refuses a wrong code and keeps the enrolment going', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const page = await agent.follow(`${server.issuer}/account/security/authenticator`);
    const refused = await post(agent, page, '/account/security/authenticator', { code: '12345x', name: 'x' });
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('six-digit code');
    expect(await server.testDb.db('factors').where({ user_id: person.id }).whereNotNull('confirmed_at')).toHaveLength(0);
  });

  it('opening the page again (a second tab, or a link from another site) shows the same secret and leaves the one being typed working', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const secretOf = (body: string) => /<code id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(body)![1]!.replace(/ /g, '');
    const first = await agent.follow(`${server.issuer}/account/security/authenticator`);
    const again = await agent.follow(`${server.issuer}/account/security/authenticator`);
    expect(secretOf(again.body)).toBe(secretOf(first.body));
    expect(await server.testDb.db('factors').where({ user_id: person.id }).whereNull('confirmed_at')).toHaveLength(1);
    step();
    const done = await post(agent, first, '/account/security/authenticator', { code: authenticatorFor(secretOf(first.body)).code(clock()), name: 'First tab' });
    expect(done.status, done.body.slice(0, 300)).toBe(200);
    expect(await server.testDb.db('factors').where({ user_id: person.id, kind: 'totp' }).whereNotNull('confirmed_at')).toHaveLength(1);
  });
});

describe('how many authenticator apps', () => {
  it('a person may have five: the page then says so and makes no secret, and a form left open in another tab ends at the same refusal', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const confirmedApps = async () => (await server.testDb.db('factors').where({ user_id: person.id, kind: 'totp' }).whereNotNull('confirmed_at')).length;
    for (let added = 0; added < 4; added += 1) await enrolAuthenticator(server, agent, clock());
    // A second tab opened on the form while the fifth is added: the same enrolment, spent by then.
    const page = (await agent.follow(`${server.issuer}/account/security/authenticator`));
    const secretOf = (body: string) => /<code id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(body)![1]!.replace(/ /g, '');
    await enrolAuthenticator(server, agent, clock());
    expect(await confirmedApps()).toBe(5);

    const full = await agent.follow(`${server.issuer}/account/security/authenticator`);
    expect(full.status).toBe(409);
    expect(full.body).toContain('You have 5 authenticator apps, the most one account can have.');
    expect(full.body).not.toContain('totp-secret');
    const late = await post(agent, page, '/account/security/authenticator', { code: authenticatorFor(secretOf(page.body)).code(clock()), name: 'Sixth' });
    expect(late.status).toBe(409);
    expect(await confirmedApps()).toBe(5);
  });
});

describe('signing in with an authenticator app', () => {
  it('asks for the code after the password; the ID token, the JWT access token and introspection carry amr, acr and auth_time', async () => {
    const { person, authenticator } = await personWithAuthenticator();
    step();
    const agent = new UserAgent(server.issuer);
    const before = Math.floor(Date.now() / 1000);
    const { request, page } = await passwordStep(agent, person);
    expect(page.status).toBe(200);
    expect(page.body).toContain('autocomplete="one-time-code"');
    const done = await post(agent, page, /\/second-factor$/, { code: authenticator.code(clock()) });
    const tokens = await finishAtApp(agent, done, request);

    const id = tokens.claims()!;
    expect(id.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(id.acr).toBe(ACR_TWO_FACTORS);
    expect(id.auth_time).toBeGreaterThanOrEqual(before - 1);

    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: NOTES_API });
    expect(payload.acr).toBe(ACR_TWO_FACTORS);
    expect(payload.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(payload.auth_time).toBe(id.auth_time);

    const introspected = await introspect(tokens.access_token);
    expect(introspected).toMatchObject({ active: true, acr: ACR_TWO_FACTORS, amr: ['pwd', 'otp', 'mfa'], auth_time: id.auth_time });
    // The refresh token continues that sign-in, and says so too.
    expect(await introspect(tokens.refresh_token!, { clientId: app.clientId, clientSecret: app.clientSecret! })).toMatchObject({ active: true, acr: ACR_TWO_FACTORS, amr: ['pwd', 'otp', 'mfa'], auth_time: id.auth_time });

    // A refreshed access token keeps the sign-in it came from.
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    const { payload: again } = await jwtVerify(refreshed.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: NOTES_API });
    expect(again).toMatchObject({ acr: ACR_TWO_FACTORS, amr: ['pwd', 'otp', 'mfa'], auth_time: id.auth_time });
  });

  it('a password-only sign-in says so: amr pwd, the one-factor level', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const { request, page } = await passwordStep(agent, person);
    const tokens = await finishAtApp(agent, page, request);
    expect(tokens.claims()).toMatchObject({ amr: ['pwd'], acr: ACR_ONE_FACTOR });
  });

  it('refuses a code that was already used, even within its own 30 seconds', async () => {
    const { person, authenticator } = await personWithAuthenticator();
    step();
    const code = authenticator.code(clock());
    const first = new UserAgent(server.issuer);
    const one = await passwordStep(first, person);
    const accepted = await post(first, one.page, /\/second-factor$/, { code });
    expect(accepted.leftTo ?? accepted.body).toMatch(/callback|decision/);

    const second = new UserAgent(server.issuer);
    const two = await passwordStep(second, person);
    const replayed = await post(second, two.page, /\/second-factor$/, { code });
    expect(replayed.status).toBe(401);
    expect(replayed.body).toContain('That code did not work');
    const failures = await server.testDb.db('audit_events').where({ user_id: person.id, type: 'sign_in.second_factor_failed' });
    expect(failures.map((f) => f.details.reason)).toEqual(['replayed']);
  });

  it('throttles guessed codes: after five wrong ones even the right code waits, with Retry-After', async () => {
    const { person, authenticator } = await personWithAuthenticator();
    step();
    const agent = new UserAgent(server.issuer);
    let { page } = await passwordStep(agent, person);
    const right = authenticator.code(clock());
    const wrong = right === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i += 1) {
      page = await post(agent, page, /\/second-factor$/, { code: wrong });
      expect(page.status).toBe(401);
    }
    const refused = await post(agent, page, /\/second-factor$/, { code: right });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body).toContain('Too many attempts');
    // Typing the password again gives no fresh budget of guesses.
    const fresh = new UserAgent(server.issuer);
    const again = await passwordStep(fresh, person);
    expect((await post(fresh, again.page, /\/second-factor$/, { code: right })).status).toBe(429);
  });

  it('a recovery code works once, in place of the app, and the person is told', async () => {
    const { person, recoveryCodes } = await personWithAuthenticator();
    const code = recoveryCodes[3]!;
    const agent = new UserAgent(server.issuer);
    const { request, page } = await passwordStep(agent, person);
    const done = await post(agent, page, /\/second-factor$/, { code: code.toUpperCase() });
    const tokens = await finishAtApp(agent, done, request);
    expect(tokens.claims()).toMatchObject({ acr: ACR_TWO_FACTORS });

    const other = new UserAgent(server.issuer);
    const again = await passwordStep(other, person);
    const refused = await post(other, again.page, /\/second-factor$/, { code });
    expect(refused.status).toBe(401);

    const used = await server.testDb.db('audit_events').where({ user_id: person.id, type: 'factor.recovery_code_used' });
    expect(used).toHaveLength(1);
    expect(used[0].details).toEqual({ remaining: 9 });
    expect(JSON.stringify(used)).not.toContain(code);
    await mailing.deliver();
    const mail = mailing.mailsTo(person.email).find((m) => m.subject.startsWith('A recovery code was used'));
    expect(mail?.text).toContain('9 of them are left');
  });

  it('a form without a code, or with nonsense, is a clear 400 or 401, never a 500', async () => {
    const { person } = await personWithAuthenticator();
    const agent = new UserAgent(server.issuer);
    const { page } = await passwordStep(agent, person);
    expect((await post(agent, page, /\/second-factor$/, { code: '' })).status).toBe(400);
    expect((await post(agent, page, /\/second-factor$/, { code: '\u0000'.repeat(3) + 'é'.repeat(200) })).status).toBe(401);
  });
});

describe('levels apps ask for', () => {
  it('steps a signed-in person up: asks only for the code when an app asks for two factors', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const { app: authenticator } = await enrolAuthenticator(server, agent, clock());
    step();
    // Signed in with the password alone before the app was added; now an app wants two factors.
    const request = await authorizationRequest(app, { acr_values: ACR_TWO_FACTORS });
    const page = await agent.follow(request.url.href);
    expect(page.body).not.toMatch(/name="password"/);
    expect(page.body).toContain('autocomplete="one-time-code"');
    const done = await post(agent, page, /\/second-factor$/, { code: authenticator.code(clock()) });
    const tokens = await finishAtApp(agent, done, request);
    expect(tokens.claims()).toMatchObject({ acr: ACR_TWO_FACTORS, amr: ['pwd', 'otp', 'mfa'] });
  });

  it('a step-up that asks only for the code keeps auth_time at the password: the code proves the second factor, not a new sign-in', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const { app: authenticator } = await enrolAuthenticator(server, agent, clock());
    step();
    // The password was typed ten minutes ago, as far as both oidc-provider and Gatehouse can tell.
    const typedBy = Math.floor(Date.now() / 1000);
    expect(await ageSignIns(server.testDb.db, person.id, 600)).toBe(1);
    const request = await authorizationRequest(app, { acr_values: ACR_TWO_FACTORS });
    const page = await agent.follow(request.url.href);
    expect(page.body).not.toMatch(/name="password"/);
    const tokens = await finishAtApp(agent, await post(agent, page, /\/second-factor$/, { code: authenticator.code(clock()) }), request);
    const id = tokens.claims()!;
    // OIDC Core §2: auth_time is when the person authenticated; what they just did was add a
    // factor to that sign-in, which amr and acr say, not sign in again.
    expect(id.auth_time).toBeLessThanOrEqual(typedBy - 600);
    expect(id).toMatchObject({ acr: ACR_TWO_FACTORS, amr: ['pwd', 'otp', 'mfa'] });
    // The audit log tells this sign-in from one where the password was typed.
    const entry = await server.testDb.db('audit_events').where({ user_id: person.id, type: 'sign_in.succeeded' }).orderBy('id', 'desc').first();
    expect(entry.details).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: ACR_TWO_FACTORS, stepUp: true });

    // So an app that wants a sign-in of the last five minutes (max_age) still gets the password asked for.
    const fresh = await authorizationRequest(app, { max_age: '300' });
    const again = await agent.follow(fresh.url.href);
    expect(again.body).toMatch(/name="password"/);
    const withPassword = await post(agent, again, /\/login$/, { email: person.email, password: person.password });
    step();
    const renewed = await finishAtApp(agent, await post(agent, withPassword, /\/second-factor$/, { code: authenticator.code(clock()) }), fresh);
    expect(renewed.claims()!.auth_time).toBeGreaterThanOrEqual(typedBy);
  });

  it('prompt=login asks for the password again even from a two-factor session, and auth_time moves with it', async () => {
    const { person, authenticator } = await personWithAuthenticator();
    step();
    const agent = new UserAgent(server.issuer);
    const first = await passwordStep(agent, person);
    await finishAtApp(agent, await post(agent, first.page, /\/second-factor$/, { code: authenticator.code(clock()) }), first.request);
    const typedBy = Math.floor(Date.now() / 1000);
    expect(await ageSignIns(server.testDb.db, person.id, 600)).toBeGreaterThan(0);
    step();
    const request = await authorizationRequest(app, { prompt: 'login', acr_values: ACR_TWO_FACTORS });
    const login = await agent.follow(request.url.href);
    expect(login.body).toMatch(/name="password"/);
    const page = await post(agent, login, /\/login$/, { email: person.email, password: person.password });
    const tokens = await finishAtApp(agent, await post(agent, page, /\/second-factor$/, { code: authenticator.code(clock()) }), request);
    expect(tokens.claims()!.auth_time).toBeGreaterThanOrEqual(typedBy);
    expect(tokens.claims()).toMatchObject({ acr: ACR_TWO_FACTORS, amr: ['pwd', 'otp', 'mfa'] });
  });

  it('an essential acr claim the person cannot reach sends the app unmet_authentication_requirements', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const { page } = await passwordStep(agent, person, { claims: JSON.stringify({ id_token: { acr: { essential: true, value: ACR_TWO_FACTORS } } }) });
    expect(page.leftTo).toBeDefined();
    const back = new URL(page.leftTo!);
    expect(back.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('max_age past the sign-in asks for the password and the code again, with a new auth_time', async () => {
    const { person, authenticator } = await personWithAuthenticator();
    step();
    const agent = new UserAgent(server.issuer);
    const first = await passwordStep(agent, person);
    const firstTokens = await finishAtApp(agent, await post(agent, first.page, /\/second-factor$/, { code: authenticator.code(clock()) }), first.request);
    step();
    const request = await authorizationRequest(app, { max_age: '0' });
    const login = await agent.follow(request.url.href);
    expect(login.body).toMatch(/name="password"/);
    const page = await post(agent, login, /\/login$/, { email: person.email, password: person.password });
    const tokens = await finishAtApp(agent, await post(agent, page, /\/second-factor$/, { code: authenticator.code(clock()) }), request);
    expect(tokens.claims()!.auth_time).toBeGreaterThanOrEqual(firstTokens.claims()!.auth_time!);
    expect(tokens.claims()).toMatchObject({ acr: ACR_TWO_FACTORS });
  });

  it('discovery lists the levels', async () => {
    const doc = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(doc.acr_values_supported).toEqual(['urn:gatehouse:acr:1fa', 'urn:gatehouse:acr:2fa', 'urn:gatehouse:acr:phr']);
    expect(doc.claims_supported).toEqual(expect.arrayContaining(['acr', 'amr', 'auth_time']));
  });
});
