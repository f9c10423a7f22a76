// Every page a person can see, read in a real browser in both colour schemes: all text on them
// must be readable (WCAG AA contrast against what is actually behind it), so a link styled as a
// button cannot turn into a blank box, and dark mode cannot hide a button's words.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers, sentTo } from '../support/browser.js';
import { lowContrastText, type LowContrast } from '../support/contrast.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { createAdmin } from '../admin/console/support.js';
import { OneTimeLinks, type LinkPurpose } from '../../src/links/store.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';
const APP_ORIGIN = 'https://app.example.test';

let server: TestServer;
let browser: Browser;
let app: App;
let grace: Awaited<ReturnType<typeof createPerson>>;
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({
    identifier: NOTES_API, name: 'Notes', scope: 'notes:read notes:write', isDefault: true,
    scopeDescriptions: { 'notes:read': 'Read your notes', 'notes:write': 'Change your notes' },
  });
  app = await registerApp(server, { scope: SCOPE, postLogoutRedirectUri: `${APP_ORIGIN}/signed-out` });
  grace = await createPerson(server, { name: 'Grace Hopper' });
  await obtainTokens(server, app, grace, { scope: SCOPE });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** Reads the page as it stands in light and in dark mode; returns what is too faint in either. */
async function audit(page: Page, seen: string[], problems: string[]): Promise<void> {
  const where = new URL(page.url());
  seen.push(`${where.pathname}${where.search}`);
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const found: LowContrast[] = await lowContrastText(page);
    for (const f of found) {
      problems.push(`${where.pathname} (${colorScheme}): "${f.text}" <${f.element}> ${f.color} on ${f.background} is ${f.ratio}:1, needs ${f.required}:1`);
    }
  }
}

