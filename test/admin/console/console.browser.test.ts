// The admin console in a real browser, as an administrator uses it: signing in through the normal
// login page, finding a person, revoking one app's access, ending their sessions, disabling them,
// rotating an app's secret, and finding all of it in the audit log. Each act is proven where it
// matters: the app's refresh token (openid-client) and the API's introspection.
import type { Browser, Page } from 'playwright-core';
import { launchChromium, SeparateBrowsers } from '../../support/browser.js';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp, type App } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { createAdmin } from './support.js';
import { written } from '../../support/changes.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';

let server: TestServer;
let browser: Browser;
let notes: { clientId: string; clientSecret: string };
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  server = await startTestServer();
  const api = await server.stores.resources.create({
    identifier: NOTES_API, name: 'Notes', scope: 'notes:read', isDefault: true, scopeDescriptions: { 'notes:read': 'Read your notes' },
  });
  notes = { clientId: api.clientId, clientSecret: api.clientSecret! };
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(async () => {
  // The console needs nothing its CSP forbids: no script, no inline style.
  expect(await browsers.closeAll()).toEqual([]);
});

function newBrowserPage(): Promise<Page> {
  return browsers.newPage();
}

async function namedApp(name: string): Promise<App> {
  const app = await registerApp(server, { scope: SCOPE });
  await written(server, () => server.stores.clients.update(app.clientId, { name }));
  return app;
}

/** Opens /admin, is sent to the login page, signs in there, and comes back. */
async function signInAtConsole(page: Page, person: { email: string; password: string }) {
  await page.goto(`${server.issuer}/admin`);
  await page.waitForURL(`${server.issuer}/interaction/**`);
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function refreshOutcome(app: App, refreshToken: string): Promise<string> {
  return client.refreshTokenGrant(app.config, refreshToken).then(() => 'refreshed', (error: unknown) => String((error as { error?: string }).error));
}

/** What the notes API learns when it introspects the token. */
async function introspectAtApi(token: string): Promise<{ active: boolean }> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${notes.clientId}:${notes.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { active: boolean };
}

async function authenticates(clientId: string, secret: string): Promise<boolean> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ token: 'nothing' }),
  });
  await res.arrayBuffer();
  return res.status === 200;
}

