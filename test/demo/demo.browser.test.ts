// The development demo app, driven by a real browser against a real Gatehouse: the whole
// authorization-code flow a person goes through, as an outside app sees it.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { newLogoutNotice, signLogoutToken } from '../../src/logout/logout-token.js';
import { launchChromium } from '../support/browser.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../src/people/users.js';
import { startDemoApp, type DemoApp } from '../../src/demo/app.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';

const EMAIL = 'ada@example.test';
const PASSWORD = 'correct horse battery staple';
const API = 'https://api.example.test';

let server: TestServer;
let demo: DemoApp;
let browser: Browser;
let user: User;
let context: BrowserContext;
let clientId: string;

beforeAll(async () => {
  server = await startTestServer();
  user = await server.stores.users.create({ email: EMAIL, name: 'Ada Lovelace', password: PASSWORD, emailVerified: true });
  await server.stores.resources.create({ identifier: API, scope: 'read', isDefault: true });
  // The demo stays on 127.0.0.1 like the issuer: a different host name would be a different site.
  const port = await freePort();
  const demoOrigin = `http://127.0.0.1:${port}`;
  const { client } = await server.stores.clients.create({
    name: 'Demo App',
    public: true,
    redirectUris: [`${demoOrigin}/callback`],
    postLogoutRedirectUris: [`${demoOrigin}/`],
    backchannelLogoutUri: `${demoOrigin}/backchannel-logout`,
    // Registered for the API's scope, so it gets JWT access tokens for the default API.
    scope: 'openid profile email offline_access read',
  });
  clientId = client.clientId;
  demo = await startDemoApp({
    issuer: server.issuer,
    clientId: client.clientId,
    redirectUri: `${demoOrigin}/callback`,
    postLogoutRedirectUri: `${demoOrigin}/`,
    port,
    host: '127.0.0.1',
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await demo?.close();
  await server?.stop();
});

afterEach(async () => {
  await context?.close();
});

async function newPage(): Promise<Page> {
  context = await browser.newContext();
  return context.newPage();
}

async function json(page: Page, selector: string): Promise<Record<string, unknown>> {
  return JSON.parse((await page.locator(selector).textContent()) ?? '') as Record<string, unknown>;
}

/** From the demo's home page to Gatehouse's sign-in page; returns that page's response. */
async function startSignIn(page: Page) {
  await page.goto(demo.url);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().startsWith(`${server.issuer}/interaction/`) && r.request().method() === 'GET'),
    page.getByRole('link', { name: 'Sign in with Gatehouse' }).click(),
  ]);
  await page.waitForURL(`${server.issuer}/interaction/**`);
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  return response;
}

async function submitCredentials(page: Page, password: string) {
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(password);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  return response;
}

