// Pages and mails in the person's language (src/i18n/): the app's ui_locales first, then the
// browser's Accept-Language, then DEFAULT_LOCALE; a language Gatehouse has no catalog for falls
// through to the next. In a real browser against a real server, with mail to a real SMTP server.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers, sentTo } from '../support/browser.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { linkIn } from '../support/received-mail.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import { UserAgent, type Response } from '../support/user-agent.js';

const NOTES_API = 'https://notes.example.test';

let mailing: MailingServer;
let germanByDefault: TestServer;
let browser: Browser;
let app: App;
let germanDefaultApp: App;
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  mailing = await startMailingServer();
  await mailing.server.stores.resources.create({
    identifier: NOTES_API,
    name: 'Notes',
    scope: 'notes:read notes:write',
    isDefault: true,
    scopeDescriptions: { 'notes:read': 'Read your notes', 'notes:write': 'Change your notes' },
    // Only one of the two in German: the other shows in the default language's words.
    localizedScopeDescriptions: { de: { 'notes:read': 'Ihre Notizen lesen' } },
  });
  app = await registerApp(mailing.server, { scope: 'openid profile email offline_access notes:read notes:write' });
  germanByDefault = await startTestServer({ DEFAULT_LOCALE: 'de' });
  germanDefaultApp = await registerApp(germanByDefault);
  browser = await launchChromium();
  // Two servers (one with DEFAULT_LOCALE=de) and a browser.
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await germanByDefault?.stop();
  await mailing?.stop();
});

afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([]);
});

