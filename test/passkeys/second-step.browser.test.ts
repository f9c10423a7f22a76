// A passkey as a full second factor, in a real browser with Chromium's virtual authenticator: the
// step after the password, step-up to the phishing-resistant level, the security page's list, an
// administrator's console, and an administrator's reset (which removes passkeys and sends the
// person's apps back-channel logout tokens). The app is openid-client; the admin API is called
// with a client-credentials token.
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACR_PHISHING_RESISTANT } from '../../src/factors/levels.js';
import { ADMIN_SCOPE, clientCredentialsToken } from '../admin/api/support.js';
import { createAdmin } from '../admin/console/support.js';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import { authorizationRequest, createPerson, signIn, type App } from '../support/flows.js';
import { freePort } from '../support/gatehouse.js';
import { startLogoutReceiver, type LogoutReceiver } from '../support/logout-receiver.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import { UserAgent } from '../support/user-agent.js';
import { post } from '../factors/support.js';
import { PasskeyPages } from './support.js';

const CALLBACK = 'https://app.example.test/callback';

let mailing: MailingServer;
let browser: Browser;
let receiver: LogoutReceiver;
let app: App;
let issuer: string;
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  // Passkeys need a domain name as RP ID: http://localhost, on the loopback address.
  const port = await freePort();
  mailing = await startMailingServer({ PORT: String(port), ISSUER: `http://localhost:${port}`, EMAIL_NOTIFICATIONS: 'true' });
  issuer = mailing.server.issuer;
  receiver = await startLogoutReceiver();
  const { client: registered, clientSecret } = await mailing.server.stores.clients.create({
    name: 'Example App', redirectUris: [CALLBACK], backchannelLogoutUri: receiver.uri,
  });
  const config = await client.discovery(new URL(issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  app = { config, clientId: registered.clientId, clientSecret, redirectUri: CALLBACK };
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await mailing?.stop();
});

afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([]);
});

const passkeyPages = new PasskeyPages(browsers, () => issuer, () => app);
const { passwordSignIn, enrol, signOut, backAtTheApp } = passkeyPages;
/** A page with a platform authenticator and no passkey autofill on the sign-in page: these tests sign in with the password first. */
const pageWithAuthenticator = async () => (await passkeyPages.newPage('off')).page;

/** The second step offers the passkey, and no code field to a person without an authenticator app. */
async function usePasskey(page: Page) {
  await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
  expect(await page.getByLabel('Code from your authenticator app').count()).toBe(0);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
}

describe('a passkey as the second step after the password', () => {
  it('is asked for after the password; the ID token says pwd, hwk or swk, user and mfa, at the level levels.ts gives', async () => {
    const person = await createPerson(mailing.server);
    const page = await pageWithAuthenticator();
    await enrol(page, person, 'Laptop');
    await signOut(page);

    const request = await authorizationRequest(app);
    await page.goto(request.url.href);
    await passwordSignIn(page, person);
    await usePasskey(page);
    const claims = await backAtTheApp(page, request);
    expect(claims.sub).toBe(person.id);
    expect(claims.amr).toEqual(['pwd', expect.stringMatching(/^(hwk|swk)$/), 'user', 'mfa']);
    // A verified passkey is phishing-resistant (levels.ts acrOf), and so satisfies two factors too.
    expect(claims.acr).toBe(ACR_PHISHING_RESISTANT);
    const audit = await mailing.server.db('audit_events').where({ user_id: person.id, type: 'sign_in.succeeded' }).orderBy('occurred_at', 'desc').first();
    expect(audit.details).toMatchObject({ amr: claims.amr, acr: ACR_PHISHING_RESISTANT, passkeyId: expect.any(String) });
  }, 90_000);

  it('a person with a passkey and no authenticator app cannot sign in with the password alone', async () => {
    const person = await createPerson(mailing.server);
    const page = await pageWithAuthenticator();
    await enrol(page, person, 'Phone');

    // Without a browser's passkey, the password leads to the second step and no further.
    const agent = new UserAgent(issuer);
    const request = await authorizationRequest(app);
    await expect(signIn(agent, request.url, person)).rejects.toThrow(/Confirm it is you/);
    const login = await agent.follow(request.url.href);
    const stuck = await post(agent, login, /\/login$/, { email: person.email, password: person.password });
    expect(stuck.leftTo).toBeUndefined();
    expect(stuck.body).toContain('Use a passkey');
    expect(stuck.body).not.toContain('name="code"');
    // A made-up answer is refused, and audited; still no way to the app.
    const refused = await post(agent, stuck, /\/second-factor\/passkey$/, { assertion: JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: {} }) });
    expect(refused.status).toBe(401);
    expect(refused.leftTo).toBeUndefined();
    const failed = await mailing.server.db('audit_events').where({ user_id: person.id, type: 'sign_in.second_factor_failed' });
    expect(failed.map((event: { details: Record<string, unknown> }) => event.details)).toEqual([{ factor: 'passkey', reason: 'unknown_passkey' }]);
  }, 90_000);

  it('steps a password-only session up to the phishing-resistant level with the passkey', async () => {
    const person = await createPerson(mailing.server);
    const page = await pageWithAuthenticator();
    // Signed in with the password when the person had no passkey; the session says pwd.
    await enrol(page, person, 'Security key');
    const request = await authorizationRequest(app, { acr_values: ACR_PHISHING_RESISTANT });
    await page.goto(request.url.href);
    // Only the missing step is asked for, not the password again.
    await usePasskey(page);
    const claims = await backAtTheApp(page, request);
    expect(claims.acr).toBe(ACR_PHISHING_RESISTANT);
    expect(claims.amr).toEqual(['pwd', expect.stringMatching(/^(hwk|swk)$/), 'user', 'mfa']);
  }, 90_000);

  it('a person without a passkey asked for the phishing-resistant level sends the app unmet_authentication_requirements', async () => {
    const person = await createPerson(mailing.server);
    const request = await authorizationRequest(app, { acr_values: ACR_PHISHING_RESISTANT });
    const callback = await signIn(new UserAgent(issuer), request.url, person);
    expect(callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(callback.searchParams.get('state')).toBe(request.state);
  });
});

