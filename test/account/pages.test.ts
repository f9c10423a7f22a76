// The account pages over real HTTP: who may see them, what they show, and what the forms answer.
// The browser tests (account.browser.test.ts) walk the same pages as a person does; these pin
// down the details a person relies on without seeing them (statuses, caching, messages).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_CLIENT_ID } from '../../src/vocabulary.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { insertGrant, insertSession } from '../support/oidc-records.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { accountForm, signInToAccount } from './support.js';
import { written } from '../support/changes.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';

let server: TestServer;
let app: App;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read notes:write', isDefault: true, scopeDescriptions: { 'notes:read': 'Read your notes' } });
  app = await registerApp(server, { scope: SCOPE });
});

afterAll(async () => {
  await server?.stop();
});

describe('who may open the account pages', () => {
  it.each(['/account', '/account/apps', '/account/sessions', '/account/password'])('%s sends a signed-out browser to sign in, and back after', async (path) => {
    const agent = new UserAgent(server.issuer);
    const res = await agent.request(`${server.issuer}${path}?notice=app-revoked`);
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const location = new URL(res.headers.get('location')!, server.issuer);
    expect(location.pathname).toBe('/auth');
    expect(location.searchParams.get('client_id')).toBe(ACCOUNT_CLIENT_ID);

    const { page } = await signInToAccount(server, await createPerson(server), `${path}?notice=app-revoked`, agent);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('a person disabled since signing in is signed out here, and cannot sign in again', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person);
    // Once the database's notice of the change has reached the person's cached row, as before anyone's next request.
    await written(server, () => server.testDb.db('users').where({ id: person.id }).update({ disabled_at: new Date() }));
    const res = await agent.follow(`${server.issuer}/account`);
    expect(res.url).toMatch(/\/interaction\//);
    expect(res.body).not.toContain(person.email);
    const login = formOf(res.body, /\/login$/);
    const refused = await agent.follow(new URL(login.action, res.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    expect(refused.status).toBe(401);
    expect(refused.body).toContain('This account is disabled.');
  });

  it('a person deleted since signing in is signed out here', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person);
    await written(server, () => server.testDb.db('users').where({ id: person.id }).delete());
    const res = await agent.follow(`${server.issuer}/account`);
    expect(res.url).toMatch(/\/interaction\//);
    expect(res.body).toMatch(/name="password"/);
  });
});

describe('the account page', () => {
  it('says who is signed in and links to the three pages and to signing out', async () => {
    const person = await createPerson(server, { name: 'Grace Hopper' });
    const { page } = await signInToAccount(server, person);
    expect(page.body).toContain('Grace Hopper');
    expect(page.body).toContain(person.email);
    for (const href of ['/account/apps', '/account/sessions', '/account/password', '/session/end']) expect(page.body).toContain(`href="${href}"`);
  });

  it('signing out through the provider signs this browser out of the account pages', async () => {
    const { agent } = await signInToAccount(server, await createPerson(server));
    const confirm = await agent.request(`${server.issuer}/session/end`);
    expect(confirm.status).toBe(200);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(confirm.body)!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form[2]!)![1]!;
    const done = await agent.follow(new URL(form[1]!, server.issuer).href, { form: { xsrf, logout: 'yes' } });
    expect(done.body).toContain('You are signed out');
    expect((await agent.follow(`${server.issuer}/account`)).url).toMatch(/\/interaction\//);
  });
});

describe('connected apps', () => {
  it('says so when there are none', async () => {
    const { page } = await signInToAccount(server, await createPerson(server), '/account/apps');
    expect(page.body).toContain('No apps are connected to your account.');
    expect(page.body).not.toContain('/account/apps/revoke');
  });

  it('shows each app once, its scopes in words, when it was allowed and last used', async () => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: SCOPE });
    await obtainTokens(server, app, person, { scope: SCOPE }); // a second session: a second copy of the grant
    const unused = await server.stores.clients.create({ name: 'Quiet App', redirectUris: ['https://quiet.example.test/cb'] });
    await insertGrant(server.testDb.db, { accountId: person.id, clientId: unused.client.clientId, scope: 'openid email' });

    const { page } = await signInToAccount(server, person, '/account/apps');
    const items = page.body.split('<li class="account-item">').slice(1);
    expect(items.map((item) => /<h2>([^<]+)<\/h2>/.exec(item)![1])).toEqual(['Example App', 'Quiet App']);
    const [example, quiet] = items as [string, string];
    for (const words of ['Confirm who you are when you sign in', 'See your name', 'See your email address', 'Keep access while you are not using it', 'Read your notes']) {
      expect(example).toContain(words);
    }
    expect(example).toContain('On <strong>Notes</strong>');
    expect(example).toMatch(/Allowed<\/dt><dd><time datetime="[^"]+">\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC<\/time>/);
    expect(example).toMatch(/Last used<\/dt><dd><time/);
    expect(quiet).toContain('Last used</dt><dd>never</dd>');
    expect(quiet).not.toContain('Read your notes');
    // Gatehouse's own sign-in is not an app one can disconnect.
    expect(page.body).not.toContain(`value="${ACCOUNT_CLIENT_ID}"`);
  });

  it('revokes an app, says so after the redirect, and audits it as the person', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const { agent, page } = await signInToAccount(server, person, '/account/apps');
    const revoke = accountForm(page.body, '/account/apps/revoke');
    expect(revoke.fields.app).toBe(app.clientId);

    const res = await agent.request(`${server.issuer}${revoke.action}`, { form: revoke.fields });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/apps?notice=app-revoked');
    const after = await agent.request(`${server.issuer}/account/apps?notice=app-revoked`);
    expect(after.body).toContain('role="status">Access removed. The app can no longer use your account');
    expect(after.body).toContain('No apps are connected to your account.');
    const res2 = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res2.status).toBe(401);

    const [event] = (await server.audit.list({ type: 'consent.revoked', userId: person.id })).items;
    expect(event).toMatchObject({ actor: { type: 'user', id: person.id }, clientId: app.clientId, ip: '127.0.0.1' });
  });

  it('an app already revoked (a second tab) gets a 404 page with the list, not an error', async () => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: SCOPE });
    const { agent, page } = await signInToAccount(server, person, '/account/apps');
    const revoke = accountForm(page.body, '/account/apps/revoke');
    expect((await agent.request(`${server.issuer}${revoke.action}`, { form: revoke.fields })).status).toBe(303);
    const again = await agent.request(`${server.issuer}${revoke.action}`, { form: revoke.fields });
    expect(again.status).toBe(404);
    expect(again.body).toContain('role="alert" id="form-error">That app is not connected to your account.');
    expect(again.body).toContain('<h1 id="page-title">Connected apps</h1>');
  });

  it('a notice is only ever one of the fixed messages, never text from the address', async () => {
    const { agent } = await signInToAccount(server, await createPerson(server), '/account/apps');
    for (const notice of ['<script>alert(1)</script>', 'Your account is locked, call 555-0100', 'toString', '__proto__']) {
      const res = await agent.request(`${server.issuer}/account/apps?${new URLSearchParams({ notice })}`);
      expect(res.status).toBe(200);
      expect(res.body).not.toContain('role="status"');
      expect(res.body).not.toContain('555-0100');
      expect(res.body).not.toContain('<script>');
    }
  });

  it('pages through many apps with a cursor, and refuses a forged cursor with a 400 page', async () => {
    const person = await createPerson(server);
    for (let i = 0; i < 52; i++) {
      const { client } = await server.stores.clients.create({ name: `App ${String(i).padStart(2, '0')}`, redirectUris: ['https://many.example.test/cb'] });
      await insertGrant(server.testDb.db, { accountId: person.id, clientId: client.clientId });
    }
    const { agent, page } = await signInToAccount(server, person, '/account/apps');
    expect(page.body.split('<li class="account-item">')).toHaveLength(51);
    const more = /<a href="(\/account\/apps\?cursor=[^"]+)">More apps<\/a>/.exec(page.body)![1]!.replace(/&amp;/g, '&');
    const second = await agent.request(`${server.issuer}${more}`);
    expect([...second.body.matchAll(/<h2>([^<]+)<\/h2>/g)].map((m) => m[1])).toEqual(['App 50', 'App 51']);
    expect(second.body).not.toContain('More apps');

    const forged = await agent.request(`${server.issuer}/account/apps?cursor=not-a-cursor`);
    expect(forged.status).toBe(400);
    expect(forged.body).toContain('This list cannot be shown');
  });
});

describe('active sessions', () => {
  it('names the device in words, marks this one, and pages through many', async () => {
    const person = await createPerson(server);
    await insertSession(server.testDb.db, { accountId: person.id, userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0', ip: '203.0.113.9', createdAt: new Date(Date.now() - 3_600_000) });
    for (let i = 0; i < 50; i++) await insertSession(server.testDb.db, { accountId: person.id, createdAt: new Date(Date.now() - 7_200_000 - i * 1000) });
    const { agent, page } = await signInToAccount(server, person, '/account/sessions');
    const items = page.body.split(/<li class="account-item/).slice(1);
    expect(items).toHaveLength(50);
    expect(items[0]).toContain('<span class="badge">This device</span>');
    expect(items.filter((item) => item.includes('This device'))).toHaveLength(1);
    expect(items[1]).toContain('<h2>Firefox on Windows</h2>');
    expect(items[1]).toContain('203.0.113.9');
    const more = /<a href="(\/account\/sessions\?cursor=[^"]+)">More sessions<\/a>/.exec(page.body)![1]!;
    const second = await agent.request(`${server.issuer}${more}`);
    expect(second.body.split(/<li class="account-item/).slice(1)).toHaveLength(2);
    expect(second.body).not.toContain('This device');
  });
});
