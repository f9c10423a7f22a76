// Attacks on the self-service account pages (/account): forged forms (CSRF), reaching another
// person's apps and sessions by changing the ids a form posts, and SQL injection in every input.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountForm, signInToAccount } from '../../account/support.js';
import { createPerson, obtainTokens, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { UserAgent, type Response as AgentResponse } from '../../support/user-agent.js';
import {
  DATABASE_ERROR, expectErrorPage, FORM, INJECTED_SQL, introspect, rowCounts, SQL_INJECTION, sqlTextsSentBy, startAttackTarget,
  type AttackTarget, type Credentials, type Person,
} from './target.js';

const NEW_PASSWORD = 'lantern orchard velvet compass';
/** pg_sleep(5) in any payload would show as a request this slow. */

let target: AttackTarget;
let server: TestServer;
let app: App;
let notes: Credentials;
let victim: Person;
/** The victim's own browser, signed in to the account pages. */
let victimBrowser: UserAgent;
/** The session the victim signed in to the app with (another device), by its handle. */
let victimAppSession: string;
let victimAccessToken: string;

/** Everything the account forms could change for the victim. */
async function victimState() {
  const apps = (await server.selfService.listConnectedApps(victim.id)).items.map((a) => a.clientId);
  const sessions = (await server.operations.sessions.listSessions(victim.id)).items.map((s) => s.id).sort();
  const passwordStands = (await server.stores.users.authenticate(victim.email, victim.password)).ok;
  const tokenActive = (await introspect(notes, victimAccessToken)).active === true;
  // The address, and the links mailed for it: a forged address change or verification mail leaves a link behind.
  const { email } = (await server.stores.users.findById(victim.id))!;
  const links = (await server.db('one_time_links').where({ user_id: victim.id })).length;
  return { apps, sessions, passwordStands, tokenActive, email, links };
}

interface AccountFormCase {
  name: string;
  page: string;
  action: string;
  /** What the victim would post (for the password form: a real change of password). */
  fields(): Record<string, string>;
}

const FORMS: AccountFormCase[] = [
  { name: 'revoke an app', page: '/account/apps', action: '/account/apps/revoke', fields: () => ({ app: app.clientId }) },
  { name: 'sign out a session', page: '/account/sessions', action: '/account/sessions/end', fields: () => ({ session: victimAppSession }) },
  { name: 'sign out all other sessions', page: '/account/sessions', action: '/account/sessions/end-others', fields: () => ({}) },
  { name: 'change password', page: '/account/password', action: '/account/password', fields: () => ({ current_password: victim.password, new_password: NEW_PASSWORD, sign_out_others: 'yes' }) },
  { name: 'change the email address', page: '/account/email', action: '/account/email', fields: () => ({ current_password: victim.password, new_email: 'attacker@evil.example.test' }) },
  { name: 'send a verification link', page: '/account/email', action: '/account/email/verify', fields: () => ({}) },
];

/** A CSRF token from the given browser's pages (the password page always has a form). */
async function tokenOf(agent: UserAgent): Promise<string> {
  const res = await agent.request(`${server.issuer}/account/password`);
  expect(res.status).toBe(200);
  return /name="csrf" value="([^"]+)"/.exec(res.body)![1]!;
}

let sqlSent: string[] = [];

/** The answer, once it is known that no payload reached the database as SQL (pg_sleep included). */
async function answered(request: Promise<AgentResponse>): Promise<AgentResponse> {
  const res = await request;
  expect(sqlSent.filter((sql) => INJECTED_SQL.test(sql)), `${res.url}: a payload became SQL`).toEqual([]);
  return res;
}

beforeAll(async () => {
  // Dozens of the payloads below are deliberately wrong current passwords: the throttle that
  // stops guessing them (test/account/forms.test.ts) would answer 429 before the payload reached
  // anything, so it is set out of reach here.
  target = await startAttackTarget({ SIGNIN_MAX_CONSECUTIVE_FAILURES: '100', SIGNIN_ACCOUNT_MAX_FAILURES: '1000', SIGNIN_IP_MAX_FAILURES: '10000' });
  ({ server, app, notes, person: victim } = target);
  sqlSent = sqlTextsSentBy(server);
  const { tokens } = await obtainTokens(server, app, victim, { scope: 'openid profile offline_access notebook:read' });
  victimAccessToken = tokens.access_token;
  victimAppSession = (await server.operations.sessions.listSessions(victim.id)).items[0]!.id;
  ({ agent: victimBrowser } = await signInToAccount(server, victim));
});

afterAll(async () => {
  await target?.stop();
});

