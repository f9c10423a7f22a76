// Changing one's address in a real browser, as a person does it: the account's Email page, the
// new address and the current password, the mail that arrives at the new address (over real
// SMTP), its link opened in the browser and its button pressed; then the account shows the new
// address, verified. The pages need nothing their CSP forbids.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import { createPerson } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { linksIn, mailsTo, subjectOf } from '../support/mail.js';
import { startSmtpReceiver, type SmtpReceiver } from '../support/smtp.js';

let smtp: SmtpReceiver;
let server: TestServer;
let browser: Browser;
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  // The notices (a new browser, an app connected) have tests of their own; here they would crowd the mailbox.
  server = await startTestServer({ SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <id@example.test>', EMAIL_NOTIFICATIONS: 'false' });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.close();
});
afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([]);
});

async function signInAt(page: Page, path: string, person: { email: string; password: string }) {
  await page.goto(`${server.issuer}${path}`);
  await page.waitForURL(`${server.issuer}/interaction/**`);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${server.issuer}${path}`);
}

describe('changing the address on the account pages', () => {
  it('a person changes their address, follows the link mailed to the new one, and sees it verified', async () => {
    const person = await createPerson(server);
    const newEmail = `renamed.${person.email}`;
    const page = await browsers.newPage();
    await signInAt(page, '/account', person);
    await page.getByRole('link', { name: 'Email address' }).click();
    await page.getByRole('heading', { name: 'Email address', level: 1 }).waitFor();

    await page.getByLabel('New email address').fill(newEmail);
    await page.getByLabel('Current password').fill(person.password);
    await page.getByRole('button', { name: 'Change my address' }).click();
    await page.waitForURL(`${server.issuer}/account/email?notice=email-change-sent`);
    await page.getByRole('status').getByText('We mailed a link to your new address').waitFor();
    expect(await page.locator('#current-email').textContent()).toBe(person.email);
    expect(await page.locator('#pending-change').textContent()).toContain(newEmail);

    await server.deliveries.sender.deliverDue();
    expect(mailsTo(smtp.received, person.email).map(subjectOf)).toEqual(['Your email address is being changed']);
    const [mail] = mailsTo(smtp.received, newEmail);
    const [link] = linksIn(mail!, `${server.issuer}/verify-email?token=`);

    await page.goto(link!);
    await page.getByRole('heading', { name: 'An account asks to use this address' }).waitFor();
    // Without the account's password the button changes nothing and says why.
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByRole('alert').getByText('Enter the password of the account this address is being added to').waitFor();
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByRole('alert').getByText('That is not the password of the account').waitFor();
    expect((await server.stores.users.findById(person.id))!.email).toBe(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByRole('heading', { name: 'Your email address is changed' }).waitFor();

    await page.getByRole('link', { name: 'Go to your account' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    expect(await page.locator('#account-email').textContent()).toBe(newEmail);
    expect(await page.locator('#email-unverified').count()).toBe(0);
    await page.goto(`${server.issuer}/account/email`);
    expect(await page.locator('#email-status').textContent()).toBe('Verified');
    expect(await page.locator('#pending-change').count()).toBe(0);

    await server.deliveries.sender.deliverDue();
    expect(mailsTo(smtp.received, person.email).map(subjectOf)).toEqual(['Your email address is being changed', 'Your email address was changed']);
  });

  it('a person whose address is unverified is told so and sends themselves a link, which verifies it', async () => {
    const email = `unverified.${Date.now()}@example.test`;
    const person = { ...(await server.stores.users.create({ email, name: 'Una Verified', password: 'correct horse battery staple' })), password: 'correct horse battery staple' };
    const page = await browsers.newPage();
    await signInAt(page, '/account', person);
    await page.locator('#email-unverified').click();
    await page.waitForURL(`${server.issuer}/account/email`);
    expect(await page.locator('#email-status').textContent()).toBe('Not verified');
    await page.getByRole('button', { name: 'Send me a verification link' }).click();
    await page.getByRole('status').getByText('We mailed you a link').waitFor();

    await server.deliveries.sender.deliverDue();
    const [link] = linksIn(mailsTo(smtp.received, email)[0]!, `${server.issuer}/verify-email?token=`);
    await page.goto(link!);
    await page.getByRole('button', { name: 'Verify my address' }).click();
    await page.getByRole('heading', { name: 'Your email address is verified' }).waitFor();
    await page.goto(`${server.issuer}/account/email`);
    expect(await page.locator('#email-status').textContent()).toBe('Verified');

    // The link, used, now opens the friendly page.
    const again = await page.goto(link!);
    expect(again?.status()).toBe(410);
    await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  });
});
