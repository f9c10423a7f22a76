// Getting back in from the mail alone, in a real browser with the mail going to a real SMTP server:
// forgetting the password on an app's sign-in page and setting a new one from the mailed link;
// being told of a sign-in from a new browser; and the way past a sign-in refused for new browsers
// during an attack on the account, by a mailed sign-in link.
import type { Browser, Page } from 'playwright-core';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers, sentTo } from '../support/browser.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App, type AuthorizationRequest } from '../support/flows.js';
import { linkIn } from '../support/received-mail.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { newAddress, startMailingServer, type MailingServer } from '../support/mailing.js';

const NEW_PASSWORD = 'lantern orchard velvet compass';
const WRONG = 'not the password, sorry';

let mailing: MailingServer;
let browser: Browser;
let app: App;
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  // Small account limits, so an attack on one account is a few requests.
  mailing = await startMailingServer({ SIGNIN_MAX_CONSECUTIVE_FAILURES: '2', SIGNIN_ACCOUNT_MAX_FAILURES: '3' });
  app = await registerApp(mailing.server);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await mailing?.stop();
});

afterEach(async () => {
  // The recovery pages need nothing their CSP forbids: no script, no inline style.
  expect(await browsers.closeAll()).toEqual([]);
});

/** A browser whose visits to the app's redirect URI land on a stand-in page, so the code can be read off the address. */
async function newBrowserPage(): Promise<Page> {
  const page = await browsers.newPage();
  // A step that cannot happen fails naming its locator, well within the test's own timeout.
  page.setDefaultTimeout(8_000);
  await page.context().route(`${new URL(app.redirectUri).origin}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>The app</p>' }));
  return page;
}

async function submitSignIn(page: Page, email: string, password: string) {
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Allows the app on the consent page and exchanges the code it gets, as the app would. */
async function allowAndExchange(page: Page, request: AuthorizationRequest) {
  const callback = await sentTo(page, app.redirectUri, () => page.getByRole('button', { name: 'Allow' }).click());
  return client.authorizationCodeGrant(app.config, callback, {
    pkceCodeVerifier: request.codeVerifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  });
}

function subjects(email: string): string[] {
  return mailing.mailsTo(email).map((mail) => mail.subject);
}

describe('password recovery in a browser', () => {
  it('forgets the password on an app\'s sign-in page and gets back in from the mail alone', async () => {
    const person = await createPerson(mailing.server);
    const before = await obtainTokens(mailing.server, app, person);
    const page = await newBrowserPage();
    const request = await authorizationRequest(app);
    await page.goto(request.url.href);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();

    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await page.getByLabel('Email').fill(person.email);
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();

    await mailing.deliver();
    const mail = mailing.mailsTo(person.email).find((m) => m.subject === 'Choose a new Gatehouse password')!;
    expect(mail.html).toContain('Choose a new password');
    const link = linkIn(mail, `${mailing.server.issuer}/recover/new-password?`);
    const opened = await page.goto(link);
    expect(opened?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    expect(await page.getByLabel('Sign me out everywhere').isChecked()).toBe(true);
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByRole('heading', { name: 'Your password is set' }).waitFor();

    // Back to the sign-in the person came from: the old password is refused, the new one works.
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(`${mailing.server.issuer}/interaction/**`);
    await submitSignIn(page, person.email, person.password);
    await page.getByText('The email or password is incorrect.').waitFor();
    await submitSignIn(page, person.email, NEW_PASSWORD);
    const after = await allowAndExchange(page, request);
    expect(after.access_token).toBeTruthy();

    // The app's refresh token from before the reset is dead.
    await expect(client.refreshTokenGrant(app.config, before.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await mailing.deliver();
    const notice = mailing.mailsTo(person.email).find((m) => m.subject === 'Your Gatehouse password was changed')!;
    expect(notice.text).toContain('through a password recovery link');
    expect(notice.text).toContain(`${mailing.server.issuer}/recover`);
    // A used link opens the page saying so, not an error. In a browser of its own: the app's
    // redirect above can still be under way in this one, and would interrupt the navigation.
    const later = await newBrowserPage();
    const reused = await later.goto(link);
    expect(reused?.status()).toBe(410);
    await later.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  });
});

describe('the new-browser notice', () => {
  it('tells the person of a sign-in from a browser their account had not used, once per browser', async () => {
    const person = await createPerson(mailing.server);
    const page = await newBrowserPage();
    const first = await authorizationRequest(app);
    await page.goto(first.url.href);
    await submitSignIn(page, person.email, person.password);
    await allowAndExchange(page, first);
    await mailing.deliver();
    // Connecting the app is news of its own (src/interaction/app-connected.ts), once.
    const NEW_SIGN_IN = 'New sign-in to your Gatehouse account';
    const signIns = () => subjects(person.email).filter((subject) => subject !== 'An app was connected to your account');
    expect(subjects(person.email).sort()).toEqual(['An app was connected to your account', NEW_SIGN_IN]);
    const notice = mailing.mailsTo(person.email).find((mail) => mail.subject === NEW_SIGN_IN)!;
    expect(notice.text).toMatch(/Browser: Chrom\w* on Linux/);
    expect(notice.text).toContain('Network: 127.0.0.0/24');
    expect(notice.html).toContain('Choose a new password');

    // The same browser signing in again is not news.
    const again = await authorizationRequest(app, { prompt: 'login consent' });
    await page.goto(again.url.href);
    await submitSignIn(page, person.email, person.password);
    await allowAndExchange(page, again);
    await mailing.deliver();
    expect(signIns()).toHaveLength(1);

    // Another browser is.
    const other = await newBrowserPage();
    const third = await authorizationRequest(app);
    await other.goto(third.url.href);
    await submitSignIn(other, person.email, person.password);
    await allowAndExchange(other, third);
    await mailing.deliver();
    expect(signIns()).toEqual([NEW_SIGN_IN, NEW_SIGN_IN]);
    expect(subjects(person.email)).toHaveLength(3);
  });
});

describe('a sign-in refused for new browsers', () => {
  /** Someone else fails sign-ins for the account from addresses of their own, until new browsers are refused for it. */
  async function attackAccount(email: string) {
    for (let i = 0; i < 4; i += 1) {
      const agent = new UserAgent(mailing.server.issuer);
      const login = await agent.follow((await authorizationRequest(app)).url.href);
      const form = formOf(login.body, /\/login$/);
      const res = await agent.request(new URL(form.action, login.url).href, { form: { csrf: form.csrf, email, password: WRONG }, headers: { 'x-forwarded-for': newAddress() } });
      expect([401, 429]).toContain(res.status);
    }
  }

  it('offers a mailed sign-in link that lets the browser following it sign in with the password', async () => {
    const person = await createPerson(mailing.server);
    await attackAccount(person.email);
    const page = await newBrowserPage();
    const request = await authorizationRequest(app);
    await page.goto(request.url.href);
    await submitSignIn(page, person.email, person.password);
    await page.getByText(/Too many attempts/).waitFor();
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();

    await mailing.deliver();
    const mail = mailing.mailsTo(person.email).find((m) => m.subject === 'Your Gatehouse sign-in link')!;
    const link = linkIn(mail, `${mailing.server.issuer}/sign-in-link?`);
    // Opening the link spends nothing and signs nobody in; the button does the one thing it says.
    await page.goto(link);
    await page.getByRole('heading', { name: 'Use this browser to sign in?' }).waitFor();
    await page.getByRole('button', { name: 'Let this browser sign in' }).click();
    await page.getByRole('heading', { name: 'This browser may sign in' }).waitFor();
    // Only the browser that followed the link: any other new browser is still refused.
    const other = await newBrowserPage();
    await other.goto((await authorizationRequest(app)).url.href);
    await submitSignIn(other, person.email, person.password);
    await other.getByText(/Too many attempts/).waitFor();

    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(`${mailing.server.issuer}/interaction/**`);
    await submitSignIn(page, person.email, person.password);
    expect((await allowAndExchange(page, request)).access_token).toBeTruthy();

    // The link worked once.
    const reused = await page.goto(link);
    expect(reused?.status()).toBe(410);
    await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
    const used = (await mailing.server.audit.list({ type: 'user.sign_in_link_used', userId: person.id })).items;
    expect(used).toHaveLength(1);
  });
});