async function allowOnConsent(page: Page) {
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('Demo App wants access to your account');
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${demo.url}/callback?**`);
}

describe('the demo app in a browser', () => {
  it('signs in, shows the tokens, refreshes them and signs out', async () => {
    const page = await newPage();
    // Neither Gatehouse's pages nor the demo's may need anything their CSP forbids.
    const cspViolations: string[] = [];
    page.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) cspViolations.push(`${page.url()}: ${message.text()}`);
    });
    const loginPage = await startSignIn(page);
    expect(loginPage.status()).toBe(200);
    expect((await loginPage.allHeaders())['content-security-policy']).toContain("frame-ancestors 'none'");

    const afterLogin = await submitCredentials(page, PASSWORD);
    expect(afterLogin.status()).toBe(303);
    await allowOnConsent(page);

    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Signed in');
    const idToken = await json(page, '#id-token pre');
    expect(idToken).toMatchObject({ email: EMAIL, sub: user.id, iss: server.issuer });
    const header = await json(page, '#access-token-header pre');
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    const accessToken = await json(page, '#access-token pre');
    expect(accessToken.aud).toEqual(expect.arrayContaining([API]));
    expect(accessToken).toMatchObject({ sub: user.id, iss: server.issuer });
    const userinfo = await json(page, '#userinfo pre');
    expect(userinfo).toMatchObject({ sub: user.id, email: EMAIL, name: 'Ada Lovelace' });
    expect(await page.locator('#refresh-token-status').textContent()).toBe('A refresh token was issued.');

    const cookies = await context.cookies(server.issuer);
    const session = cookies.find((c) => c.name === 'gh_session');
    expect(session).toBeDefined();
    expect(session!.httpOnly).toBe(true);
    expect(cookies.find((c) => c.name === 'gatehouse_demo_session')?.httpOnly).toBe(true);

    await page.getByRole('button', { name: 'Refresh tokens' }).click();
    await page.waitForURL(`${demo.url}/refresh`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Tokens refreshed');
    const refreshed = await json(page, '#access-token pre');
    expect(refreshed.jti).not.toBe(accessToken.jti);
    expect(refreshed.aud).toEqual(expect.arrayContaining([API]));
    expect(refreshed.sub).toBe(user.id);
    expect(await page.locator('#refresh-token-status').textContent()).toContain('A new refresh token was issued');

    const [logoutPage] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${server.issuer}/session/end`) && r.request().method() === 'GET'),
      page.getByRole('link', { name: 'Sign out' }).click(),
    ]);
    expect((await logoutPage.allHeaders())['content-security-policy']).toContain("frame-ancestors 'none'");
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${demo.url}/`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Try signing in with Gatehouse');

    expect(cspViolations).toEqual([]);
    // Gatehouse's session really ended: signing in again asks for the password.
    await startSignIn(page);
    await page.getByLabel('Password').waitFor();
  });

  it('ends its own session when Gatehouse sends a logout token (an administrator ended the person\'s sessions)', async () => {
    const page = await newPage();
    await startSignIn(page);
    await submitCredentials(page, PASSWORD);
    await allowOnConsent(page);
    await page.goto(demo.url);
    expect(await page.locator('#demo-session').textContent()).toContain(user.id);

    await server.operations.sessions.endAllSessions({ type: 'system', id: 'test' }, user.id);
    expect((await server.deliveries.sender.deliverDue()).retried).toBe(0);

    await page.goto(demo.url);
    expect(await page.locator('#demo-session').count()).toBe(0);
    // Its refresh token went with the session.
    const refreshed = await context.request.post(`${demo.url}/refresh`);
    expect(refreshed.status()).toBe(400);
    expect(await refreshed.text()).toContain('no_refresh_token');
  });

  it('refuses a logout token used twice, one with a nonce, and one signed by anyone else', async () => {
    const key = server.oidc.signingKey('RS256')!;
    const post = (token: string) => fetch(`${demo.url}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) });
    const token = await signLogoutToken(newLogoutNotice({ clientId, uri: 'unused', alg: 'RS256', sub: user.id }), server.issuer, key, Date.now());
    expect((await post(token)).status).toBe(200);
    const replayed = await post(token);
    expect(replayed.status).toBe(400);
    expect(await replayed.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('already used') });

    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const foreign = await signLogoutToken(newLogoutNotice({ clientId, uri: 'unused', alg: 'RS256', sub: user.id }), server.issuer, { ...(await exportJWK(privateKey)), kid: key.kid! }, Date.now());
    expect((await post(foreign)).status).toBe(400);

    const withNonce = await new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: user.id, nonce: 'n' })
      .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: key.kid! }).setIssuer(server.issuer).setAudience(clientId)
      .setIssuedAt().setExpirationTime('2m').setJti(randomUUID()).sign(await importJWK(key, 'RS256'));
    const refused = await post(withNonce);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('nonce');
    // An ID token is no logout token.
    const notLogout = await new SignJWT({ sub: user.id }).setProtectedHeader({ alg: 'RS256', kid: key.kid! }).setIssuer(server.issuer).setAudience(clientId)
      .setIssuedAt().setExpirationTime('2m').setJti(randomUUID()).sign(await importJWK(key, 'RS256'));
    expect((await post(notLogout)).status).toBe(400);
  });

  it('shows a wrong password on the sign-in page, then lets the person sign in', async () => {
    const page = await newPage();
    await startSignIn(page);

    const rejected = await submitCredentials(page, 'not the right password');
    expect(rejected.status()).toBe(401);
    expect((await rejected.allHeaders())['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(await page.getByRole('alert').textContent()).toContain('The email or password is incorrect.');

    const accepted = await submitCredentials(page, PASSWORD);
    expect(accepted.status()).toBe(303);
    await allowOnConsent(page);
    expect(await json(page, '#id-token pre')).toMatchObject({ email: EMAIL, sub: user.id });
  });

  it('shows access_denied on the demo when the person clicks Deny', async () => {
    const page = await newPage();
    await startSignIn(page);
    await submitCredentials(page, PASSWORD);

    await page.getByRole('button', { name: 'Deny' }).waitFor();
    const [callback] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${demo.url}/callback`)),
      page.getByRole('button', { name: 'Deny' }).click(),
    ]);
    await page.waitForURL(`${demo.url}/callback?**`);
    expect(callback.status()).toBe(400);
    expect(await page.locator('#error-code').textContent()).toBe('access_denied');
    expect(await page.locator('#error-description').textContent()).toBe('The user denied the request.');
  });

  it('refuses a callback whose state does not match, without a stack trace', async () => {
    const page = await newPage();
    await startSignIn(page);

    const iss = encodeURIComponent(server.issuer);
    const response = await page.goto(`${demo.url}/callback?code=forged&state=not-the-state&iss=${iss}`);
    expect(response!.status()).toBe(400);
    expect(await page.locator('#error-code').textContent()).toBe('OAUTH_INVALID_RESPONSE');
    expect(await page.locator('#error-description').textContent()).toContain('"state"');
    expect(await page.content()).not.toMatch(/node_modules|\n\s+at /);

    // The request's secrets were used up by that attempt: replaying the address does not retry.
    await page.reload();
    expect(await page.locator('#error-code').textContent()).toBe('invalid_state');
  });
});