describe('CSRF on the account forms', () => {
  it.each(FORMS)('$name without a token: 403, nothing changed', async (form) => {
    const before = await victimState();
    const res = await victimBrowser.request(`${server.issuer}${form.action}`, { form: form.fields() });
    expectErrorPage(res, 403);
    expect(res.headers.get('location')).toBeNull();
    expect(await victimState()).toEqual(before);
  });

  it.each(FORMS)('$name with another browser\'s token: 403, nothing changed', async (form) => {
    const { agent: attacker } = await signInToAccount(server, await createPerson(server), form.page);
    const stolen = await tokenOf(attacker);
    const before = await victimState();
    const res = await victimBrowser.request(`${server.issuer}${form.action}`, { form: { ...form.fields(), csrf: stolen } });
    expectErrorPage(res, 403);
    expect(await victimState()).toEqual(before);
  });

  it.each(FORMS)('$name cross-site (no cookies: SameSite=Lax keeps them home): 403, nothing changed', async (form) => {
    const csrf = await tokenOf(victimBrowser);
    const before = await victimState();
    const res = await fetch(`${server.issuer}${form.action}`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': FORM, accept: 'text/html', origin: 'https://evil.example.test' },
      body: new URLSearchParams({ ...form.fields(), csrf }),
    });
    expect(res.status).toBe(403);
    expect(await victimState()).toEqual(before);
  });

  it.each(FORMS)('$name with a valid token from a browser since signed out: sent to sign in, nothing changed', async (form) => {
    const { agent } = await signInToAccount(server, victim, form.page);
    const csrf = await tokenOf(agent);
    const confirm = await agent.request(`${server.issuer}/session/end`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)![1]!;
    const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(confirm.body)![1]!;
    await agent.follow(new URL(action, server.issuer).href, { form: { xsrf, logout: 'yes' } });

    const before = await victimState();
    const res = await agent.request(`${server.issuer}${form.action}`, { form: { ...form.fields(), csrf } });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!, server.issuer);
    expect(location.pathname).toBe('/auth');
    expect(location.searchParams.get('client_id')).toBe('gatehouse');
    expect(await victimState()).toEqual(before);
  });
});