describe('passkeys among the factors', () => {
  it('/account/security lists the passkey with when it was added and last used, links to the passkeys page, and makes recovery codes that then work at the second step', async () => {
    const person = await createPerson(mailing.server);
    const page = await pageWithAuthenticator();
    await enrol(page, person, 'Desk key');
    await page.goto(`${issuer}/account/security`);
    const item = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Desk key' }) });
    await item.waitFor();
    expect(await item.getAttribute('data-factor')).toBe('passkey');
    expect(await item.textContent()).toMatch(/Added[\s\S]*Last used/);
    expect(await item.getByRole('link').getAttribute('href')).toBe('/account/passkeys');
    // A passkey backs recovery codes up as an authenticator app does: made with the password.
    await page.getByRole('heading', { name: 'New recovery codes' }).waitFor();
    await page.getByLabel('Your password or a code from your authenticator app').fill(person.password);
    await page.getByRole('button', { name: 'Make new recovery codes' }).click();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    const codes = await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents();
    expect(codes).toHaveLength(10);

    // The second step now offers the passkey and the code field, where a recovery code works.
    await signOut(page);
    const request = await authorizationRequest(app);
    await page.goto(request.url.href);
    await passwordSignIn(page, person);
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await page.getByRole('button', { name: 'Use a passkey' }).waitFor();
    await page.getByLabel('Code from your authenticator app').fill(codes[0]!.trim());
    await page.getByRole('button', { name: 'Continue' }).click();
    const claims = await backAtTheApp(page, request);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
  }, 90_000);

  it('an admin with a passkey meets the console\'s second-factor requirement', async () => {
    const admin = await createAdmin(mailing.server);
    const page = await pageWithAuthenticator();
    await enrol(page, admin, 'Admin key');
    await signOut(page);
    await page.goto(`${issuer}/admin/people`);
    await passwordSignIn(page, admin);
    await usePasskey(page);
    await page.waitForURL(`${issuer}/admin/people`);
  }, 90_000);

  it('an admin\'s reset removes the passkeys, sends the person\'s apps logout tokens, audits and mails once', async () => {
    const person = await createPerson(mailing.server);
    const page = await pageWithAuthenticator();
    await enrol(page, person, 'Lost phone');
    await signOut(page);
    const request = await authorizationRequest(app);
    await page.goto(request.url.href);
    await passwordSignIn(page, person);
    await usePasskey(page);
    const claims = await backAtTheApp(page, request);
    await mailing.deliver();
    const mailsBefore = mailing.mailsTo(person.email).length;
    const tokensBefore = receiver.tokens.length;

    const { client: ops, clientSecret } = await mailing.server.stores.clients.create({ name: 'Ops', clientCredentials: true, admin: true });
    const token = await clientCredentialsToken(mailing.server, ops.clientId, clientSecret!, { scope: ADMIN_SCOPE });
    const call = (method: string, path: string) => fetch(`${issuer}/admin/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });

    const listed = await call('GET', `/users/${person.id}/factors`);
    expect(listed.status).toBe(200);
    const stored = await mailing.server.db('passkeys').where({ user_id: person.id }).first();
    const text = await listed.text();
    expect(text).not.toContain(stored.public_key);
    expect(text).not.toContain(stored.credential_id);
    expect((JSON.parse(text) as { factors: Array<{ kind: string; name: string }> }).factors).toEqual([expect.objectContaining({ kind: 'passkey', name: 'Lost phone' })]);

    const reset = await call('POST', `/users/${person.id}/factors/reset`);
    expect(reset.status).toBe(200);
    const body = (await reset.json()) as { removed: Array<{ kind: string }>; sessions_ended: number };
    expect(body.removed.map((factor) => factor.kind)).toEqual(['passkey']);
    expect(body.sessions_ended).toBeGreaterThanOrEqual(1);
    expect(await mailing.server.passkeys.listFor(person.id)).toEqual([]);
    const audit = await mailing.server.db('audit_events').where({ user_id: person.id, type: 'factor.reset' });
    expect(audit).toHaveLength(1);

    await mailing.deliver();
    const mails = mailing.mailsTo(person.email).slice(mailsBefore);
    expect(mails.map((mail) => mail.subject)).toEqual(['A sign-in method was removed from your Gatehouse account']);
    const logoutTokens = receiver.tokens.slice(tokensBefore).map((jwt) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sub?: string; aud?: string });
    expect(logoutTokens).toEqual([expect.objectContaining({ sub: claims.sub, aud: app.clientId })]);
  }, 90_000);
});
