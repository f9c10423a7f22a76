// RFC 9470 step-up, end to end in a real browser: the example notes API refuses a sensitive call
// whose token came from a password-only sign-in, naming the level it wants; the demo app asks
// Gatehouse for it; Gatehouse asks the person only for their authenticator code; the call succeeds.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer } from '../../examples/resource-server/api.js';
import { startDemoApp, type DemoApp } from '../../src/demo/app.js';
import { ACR_PHISHING_RESISTANT, ACR_TWO_FACTORS } from '../../src/factors/levels.js';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import { createPerson, obtainTokens, registerApp } from '../support/flows.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';
import { authenticatorFor } from './support.js';

const NOTES = 'https://notebook.example.test';

let server: TestServer;
let demo: DemoApp;
let browser: Browser;
let browsers: SeparateBrowsers;
let offset = 0;
const clock = () => Date.now() + offset;
const apis: http.Server[] = [];
let introspection: { clientId: string; clientSecret: string };

async function listen(stepUp: { acrValues?: string[]; maxAgeSeconds?: number }, now?: () => number): Promise<string> {
  const api = createResourceServer({ issuer: server.issuer, audience: NOTES, introspection, stepUp, ...(now ? { now } : {}) });
  const listener = http.createServer(api.callback());
  apis.push(listener);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
}

let api: string;

beforeAll(async () => {
  server = await startTestServer({}, { now: clock });
  const created = await server.stores.resources.create({ identifier: NOTES, name: 'Notebook', scope: 'notebook:read notebook:write', isDefault: true });
  introspection = { clientId: created.clientId, clientSecret: created.clientSecret! };
  api = await listen({ acrValues: [ACR_TWO_FACTORS, ACR_PHISHING_RESISTANT] });
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const { client } = await server.stores.clients.create({
    name: 'Demo App', public: true, redirectUris: [`${origin}/callback`], postLogoutRedirectUris: [`${origin}/`],
    scope: 'openid profile email offline_access notebook:read',
  });
  demo = await startDemoApp({
    issuer: server.issuer, clientId: client.clientId, redirectUri: `${origin}/callback`, port, host: '127.0.0.1',
    scope: 'openid profile email offline_access notebook:read', api: `${api}/notes/export`,
  });
  browser = await launchChromium();
  browsers = new SeparateBrowsers(() => browser);
});

afterAll(async () => {
  await browsers?.closeAll();
  await browser?.close();
  await demo?.close();
  await Promise.all(apis.map((listener) => new Promise((resolve) => listener.close(resolve))));
  await server?.stop();
});

describe('the example API asks for a stronger or newer sign-in (RFC 9470)', () => {
  it('answers a password-only token with insufficient_user_authentication and the acr_values to ask for', async () => {
    const app = await registerApp(server, { scope: 'openid profile email offline_access notebook:read' });
    const { tokens } = await obtainTokens(server, app, await createPerson(server), { scope: 'openid notebook:read' });
    const res = await fetch(`${api}/notes/export`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication"');
    expect(res.headers.get('www-authenticate')).toContain(`acr_values="${ACR_TWO_FACTORS} ${ACR_PHISHING_RESISTANT}"`);
    // Ordinary calls are not affected.
    expect((await fetch(`${api}/notes`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);

    // A sign-in older than max_age: the challenge names max_age.
    const strict = await listen({ maxAgeSeconds: 60 }, () => Date.now() + 120_000);
    const old = await fetch(`${strict}/notes/export`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(old.status).toBe(401);
    expect(old.headers.get('www-authenticate')).toMatch(/error="insufficient_user_authentication".*max_age="60"/);
  });

  it('the demo app steps up: signs in again with the acr_values, Gatehouse asks only for the code, the call succeeds', async () => {
    const person = await createPerson(server);
    const page = await browsers.newPage();
    // Signed in with the password alone, then adds an authenticator app.
    await page.goto(`${server.issuer}/account/security/authenticator`);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Add an authenticator app' }).waitFor();
    expect(await page.getByRole('img', { name: /QR code/ }).isVisible()).toBe(true);
    const secret = ((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, '');
    const authenticator = authenticatorFor(secret);
    await page.getByLabel('Code from the app').fill(authenticator.code(clock()));
    await page.getByRole('button', { name: 'Add authenticator app' }).click();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    offset += 30_000;

    // The demo signs in on the existing, password-only session.
    await page.goto(demo.url);
    await page.getByRole('link', { name: 'Sign in with Gatehouse' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('heading', { name: 'Signed in' }).waitFor();
    const first = JSON.parse((await page.locator('#access-token pre').textContent())!) as Record<string, unknown>;
    expect(first.acr).toBe('urn:gatehouse:acr:1fa');

    // The API wants two factors: the demo goes back to Gatehouse, which asks only for the code.
    await page.getByRole('button', { name: 'Call the API' }).click();
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    expect(await page.getByLabel('Password').count()).toBe(0);
    await page.getByLabel('Code from your authenticator app').fill(authenticator.code(clock()));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.locator('#api-answer').waitFor();
    expect(await page.locator('#api-answer h2').textContent()).toBe('The API answered 200');
    expect(await page.locator('#stepped-up').isVisible()).toBe(true);
    const second = JSON.parse((await page.locator('#access-token pre').textContent())!) as Record<string, unknown>;
    expect(second).toMatchObject({ acr: ACR_TWO_FACTORS, amr: ['pwd', 'otp', 'mfa'] });

    expect(await browsers.closeAll()).toEqual([]);
  }, 90_000); // eight pages across three servers in one browser
});