describe('oversized and malformed account forms', () => {
  it.each(FORMS)('$name: a 100 KB field or a JSON body is a 4xx page, nothing changed', async (form) => {
    const csrf = await tokenOf(victimBrowser);
    const before = await victimState();
    const huge = await victimBrowser.request(`${server.issuer}${form.action}`, { form: { ...form.fields(), csrf, padding: 'x'.repeat(100 * 1024) } });
    expectErrorPage(huge, 413);
    const json = await fetch(`${server.issuer}${form.action}`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/json', accept: 'text/html', cookie: victimBrowser.cookieHeader() },
      body: JSON.stringify({ ...form.fields(), csrf }),
    });
    expect(json.status).toBe(403);
    expect(await victimState()).toEqual(before);
  });

  // Only forms with fields of their own (ending other sessions and sending a verification link have none).
  it.each(FORMS.filter((form) => !['/account/sessions/end-others', '/account/email/verify'].includes(form.action)))('$name with each field sent twice: no value to act on, 4xx, nothing changed', async (form) => {
    const doubled = new URLSearchParams({ ...form.fields(), csrf: await tokenOf(victimBrowser) });
    for (const [name, value] of [...doubled]) if (name !== 'csrf') doubled.append(name, value);
    const before = await victimState();
    const res = await fetch(`${server.issuer}${form.action}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, accept: 'text/html', cookie: victimBrowser.cookieHeader() }, body: doubled });
    expectErrorPage({ status: res.status, headers: res.headers, body: await res.text() }, [400, 404]);
    expect(await victimState()).toEqual(before);
  });
});

describe('another person\'s apps and sessions, by changing the ids a form posts', () => {
  let attacker: UserAgent;

  beforeAll(async () => {
    ({ agent: attacker } = await signInToAccount(server, await createPerson(server), '/account/apps'));
  });

  async function post(action: string, fields: Record<string, string>) {
    const csrf = await tokenOf(attacker);
    return attacker.request(`${server.issuer}${action}`, { form: { csrf, ...fields } });
  }

  it('revoking an app only the victim allowed: 404, the victim\'s grant and tokens stand', async () => {
    const before = await victimState();
    const res = await post('/account/apps/revoke', { app: app.clientId });
    expectErrorPage(res, 404);
    expect(res.body).toContain('That app is not connected to your account.');
    expect(await victimState()).toEqual(before);
    expect(before.apps).toContain(app.clientId);
    expect(before.tokenActive).toBe(true);
  });

  it.each(['app session', 'account pages session'])('ending the victim\'s %s by its handle: 404, still signed in', async (which) => {
    const handle = which === 'app session' ? victimAppSession : (await server.operations.sessions.listSessions(victim.id)).items.find((s) => s.id !== victimAppSession)!.id;
    const before = await victimState();
    const res = await post('/account/sessions/end', { session: handle });
    expectErrorPage(res, 404);
    expect(await victimState()).toEqual(before);
    expect((await victimBrowser.request(`${server.issuer}/account`)).status).toBe(200);
  });

  it('"sign out of all other sessions" and a password change with the victim\'s id added act on the attacker alone', async () => {
    const before = await victimState();
    expect((await post('/account/sessions/end-others', { user: victim.id, userId: victim.id })).status).toBe(303);
    const me = await createPerson(server);
    const { agent } = await signInToAccount(server, me, '/account/password');
    const csrf = await tokenOf(agent);
    const changed = await agent.request(`${server.issuer}/account/password`, {
      form: { csrf, current_password: me.password, new_password: NEW_PASSWORD, user: victim.id, user_id: victim.id, email: victim.email },
    });
    expect(changed.status).toBe(303);
    expect((await server.stores.users.authenticate(me.email, NEW_PASSWORD)).ok).toBe(true);
    expect(await victimState()).toEqual(before);
  });
});

describe('SQL injection in every text input of the account pages', () => {
  let before: Record<string, number>;
  let person: Person;
  let agent: UserAgent;
  /** The person's password as it stands: a payload the checker accepts becomes it, as data. */
  let password: string;

  beforeAll(async () => {
    person = await createPerson(server);
    before = await rowCounts();
    password = person.password;
    ({ agent } = await signInToAccount(server, person, '/account/apps'));
  });

  function expectRefused(res: AgentResponse, statuses: number[]) {
    expect(statuses, `${res.status}: ${res.body.slice(0, 300)}`).toContain(res.status);
    expect(res.body).not.toMatch(DATABASE_ERROR);
  }

  it.each(SQL_INJECTION)('%j as the app, the session, the token and the page addresses: 4xx, quickly', async (payload) => {
    const csrf = await tokenOf(agent);
    expectRefused(await answered(agent.request(`${server.issuer}/account/apps/revoke`, { form: { csrf, app: payload } })), [404]);
    expectRefused(await answered(agent.request(`${server.issuer}/account/sessions/end`, { form: { csrf, session: payload } })), [404]);
    expectRefused(await answered(agent.request(`${server.issuer}/account/apps/revoke`, { form: { csrf: payload, app: app.clientId } })), [403]);
    expectRefused(await answered(agent.request(`${server.issuer}/account/sessions?${new URLSearchParams({ cursor: payload })}`)), [400]);
    expectRefused(await answered(agent.request(`${server.issuer}/account/apps?${new URLSearchParams({ cursor: payload })}`)), [400]);
    const noticed = await answered(agent.request(`${server.issuer}/account/apps?${new URLSearchParams({ notice: payload })}`));
    expect(noticed.status).toBe(200);
    expect(noticed.body).not.toContain('role="status"');
  });

  it.each(SQL_INJECTION)('%j as the current password: 400 "not your current password", quickly', async (payload) => {
    const csrf = await tokenOf(agent);
    const res = await answered(agent.request(`${server.issuer}/account/password`, { form: { csrf, current_password: payload, new_password: NEW_PASSWORD, sign_out_others: payload } }));
    expectRefused(res, [400]);
    expect(res.body).toContain('That is not your current password.');
  });

  it.each(SQL_INJECTION)('%j as the new password: refused by the checker, or stored hashed as any password is', async (payload) => {
    const csrf = await tokenOf(agent);
    const res = await answered(agent.request(`${server.issuer}/account/password`, { form: { csrf, current_password: password, new_password: payload } }));
    expect([303, 400], `${res.status}: ${res.body.slice(0, 300)}`).toContain(res.status);
    expect(res.body).not.toMatch(DATABASE_ERROR);
    if (res.status === 303) {
      expect((await server.stores.users.authenticate(person.email, payload)).ok).toBe(true);
      password = payload;
    }
    expect((await server.stores.users.authenticate(person.email, password)).ok).toBe(true);
  });

  it('nothing stored was touched, and the person\'s pages still work', async () => {
    expect(await rowCounts()).toEqual(before);
    expect((await agent.request(`${server.issuer}/account/apps`)).status).toBe(200);
    // Not one request of this file was answered with a 5xx.
    expect(server.logs.filter((line) => line.msg === 'request' && Number(line.status) >= 500)).toEqual([]);
  });
});
