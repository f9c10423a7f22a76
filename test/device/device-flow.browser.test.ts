// The device authorization grant (RFC 8628) as a TV or command-line app meets it: openid-client's
// device functions on the device, and a person in Chromium typing the code at /device, signing in
// and allowing (or denying) the app. Wrong codes get a friendly page, guessing is throttled, and a
// device polling faster than its interval is told to slow down.
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import { digest } from '../../src/crypto/digest.js';
import { usingPostgres } from '../support/database.js';
import { faultOn } from '../support/faults.js';
import { createPerson } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const NOTES_API = 'https://notes.example.test';
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

const onPostgres = await usingPostgres();

let server: TestServer;
let browser: Browser;
let tv: client.Configuration;
let person: Awaited<ReturnType<typeof createPerson>>;
const browsers = new SeparateBrowsers(() => browser);

async function deviceApp(deviceCode: boolean) {
  const { client: registered } = await server.stores.clients.create({
    name: deviceCode ? 'Living Room TV' : 'Web Only', redirectUris: ['https://tv.example.test/callback'], public: true, deviceCode,
    scope: 'openid profile offline_access notes:read',
  });
  return client.discovery(new URL(server.issuer), registered.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
}

/** A person at /device in their own browser: types the code, confirms, signs in, decides. */
async function approve(page: Page, userCode: string, decision: 'Allow' | 'Deny'): Promise<void> {
  await page.goto(`${server.issuer}/device`);
  // Typed as people do: lower case, without the dash.
  await page.getByLabel('Code').fill(userCode.toLowerCase().replace('-', ''));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Connect Living Room TV?' }).waitFor();
  await page.getByRole('button', { name: 'Yes, continue' }).click();
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: decision }).click();
}

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read', isDefault: true });
  person = await createPerson(server);
  tv = await deviceApp(true);
  browser = await launchChromium();
});

afterAll(async () => {
  await browsers.closeAll();
  await browser?.close();
  await server?.stop();
});

