// Coming in, in a real browser, from the mail alone: an admin invites a person from the console's
// "Add a person"; the invitation arrives over real SMTP, and its link lets the person choose a
// password and sign in. And with SIGNUP=open, someone creates an account from the sign-in page,
// confirms the address from the mail, and signs in. Every page needs nothing its CSP forbids.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import { linkIn, startMailedServer, type MailedServer } from './support.js';

const ADMIN_PASSWORD = 'granite meadow copper whistle';
const PASSWORD = 'violet harbour pepper ladder';

let mailed: MailedServer;
let browser: Browser;
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  mailed = await startMailedServer({ SIGNUP: 'open' });
  await mailed.server.stores.users.create({ email: 'admin@example.test', name: 'Ada Admin', password: ADMIN_PASSWORD, emailVerified: true, isAdmin: true });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await mailed?.stop();
});
afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([]);
});

async function signIn(page: Page, email: string, password: string) {
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

describe('in a browser', () => {
  it('an admin invites from "Add a person"; the person sets a password from the mail and signs in', async () => {
    const admin = await browsers.newPage();
    await admin.goto(`${mailed.server.issuer}/admin/people/new`);
    await signIn(admin, 'admin@example.test', ADMIN_PASSWORD);
    await admin.waitForURL(`${mailed.server.issuer}/admin/people/new`);
    await admin.getByLabel('Email', { exact: true }).fill('grace@example.test');
    await admin.getByLabel('Name', { exact: true }).fill('Grace Hopper');
    await admin.getByLabel('Send an invitation: they choose it').check();
    await admin.getByRole('button', { name: 'Add the person' }).click();
    await admin.getByText('an invitation is on its way').waitFor();
    expect(await admin.locator('dl').textContent()).toContain('Invited');

    const [mail] = await mailed.deliver();
    expect(mail?.to).toEqual(['grace@example.test']);
    expect(mail?.raw).toContain('Ada Admin');

    const person = await browsers.newPage();
    await person.goto(linkIn(mail!, '/invitation'));
    await person.getByRole('heading', { name: 'Welcome, Grace Hopper' }).waitFor();
    await person.getByLabel('Password').fill('password');
    await person.getByRole('button', { name: 'Set my password' }).click();
    await person.getByRole('alert').waitFor();
    await person.getByLabel('Password').fill(PASSWORD);
    await person.getByRole('button', { name: 'Set my password' }).click();
    await person.getByRole('heading', { name: 'Your account is ready' }).waitFor();
    await person.getByRole('link', { name: 'Sign in' }).click();
    await signIn(person, 'grace@example.test', PASSWORD);
    await person.waitForURL(`${mailed.server.issuer}/account`);
    expect(await person.locator('#account-email').textContent()).toBe('grace@example.test');

    // The admin sees them active, their address confirmed.
    await admin.reload();
    expect(await admin.locator('dl').textContent()).toMatch(/Email confirmed\s*Yes[\s\S]*Status\s*Active/);
  });

  it('someone creates an account from the sign-in page, confirms the address from the mail, and signs in', async () => {
    const page = await browsers.newPage();
    await page.goto(`${mailed.server.issuer}/account`);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Name').fill('Linus Newcomer');
    await page.getByLabel('Email').fill('linus@example.test');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create the account' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();

    // Signing in before confirming fails as any failure does, saying how a new account is confirmed.
    await page.goto(`${mailed.server.issuer}/account`);
    await signIn(page, 'linus@example.test', PASSWORD);
    await page.getByText('confirm your email address first').waitFor();

    const [mail] = await mailed.deliver();
    await page.goto(linkIn(mail!, '/signup/verify'));
    await page.getByRole('heading', { name: 'Confirm your address' }).waitFor();
    // The click alone is not enough: the password chosen at sign-up proves it is the same person.
    await page.getByRole('button', { name: 'Confirm and activate my account' }).click();
    await page.getByRole('alert').getByText('Enter the password of the account this address is being added to').waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Confirm and activate my account' }).click();
    await page.getByRole('heading', { name: 'Your account is ready' }).waitFor();
    await page.getByRole('link', { name: 'Sign in' }).click();
    await signIn(page, 'linus@example.test', PASSWORD);
    await page.waitForURL(`${mailed.server.issuer}/account`);
    expect(await page.locator('#account-email').textContent()).toBe('linus@example.test');
  });
});