async function newBrowserPage(): Promise<Page> {
  const page = await browsers.newPage();
  page.setDefaultTimeout(8_000);
  await page.context().route(`${new URL(app.redirectUri).origin}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>The app</p>' }));
  return page;
}

/** A browser set to German: it sends Accept-Language: de-DE. */
const germanContexts: BrowserContext[] = [];
async function germanBrowserPage(): Promise<Page> {
  const context = await browser.newContext({ locale: 'de-DE' });
  germanContexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(8_000);
  return page;
}
afterEach(async () => {
  await Promise.all(germanContexts.splice(0).map((context) => context.close()));
});

/** The page an authorization URL ends on, fetched with `headers` (Accept-Language) at every step. */
async function pageFor(url: URL | string, headers: Record<string, string> = {}): Promise<Response> {
  const agent = new UserAgent(String(url));
  let response = await agent.request(String(url), { headers });
  for (let hops = 0; hops < 5 && response.status >= 300 && response.status < 400; hops += 1) {
    response = await agent.request(new URL(response.headers.get('location')!, response.url).href, { headers });
  }
  return response;
}

function languageOf(body: string): string | undefined {
  return /<html lang="([^"]+)">/.exec(body)?.[1];
}

describe('German pages by ui_locales', () => {
  it('shows the sign-in and consent pages in German when the app asks for ui_locales=de, with the API\'s German scope descriptions', async () => {
    const person = await createPerson(mailing.server);
    const page = await newBrowserPage();
    const request = await authorizationRequest(app, { ui_locales: 'de', scope: 'openid email notes:read notes:write' });
    await page.goto(request.url.href);

    await page.getByRole('heading', { name: 'Anmelden', exact: true }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('de');
    expect(await page.title()).toBe('Anmelden · Gatehouse');
    await page.getByLabel('E-Mail-Adresse').fill(person.email);
    await page.getByLabel('Passwort').fill('not the password');
    await page.getByRole('button', { name: 'Anmelden', exact: true }).click();
    await page.getByText('Die E-Mail-Adresse oder das Passwort ist falsch.').waitFor();

    await page.getByLabel('Passwort').fill(person.password);
    await page.getByRole('button', { name: 'Anmelden', exact: true }).click();
    await page.getByRole('heading', { name: 'Example App möchte auf Ihr Konto zugreifen' }).waitFor();
    const scopes = await page.locator('.scope-text').allTextContents();
    expect(scopes).toEqual(expect.arrayContaining([
      'Ihre E-Mail-Adresse sehen und ob sie bestätigt ist',
      'Ihre Notizen lesen',
      // No German given for this one: the API's own default-language words.
      'Change your notes',
    ]));
    const callback = await sentTo(page, app.redirectUri, () => page.getByRole('button', { name: 'Erlauben' }).click());
    expect(callback.searchParams.get('code')).toBeTruthy();

    // The sign-in's language is remembered for the mails the person does not ask for.
    const [row] = await mailing.server.testDb.db('users').where({ id: person.id }).select('locale');
    expect(row.locale).toBe('de');
    await mailing.deliver();
    const subjects = mailing.mailsTo(person.email).map((mail) => mail.subject);
    expect(subjects).toContain('Neue Anmeldung bei Ihrem Gatehouse-Konto');
    expect(subjects).toContain('Eine App wurde mit Ihrem Konto verbunden');
  });

  it('keeps the German of the sign-in page through "Passwort vergessen?", and the recovery mail is German too', async () => {
    const person = await createPerson(mailing.server);
    const page = await newBrowserPage();
    const request = await authorizationRequest(app, { ui_locales: 'de' });
    await page.goto(request.url.href);
    await page.getByRole('link', { name: 'Passwort vergessen?' }).click();
    await page.getByRole('heading', { name: 'Passwort vergessen?' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('de');
    await page.getByLabel('E-Mail-Adresse').fill(person.email);
    await page.getByRole('button', { name: 'Link senden' }).click();
    await page.getByRole('heading', { name: 'Sehen Sie in Ihr Postfach' }).waitFor();

    await mailing.deliver();
    const mail = mailing.mailsTo(person.email).find((m) => m.subject === 'Neues Gatehouse-Passwort wählen')!;
    expect(mail.text).toContain(`Hallo ${person.name},`);
    expect(mail.text).toContain('Der Link funktioniert einmal, 30 Minuten lang.');
    expect(mail.html).toContain('<html lang="de">');
    expect(mail.html).toContain('Neues Passwort wählen');
    const link = linkIn(mail, `${mailing.server.issuer}/recover/new-password?`);
    await page.goto(link);
    await page.getByRole('heading', { name: 'Neues Passwort wählen' }).waitFor();
  });

  it('shows English again for a later request that asks for it, or for none', async () => {
    const page = await newBrowserPage();
    await page.goto((await authorizationRequest(app, { ui_locales: 'de' })).url.href);
    await page.getByRole('heading', { name: 'Anmelden', exact: true }).waitFor();
    await page.goto((await authorizationRequest(app, { ui_locales: 'en' })).url.href);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await page.goto((await authorizationRequest(app, { ui_locales: 'de' })).url.href);
    await page.getByRole('heading', { name: 'Anmelden', exact: true }).waitFor();
    await page.goto((await authorizationRequest(app)).url.href);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
  });

  it('takes the first language of ui_locales Gatehouse has, and falls through an unsupported one', async () => {
    expect(languageOf((await pageFor((await authorizationRequest(app, { ui_locales: 'fr-CA de-AT en' })).url)).body)).toBe('de');
    // Nothing the app asked for is here: the browser's language decides.
    const unsupported = await pageFor((await authorizationRequest(app, { ui_locales: 'fr' })).url, { 'accept-language': 'de-DE,de;q=0.9' });
    expect(languageOf(unsupported.body)).toBe('de');
    expect(languageOf((await pageFor((await authorizationRequest(app, { ui_locales: 'fr' })).url)).body)).toBe('en');
  });
});

describe('the browser\'s Accept-Language', () => {
  it('shows a browser set to German the sign-in page in German', async () => {
    const page = await germanBrowserPage();
    await page.goto((await authorizationRequest(app)).url.href);
    await page.getByRole('heading', { name: 'Anmelden', exact: true }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('de');
  });

  it('honours quality values, skips languages it lacks and q=0, and falls back to the default', async () => {
    const url = (await authorizationRequest(app)).url;
    expect(languageOf((await pageFor(url, { 'accept-language': 'en;q=0.5, de;q=0.8' })).body)).toBe('de');
    expect(languageOf((await pageFor(url, { 'accept-language': 'fr, it;q=0.9, de;q=0.1' })).body)).toBe('de');
    expect(languageOf((await pageFor(url, { 'accept-language': 'de;q=0, en' })).body)).toBe('en');
    expect(languageOf((await pageFor(url, { 'accept-language': 'fr, ja' })).body)).toBe('en');
    // Pages away from a sign-in follow it too, as do the error pages.
    const notFound = await pageFor(`${mailing.server.issuer}/no-such-page`, { 'accept-language': 'de' });
    expect(notFound.status).toBe(404);
    expect(notFound.body).toContain('Seite nicht gefunden');
  });
});

describe('DEFAULT_LOCALE', () => {
  it('is the language when neither the app nor the browser names one Gatehouse has', async () => {
    const url = (await authorizationRequest(germanDefaultApp)).url;
    const page = await pageFor(url);
    expect(languageOf(page.body)).toBe('de');
    expect(page.body).toContain('Anmelden');
    expect(languageOf((await pageFor(url, { 'accept-language': 'fr' })).body)).toBe('de');
    expect(languageOf((await pageFor(url, { 'accept-language': 'en' })).body)).toBe('en');
    expect(languageOf((await pageFor((await authorizationRequest(germanDefaultApp, { ui_locales: 'en' })).url, { 'accept-language': 'de' })).body)).toBe('en');
  });
});
