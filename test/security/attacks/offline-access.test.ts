// Offline access after a password change or reset. A thief who learnt the password signs an app in
// with offline_access, keeps its refresh token, and signs out at Gatehouse: oidc-provider keeps an
// offline grant at logout, so the thief's grant belongs to no session any more, and ending the
// person's sessions never reached it. Every way of changing the password must be able to end it:
// the person's own change (their explicit choice, sparing this browser's apps), and an admin's
// reset through the API or the console (by default).
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi, type AdminApiClient } from '../../admin/api/support.js';
import { createAdmin, signInToConsole, submit } from '../../admin/console/support.js';
import { accountForm } from '../../account/support.js';
import { authorizationRequest, createPerson, signIn, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { UserAgent } from '../../support/user-agent.js';
import { introspect, SCOPE, startAttackTarget, type AttackTarget, type Person } from './target.js';

const NEW_PASSWORD = 'lantern orchard velvet compass';

let target: AttackTarget;
let server: TestServer;
let app: App;
let api: AdminApiClient;

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server, app } = target);
  api = await adminApi(server);
});
afterAll(async () => { await target?.stop(); });

/** Signs `person` in to the app in this browser, with offline_access, as openid-client does. */
async function offlineTokens(agent: UserAgent, person: Person, a: App = app) {
  const request = await authorizationRequest(a, { scope: SCOPE });
  const callback = await signIn(agent, request.url, person);
  const tokens = await client.authorizationCodeGrant(a.config, callback, {
    pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce,
  });
  expect(tokens.refresh_token).toBeTruthy();
  return tokens;
}

/** Signs this browser out at Gatehouse, confirming on the logout page as a person does. */
async function signOutAtGatehouse(agent: UserAgent): Promise<void> {
  const confirm = await agent.follow(`${server.issuer}/session/end`);
  const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(confirm.body);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(form![2]!)![1]!;
  await agent.request(new URL(form![1]!, server.issuer).href, { form: { xsrf, logout: 'yes' } });
}

/**
 * The thief: signs in with the password, keeps the app's tokens, signs out at Gatehouse, and
 * still refreshes afterwards (that is the attack). Returns the tokens the thief now holds.
 */
async function thiefWithOfflineAccess(person: Person) {
  const agent = new UserAgent(server.issuer);
  const tokens = await offlineTokens(agent, person);
  await signOutAtGatehouse(agent);
  expect(await server.db('oidc_records').where({ model: 'Session', account_id: person.id })).toHaveLength(0);
  return client.refreshTokenGrant(app.config, tokens.refresh_token!);
}

async function refreshOutcome(refreshToken: string, a: App = app): Promise<string> {
  return client.refreshTokenGrant(a.config, refreshToken).then(() => 'refreshed', (error: unknown) => String((error as { error?: string }).error));
}

/** Changes the password on the account pages in this (signed-in) browser. */
async function changeOwnPassword(agent: UserAgent, person: Person, choices: Record<string, string>) {
  const shown = await agent.follow(`${server.issuer}/account/password`);
  expect(shown.url).toBe(`${server.issuer}/account/password`);
  const form = accountForm(shown.body, '/account/password');
  return agent.request(`${server.issuer}${form.action}`, {
    form: { ...form.fields, current_password: person.password, new_password: NEW_PASSWORD, ...choices },
  });
}

describe("the person's own password change", () => {
  it("with the choice taken, ends the thief's offline access; the apps signed in in this browser keep theirs", async () => {
    const person = await createPerson(server);
    const stolen = await thiefWithOfflineAccess(person);
    const here = new UserAgent(server.issuer);
    const mine = await offlineTokens(here, person);

    const res = await changeOwnPassword(here, person, { sign_out_others: 'yes', end_offline_access: 'yes' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/password?notice=password-changed-all-ended');

    expect(await refreshOutcome(stolen.refresh_token!)).toBe('invalid_grant');
    expect((await introspect(target.notes, stolen.access_token)).active).toBe(false);
    expect(await refreshOutcome(mine.refresh_token!)).toBe('refreshed');
    const [event] = (await server.audit.list({ type: 'user.password_changed', userId: person.id })).items;
    expect(event!.details).toMatchObject({ offlineAccessRevoked: true });
    expect(Number(event!.details.grantsRevoked)).toBeGreaterThanOrEqual(1);
  });

  it('offers the choice ticked, and only when the person unticks it does every app keep its offline access', async () => {
    const person = await createPerson(server);
    const stolen = await thiefWithOfflineAccess(person);
    const here = new UserAgent(server.issuer);
    await offlineTokens(here, person);
    const page = await here.follow(`${server.issuer}/account/password`);
    expect(page.body).toMatch(/name="end_offline_access" value="yes" aria-describedby="offline-access-hint" checked>/);

    expect((await changeOwnPassword(here, person, { sign_out_others: 'yes' })).status).toBe(303);
    expect(await refreshOutcome(stolen.refresh_token!)).toBe('refreshed');
  });
});

describe("an admin's password reset", () => {
  it("through the admin API, ends every app's offline access by default", async () => {
    const person = await createPerson(server);
    const stolen = await thiefWithOfflineAccess(person);
    const res = await api.post(`/users/${person.id}/password`, { password: NEW_PASSWORD, end_sessions: true });
    expect(res.status, res.text).toBe(200);
    expect(res.body.grants_revoked).toBeGreaterThanOrEqual(1);
    expect(await refreshOutcome(stolen.refresh_token!)).toBe('invalid_grant');
    const [event] = (await server.audit.list({ type: 'user.password_reset', userId: person.id })).items;
    expect(event!.details).toMatchObject({ offlineAccessRevoked: true });
  });

  it('through the admin API, keeps offline access only when told revoke_offline_access: false', async () => {
    const person = await createPerson(server);
    const stolen = await thiefWithOfflineAccess(person);
    const res = await api.post(`/users/${person.id}/password`, { password: NEW_PASSWORD, revoke_offline_access: false });
    expect(res.status, res.text).toBe(200);
    expect(await refreshOutcome(stolen.refresh_token!)).toBe('refreshed');
  });

  it("through the console, whose form has the box ticked, ends every app's offline access", async () => {
    const person = await createPerson(server);
    const stolen = await thiefWithOfflineAccess(person);
    const { agent } = await signInToConsole(server, await createAdmin(server));
    const personPage = `${server.issuer}/admin/people/${person.id}`;
    expect((await agent.request(personPage)).body).toMatch(/name="endOfflineAccess" value="yes" checked>/);
    const res = await submit(agent, personPage, /\/password$/, { password: NEW_PASSWORD, signOut: 'yes', endOfflineAccess: 'yes' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain('done=password-reset-all-ended');
    expect(await refreshOutcome(stolen.refresh_token!)).toBe('invalid_grant');
  });
});