// Each flow waits for openid-client's polling, every 5 seconds as the server asks: the two flows
// run side by side, each a person in a browser of their own, so the suite waits for that once.
describe('the device flow', { timeout: 60_000 }, () => {
  it.concurrent('the device gets tokens once the person types the code, signs in and allows it', async () => {
    const authorization = await client.initiateDeviceAuthorization(tv, { scope: 'openid offline_access notes:read' });
    expect(authorization.user_code).toMatch(USER_CODE);
    expect(authorization.verification_uri).toBe(`${server.issuer}/device`);
    expect(authorization.interval).toBe(5);

    const polling = client.pollDeviceAuthorizationGrant(tv, authorization);
    const page = await browsers.newPage();
    await approve(page, authorization.user_code, 'Allow');
    await page.getByRole('heading', { name: 'Your device is connected' }).waitFor();

    const tokens = await polling;
    expect(tokens.refresh_token).toBeTruthy();
    const claims = await server.oidc.verifyAccessToken(tokens.access_token);
    expect(claims?.aud).toContain(NOTES_API);
    expect(String(claims?.scope).split(' ')).toContain('notes:read');
    expect(claims?.sub).toBe(person.id);

    // The device code is spent: a second exchange gets nothing.
    const again = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: authorization.device_code, client_id: tv.clientMetadata().client_id }),
    });
    expect(((await again.json()) as { error: string }).error).toMatch(/invalid_grant|slow_down/);

    // Neither code is anywhere in the records: not the device code's row, not the person's interaction.
    const rows = JSON.stringify(await server.testDb.db('oidc_records').select());
    expect(rows).not.toContain(authorization.device_code);
    expect(rows).not.toContain(authorization.user_code.replace('-', ''));
  });

  it.concurrent('a person who denies leaves the device with access_denied: consent is asked for every device, never remembered', async () => {
    const authorization = await client.initiateDeviceAuthorization(tv, { scope: 'openid notes:read' });
    const polling = client.pollDeviceAuthorizationGrant(tv, authorization).then(() => undefined, (e: unknown) => e);
    const page = await browsers.newPage();
    await approve(page, authorization.user_code, 'Deny');
    await page.getByText('The device was not connected').waitFor();
    expect((await polling as { error?: string }).error).toBe('access_denied');
  });

  it.skipIf(!onPostgres)('a device whose exchange the database fails gets a 503, and its next poll gets the tokens: the device code is not spent', async () => {
    const authorization = await client.initiateDeviceAuthorization(tv, { scope: 'openid offline_access notes:read' });
    const page = await browsers.newPage();
    await approve(page, authorization.user_code, 'Allow');
    await page.getByRole('heading', { name: 'Your device is connected' }).waitFor();
    const poll = async () => {
      const res = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: authorization.device_code, client_id: tv.clientMetadata().client_id }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const deviceCodeRow = () => server.testDb.db('oidc_records').first<{ consumed_at: Date | null }>('consumed_at')
      .where({ model: 'DeviceCode', id_digest: digest(authorization.device_code) });

    const release = await faultOn(server.testDb.db, 'RefreshToken', 'insert');
    let failed: Awaited<ReturnType<typeof poll>>;
    try {
      failed = await poll();
    } finally {
      await release();
    }
    expect(failed.status).toBe(503);
    expect(failed.body).not.toHaveProperty('access_token');
    expect((await deviceCodeRow())?.consumed_at).toBeNull();

    // The device waits its interval before it polls again: its poll counter has run out.
    await server.testDb.db('rate_limits').where({ key: `device_code_poll:${digest(authorization.device_code)}` }).delete();
    const retried = await poll();
    expect(retried.status).toBe(200);
    expect(typeof retried.body.refresh_token).toBe('string');
    expect((await deviceCodeRow())?.consumed_at).toBeInstanceOf(Date);
  });

  it('an app that did not opt in cannot start the device flow', async () => {
    const webOnly = await deviceApp(false);
    const refused = await client.initiateDeviceAuthorization(webOnly, { scope: 'openid' }).catch((e: unknown) => e);
    expect((refused as { error?: string }).error).toBe('unauthorized_client');
  });

  it('a device polling faster than its interval is told to slow down', async () => {
    const authorization = await client.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const poll = async () => {
      const res = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: authorization.device_code, client_id: tv.clientMetadata().client_id }),
      });
      return { status: res.status, error: ((await res.json()) as { error: string }).error };
    };
    expect(await poll()).toEqual({ status: 400, error: 'authorization_pending' });
    expect(await poll()).toEqual({ status: 400, error: 'slow_down' });
  });

  it('a wrong code gets a friendly page, and guessing is throttled until even a right code waits', async () => {
    const authorization = await client.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const page = await browsers.newPage();
    await page.goto(`${server.issuer}/device`);
    await page.getByLabel('Code').fill('BCDF-GHJK');
    const wrong = page.waitForResponse((res) => res.url() === `${server.issuer}/device` && res.request().method() === 'POST');
    await page.getByRole('button', { name: 'Continue' }).click();
    expect((await wrong).status()).toBe(400);
    await page.getByText('That code is not one we know').waitFor();

    let throttled = false;
    for (let attempt = 0; attempt < 12 && !throttled; attempt += 1) {
      await page.getByLabel('Code').fill(`ZZZZ-ZZZ${'BCDFGHJKLMNP'[attempt]}`);
      const answer = page.waitForResponse((res) => res.url() === `${server.issuer}/device` && res.request().method() === 'POST');
      await page.getByRole('button', { name: 'Continue' }).click();
      throttled = (await answer).status() === 429;
    }
    expect(throttled).toBe(true);
    await page.getByText('Too many codes were tried').waitFor();
    await page.getByLabel('Code').fill(authorization.user_code);
    const right = page.waitForResponse((res) => res.url() === `${server.issuer}/device` && res.request().method() === 'POST');
    await page.getByRole('button', { name: 'Continue' }).click();
    expect((await right).status()).toBe(429);
    expect(await browsers.closeAll()).toEqual([]);
  });
});