describe('the admin console in a browser', () => {
  it('an admin signs in, finds a person, revokes an app, ends their sessions, disables them, rotates a secret, and reads it all in the audit log', async () => {
    const admin = await createAdmin(server, { name: 'Ada Admin' });
    const grace = await createPerson(server, { name: 'Grace Hopper', email: `grace.${Date.now()}@example.test` });
    await createPerson(server, { name: 'Alan Turing' });
    const acme = await namedApp('Acme Notes');
    const birch = await namedApp('Birch Calendar');
    const acmeTokens = (await obtainTokens(server, acme, grace, { scope: SCOPE })).tokens;
    const birchTokens = (await obtainTokens(server, birch, grace, { scope: SCOPE })).tokens;
    expect((await introspectAtApi(acmeTokens.access_token)).active).toBe(true);

    const page = await newBrowserPage();
    await signInAtConsole(page, admin);
    await page.waitForURL(`${server.issuer}/admin/people`);
    await page.getByRole('heading', { name: 'People', level: 1 }).waitFor();
    await expect(page.getByRole('link', { name: 'Sign out' }).getAttribute('href')).resolves.toBe('/session/end');

    // Finds Grace by searching, and opens her page.
    await page.getByLabel('Find people by the start of their email or name').fill('grace');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/admin\/people\?search=grace$/);
    expect(await page.getByRole('row').count()).toBe(2); // the header and Grace
    await page.getByRole('link', { name: 'Grace Hopper' }).click();
    await page.getByRole('heading', { name: 'Grace Hopper', level: 1 }).waitFor();
    const graceUrl = page.url();
    // What each app may do, in the words of the consent page; the API's own scopes under its name.
    expect(await page.getByRole('cell', { name: 'Notes Read your notes' }).count()).toBe(2);
    expect(await page.getByRole('cell', { name: /See your email address/ }).count()).toBe(2);
    expect(await page.getByText('Use the “openid” permission').count()).toBe(0);

    // Revokes Acme's access: Acme's tokens die at once, Birch's live on.
    await page.getByRole('button', { name: 'Revoke Acme Notes\'s access' }).click();
    await page.getByRole('status').filter({ hasText: 'The access was revoked.' }).waitFor();
    expect(await refreshOutcome(acme, acmeTokens.refresh_token!)).toBe('invalid_grant');
    expect(await introspectAtApi(acmeTokens.access_token)).toEqual({ active: false });
    expect(await page.getByRole('button', { name: 'Revoke Acme Notes\'s access' }).count()).toBe(0);
    expect(await refreshOutcome(birch, birchTokens.refresh_token!)).toBe('refreshed');

    // Ends her sessions: the apps signed in through them lose access too.
    expect(await page.getByRole('button', { name: /^End the session on / }).count()).toBe(2);
    await page.getByRole('button', { name: 'Sign Grace Hopper out everywhere' }).click();
    await page.getByRole('status').filter({ hasText: 'The person was signed out everywhere.' }).waitFor();
    await page.getByText('Not signed in anywhere.').waitFor();
    expect(await server.db('oidc_records').where({ model: 'Session', account_id: grace.id })).toHaveLength(0);

    // She signs in to Birch again; disabling her kills those new tokens at once.
    const fresh = (await obtainTokens(server, birch, grace, { scope: SCOPE })).tokens;
    expect((await introspectAtApi(fresh.access_token)).active).toBe(true);
    await page.goto(graceUrl);
    await page.getByRole('button', { name: 'Disable Grace Hopper' }).click();
    await page.getByRole('status').filter({ hasText: 'The person is disabled' }).waitFor();
    await page.getByRole('button', { name: 'Enable Grace Hopper' }).waitFor();
    expect(await introspectAtApi(fresh.access_token)).toEqual({ active: false });
    expect(await refreshOutcome(birch, fresh.refresh_token!)).toBe('invalid_grant');
    await expect(client.fetchUserInfo(birch.config, fresh.access_token, client.skipSubjectCheck)).rejects.toThrow();

    // Rotates Acme's secret with no overlap: shown once, the old one dead.
    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Apps' }).click();
    await page.getByRole('link', { name: 'Acme Notes' }).click();
    await page.getByRole('heading', { name: 'Acme Notes', level: 1 }).waitFor();
    await page.getByLabel('How long the current secret keeps working').selectOption({ label: 'None: the old secret stops working now' });
    await page.getByRole('button', { name: 'Rotate the secret of Acme Notes' }).click();
    await page.getByRole('heading', { name: 'Copy the secret of Acme Notes now' }).waitFor();
    await page.getByText('This is the only time Gatehouse shows the secret').waitFor();
    const secret = (await page.locator('#client-secret').textContent())!;
    expect(await authenticates(acme.clientId, secret)).toBe(true);
    expect(await authenticates(acme.clientId, acme.clientSecret!)).toBe(false);
    await page.getByRole('link', { name: /back to Acme Notes/ }).click();
    await page.getByRole('heading', { name: 'Acme Notes', level: 1 }).waitFor();
    expect(await page.content()).not.toContain(secret);

    // The audit log: each act, done by the admin, to Grace or to Acme.
    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Done by (id)').fill(admin.id);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/\/admin\/audit\?/);
    const rows = (await page.locator('tbody tr').allInnerTexts()).map((row) => row.replace(/\s+/g, ' '));
    const who = `${admin.name} (${admin.email})`;
    const expected: Array<[string, string]> = [
      ['Rotated an app\'s secret', 'Acme Notes'],
      ['Disabled a person', 'Grace Hopper'],
      ['Ended sessions', 'Grace Hopper'],
      ['Revoked access', 'Grace Hopper'],
      ['Signed in', who],
    ];
    expect(rows).toHaveLength(expected.length);
    expected.forEach(([what, whom], i) => {
      expect(rows[i]).toContain(who);
      expect(rows[i]).toContain(what);
      expect(rows[i]).toContain(whom);
    });
    expect(rows[3]).toContain('Acme Notes');
  });

  it('a person who is not an administrator signs in and is told the console is for administrators', async () => {
    const person = await createPerson(server, { name: 'Not Admin' });
    const page = await newBrowserPage();
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${server.issuer}/admin` && r.request().method() === 'GET' && r.status() !== 302),
      signInAtConsole(page, person),
    ]);
    expect(response.status()).toBe(403);
    await page.getByRole('heading', { name: 'Only administrators can open the console' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Admin console' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Sign out' }).getAttribute('href')).toBe('/session/end');
  });
});