async function signIn(page: Page, person: { email: string; password: string }) {
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

describe('every page a person can see', () => {
  it('has readable text (WCAG AA contrast) in light and in dark mode', { timeout: 120_000 }, async () => {
    const admin = await createAdmin(server, { name: 'Ada Admin' });
    const page = await browsers.newPage();
    // The app's own pages are not Gatehouse's: the browser just lands there.
    await page.context().route(`${APP_ORIGIN}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>The app</h1>' }));
    const seen: string[] = [];
    const problems: string[] = [];
    const visit = async (path: string) => {
      await page.goto(`${server.issuer}${path}`);
      await audit(page, seen, problems);
    };

    // Error pages: ours, and the provider's (an authorization request it cannot send back).
    await visit('/no-such-page');
    await visit('/interaction/no-such-sign-in');
    await visit(`/auth?${new URLSearchParams({ client_id: 'no-such-app', response_type: 'code', scope: 'openid' })}`);

    // Sign-in (empty, then with its error), and consent.
    await page.goto((await authorizationRequest(app, { scope: SCOPE })).url.href);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await audit(page, seen, problems);
    await signIn(page, { email: admin.email, password: 'not the password' });
    await page.getByRole('alert').waitFor();
    await audit(page, seen, problems);
    await signIn(page, admin);
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await audit(page, seen, problems);
    await sentTo(page, APP_ORIGIN, () => page.getByRole('button', { name: 'Allow' }).click());

    // The account pages, with an app connected and a notice showing.
    await visit('/account');
    await visit('/account/apps?notice=app-revoked');
    await visit('/account/sessions');
    await visit('/account/password');
    await visit('/account/email?notice=verification-sent');
    // Passkeys: the list with one (stored as registering would, its key a stand-in), its removal page.
    const passkey = await server.db.transaction((trx) => server.passkeys.store.add({
      userId: admin.id, credentialId: 'contrast-test-credential', publicKey: 'AA', counter: 0, transports: ['internal'], backedUp: true, aaguid: null, name: 'Work laptop',
    }, trx));
    await visit('/account/passkeys?notice=passkey-added');
    await visit(`/account/passkeys/remove?passkey=${passkey.id}`);
    // A verification link that no longer works (the page a used or expired link opens).
    await visit('/verify-email?token=no-such-token');

    // The mailed-link pages: asking, the answer, each link's page, a dead link, and after.
    await visit('/recover');
    await page.getByLabel('Email').fill(grace.email);
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    await audit(page, seen, problems);
    const links = new OneTimeLinks(server.db);
    const linkFor = (purpose: LinkPurpose) => server.db.transaction(async (trx) => (await links.issue(trx, { purpose, userId: grace.id, email: grace.email, ttlSeconds: 600 })).token);
    await visit(`/recover/new-password?token=${await linkFor('recovery')}`);
    await visit(`/sign-in-link?token=${await linkFor('sign_in')}`);
    for (const path of ['/recover/new-password?token=spent', '/sign-in-link?token=spent', '/recover/done', '/sign-in-link/done']) await visit(path);
    // An address change's link page (it asks for the account's password), and that page with its problem.
    const moveTo = `moved.${grace.email}`;
    await server.addresses.requestChange({ type: 'system', id: 'test' }, grace.id, moveTo);
    const changeLink = await server.db.transaction(async (trx) => (await links.issue(trx, { purpose: 'verification', userId: grace.id, email: moveTo, ttlSeconds: 600 })).token);
    await visit(`/verify-email?token=${changeLink}`);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByRole('alert').waitFor();
    await audit(page, seen, problems);

    // Every console page, with data in it: lists, one of each, forms, confirmations, problems.
    const appHref = `/admin/apps/${encodeURIComponent(app.clientId)}`;
    const apiHref = `/admin/apis/${encodeURIComponent(NOTES_API)}`;
    for (const path of [
      '/admin/people?done=person-created', '/admin/people/new', `/admin/people/${grace.id}`, `/admin/people/${grace.id}/delete`,
      '/admin/apps', '/admin/apps/new', appHref, `${appHref}/delete`,
      '/admin/apis', '/admin/apis/new', apiHref, `${apiHref}/delete`,
      '/admin/keys', '/admin/audit', '/admin/people/00000000-0000-0000-0000-000000000000',
    ]) await visit(path);
    // A form sent back with its problem, and the page that shows a new secret once.
    await page.goto(`${server.issuer}/admin/people/new`);
    await page.getByRole('button', { name: /add/i }).click();
    await page.getByRole('alert').waitFor();
    await audit(page, seen, problems);
    await page.goto(`${server.issuer}/admin/apps/new`);
    await page.getByLabel('Name').fill('Birch Calendar');
    await page.getByLabel('Redirect URIs, one per line').fill(`${APP_ORIGIN}/birch`);
    await page.getByRole('button', { name: 'Register the app' }).click();
    await page.getByRole('heading', { name: /secret/i, level: 1 }).waitFor();
    await audit(page, seen, problems);

    // Signing out of one app only (staying signed in to Gatehouse): the page links back to that
    // app's registered address, shown only to the browser that just signed out of the app.
    await visit(`/session/end?client_id=${encodeURIComponent(app.clientId)}`);
    await page.getByRole('button', { name: 'Stay signed in' }).click();
    await page.getByRole('link', { name: 'Back to Example App' }).waitFor();
    await audit(page, seen, problems);
    // Signing out: the confirmation, and the signed-out page.
    await visit('/session/end');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
    await audit(page, seen, problems);

    // Someone who is not an administrator opening the console.
    await page.goto(`${server.issuer}/admin`);
    await signIn(page, grace);
    await page.getByRole('heading', { name: /administrators/i }).waitFor();
    await audit(page, seen, problems);

    expect(seen.length).toBeGreaterThanOrEqual(30);
    expect(problems, `text below WCAG AA contrast on:\n${problems.join('\n')}`).toEqual([]);
    expect(await browsers.closeAll()).toEqual([]);
  });
});
