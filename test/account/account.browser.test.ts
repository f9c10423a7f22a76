// The account pages in a real browser, as a person uses them: signing in to reach them, removing
// an app's access (and the app's tokens dying with it), signing out other devices, and changing
// the password. Other browsers are other browser contexts: separate cookies, separate sessions.
import type { Browser, Page } from 'playwright-core';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';
const NEW_PASSWORD = 'lantern orchard velvet compass';

type Person = Awaited<ReturnType<typeof createPerson>>;

let server: TestServer;
let browser: Browser;
let app: App;
let notes: { clientId: string; clientSecret: string };
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  server = await startTestServer();
  const api = await server.stores.resources.create({
    identifier: NOTES_API, name: 'Notes', scope: 'notes:read notes:write', isDefault: true,
    scopeDescriptions: { 'notes:read': 'Read your notes' },
  });
  notes = { clientId: api.clientId, clientSecret: api.clientSecret! };
  app = await registerApp(server, { scope: SCOPE });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(async () => {
  // The account pages need nothing their CSP forbids: no script, no inline style.
  expect(await browsers.closeAll()).toEqual([]);
});

function newBrowserPage(): Promise<Page> {
  return browsers.newPage();
}

async function submitSignIn(page: Page, email: string, password: string) {
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Opens an account page, is sent to sign in, signs in, and is back on that page. */
async function signInAt(page: Page, path: string, person: { email: string; password: string }) {
  await page.goto(`${server.issuer}${path}`);
  await page.waitForURL(`${server.issuer}/interaction/**`);
  await submitSignIn(page, person.email, person.password);
  await page.waitForURL(`${server.issuer}${path}`);
}

/** Whether this browser is still signed in: /account shows the account, or the sign-in page. */
async function expectSignedOut(page: Page) {
  await page.goto(`${server.issuer}/account`);
  await page.waitForURL(`${server.issuer}/interaction/**`);
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
}

async function expectSignedIn(page: Page, person: Person) {
  await page.goto(`${server.issuer}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  expect(await page.locator('#account-email').textContent()).toBe(person.email);
}

function thisDeviceHandle(page: Page): Promise<string | null> {
  return page.locator('.this-device input[name="session"]').getAttribute('value');
}

async function introspect(token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(notes.clientId)}:${encodeURIComponent(notes.clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe('connected apps', () => {
  it('a person revokes an app they allowed, and the app\'s tokens stop working at once', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    expect(tokens.refresh_token).toBeTruthy();
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true });

    const page = await newBrowserPage();
    await signInAt(page, '/account/apps', person);
    await page.getByRole('heading', { name: 'Connected apps', level: 1 }).waitFor();
    const item = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Example App' }) });
    for (const words of ['Confirm who you are when you sign in', 'See your name', 'See your email address and whether it is verified', 'Keep access while you are not using it, until you revoke it', 'Read your notes']) {
      await item.getByText(words).waitFor();
    }
    expect((await item.textContent())?.replace(/\s+/g, ' ')).toContain('On Notes:');

    await item.getByRole('button', { name: 'Revoke' }).click();
    await page.waitForURL(`${server.issuer}/account/apps?notice=app-revoked`);
    expect(await page.getByRole('status').textContent()).toContain('Access removed.');
    await page.getByText('No apps are connected to your account.').waitFor();
    expect(await page.getByRole('heading', { name: 'Example App' }).count()).toBe(0);

    // The app finds out the next time it tries: its refresh token is refused, its tokens inactive.
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!).then(() => 'refreshed', (error: unknown) => (error as { error?: string }).error);
    expect(refreshed).toBe('invalid_grant');
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    expect(await introspect(tokens.refresh_token!)).toEqual({ active: false });
  });
});

describe('active sessions', () => {
  it('two browsers are two sessions, each marked "This device" on its own page; signing out the other ends it', async () => {
    const person = await createPerson(server);
    const laptop = await newBrowserPage();
    const phone = await newBrowserPage();
    await signInAt(laptop, '/account/sessions', person);
    await signInAt(phone, '/account/sessions', person);
    await laptop.reload();

    for (const page of [laptop, phone]) {
      expect(await page.locator('.account-item').count()).toBe(2);
      expect(await page.getByText('This device', { exact: true }).count()).toBe(1);
      expect((await page.locator('.this-device h2').textContent())?.replace(/\s+/g, ' ').trim()).toBe('Chrome on Linux This device');
    }
    const laptopHandle = await thisDeviceHandle(laptop);
    expect(laptopHandle).toBeTruthy();
    expect(await thisDeviceHandle(phone)).not.toBe(laptopHandle);

    await laptop.locator('.account-item:not(.this-device)').getByRole('button', { name: 'Sign out' }).click();
    await laptop.waitForURL(`${server.issuer}/account/sessions?notice=session-ended`);
    expect(await laptop.getByRole('status').textContent()).toBe('That session is signed out.');
    expect(await laptop.locator('.account-item').count()).toBe(1);
    await laptop.getByText('You are not signed in anywhere else.').waitFor();

    await expectSignedOut(phone);
    await expectSignedIn(laptop, person);
  });

  it('"Sign out of all other sessions" signs out every other browser and keeps this one', async () => {
    const person = await createPerson(server);
    const [desk, tablet, phone] = [await newBrowserPage(), await newBrowserPage(), await newBrowserPage()];
    await signInAt(tablet, '/account', person);
    await signInAt(phone, '/account', person);
    await signInAt(desk, '/account/sessions', person);
    expect(await desk.locator('.account-item').count()).toBe(3);

    await desk.getByRole('button', { name: 'Sign out of all other sessions' }).click();
    await desk.waitForURL(`${server.issuer}/account/sessions?notice=others-ended`);
    expect(await desk.getByRole('status').textContent()).toBe('You are signed out of all your other sessions.');
    expect(await desk.locator('.account-item').count()).toBe(1);

    await expectSignedOut(tablet);
    await expectSignedOut(phone);
    await expectSignedIn(desk, person);
  });

  it('signing out of this device from the list signs this browser out', async () => {
    const person = await createPerson(server);
    const page = await newBrowserPage();
    await signInAt(page, '/account/sessions', person);
    await page.getByRole('button', { name: 'Sign out of this device' }).click();
    await page.waitForURL(`${server.issuer}/interaction/**`);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  });
});

describe('change password', () => {
  it('a new password, with the other sessions signed out; the old password no longer signs in', async () => {
    const person = await createPerson(server);
    const here = await newBrowserPage();
    const elsewhere = await newBrowserPage();
    await signInAt(elsewhere, '/account', person);
    await signInAt(here, '/account/password', person);

    expect(await here.getByLabel('Sign out of my other sessions').isChecked()).toBe(true);
    expect(await here.getByLabel('Also end apps\' offline access').isChecked()).toBe(true);
    expect(await here.getByLabel('Current password').getAttribute('autocomplete')).toBe('current-password');
    expect(await here.getByLabel('New password').getAttribute('autocomplete')).toBe('new-password');

    // A guessable password first: the page says why, and nothing changes.
    await here.getByLabel('Current password').fill(person.password);
    await here.getByLabel('New password').fill('password123');
    await here.getByRole('button', { name: 'Change password' }).click();
    await here.getByRole('alert').waitFor();
    expect(await here.getByRole('alert').textContent()).toMatch(/common|guess/i);

    await here.getByLabel('Current password').fill('not the password');
    await here.getByLabel('New password').fill(NEW_PASSWORD);
    await here.getByRole('button', { name: 'Change password' }).click();
    expect(await here.getByRole('alert').textContent()).toBe('That is not your current password.');

    await here.getByLabel('Current password').fill(person.password);
    await here.getByLabel('New password').fill(NEW_PASSWORD);
    await here.getByRole('button', { name: 'Change password' }).click();
    await here.waitForURL(`${server.issuer}/account/password?notice=password-changed-all-ended`);
    expect(await here.getByRole('status').textContent()).toBe('Your password is changed, your other sessions are signed out, and apps on other devices lost their offline access.');

    await expectSignedOut(elsewhere);
    await expectSignedIn(here, person);

    // The other browser signs in again: the old password is refused, the new one works.
    await submitSignIn(elsewhere, person.email, person.password);
    expect(await elsewhere.getByRole('alert').textContent()).toContain('The email or password is incorrect.');
    await submitSignIn(elsewhere, person.email, NEW_PASSWORD);
    await elsewhere.waitForURL(`${server.issuer}/account`);
    expect(await elsewhere.locator('#account-email').textContent()).toBe(person.email);
  });
});
