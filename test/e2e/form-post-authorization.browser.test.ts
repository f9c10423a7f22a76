// OpenID Connect Core §3.1.2.1: an app may start sign-in by posting a form to the authorization
// endpoint. Here the app is a real page on another site (localhost, while Gatehouse is 127.0.0.1),
// so the browser treats the post as cross-site, exactly as it would in production: the person
// signs in, the app gets a code, and a second post from the same browser finds the session.
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import { createPerson, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

let server: TestServer;
let browser: Browser;
let appSite: Server;
let appOrigin: string;
let app: App;
const browsers = new SeparateBrowsers(() => browser);

/** The app's own site: `/start?…` renders a form posting those fields to Gatehouse's /auth. */
function startAppSite(): Promise<Server> {
  const site = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://localhost');
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (url.pathname === '/start') {
      const fields = [...url.searchParams].map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`).join('');
      res.end(`<!doctype html><form method="post" action="${server.issuer}/auth">${fields}<button>Sign in with Gatehouse</button></form>`);
    } else {
      res.end('<!doctype html><p>back at the app</p>');
    }
  });
  site.listen(0, 'localhost');
  return once(site, 'listening').then(() => site);
}

function escape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

async function authorizationParams(extra: Record<string, string> = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    client_id: app.clientId,
    redirect_uri: app.redirectUri,
    response_type: 'code',
    scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  };
  return { params, codeVerifier, state, nonce };
}

beforeAll(async () => {
  server = await startTestServer();
  appSite = await startAppSite();
  appOrigin = `http://localhost:${(appSite.address() as AddressInfo).port}`;
  app = await registerApp(server, { scope: 'openid email', redirectUri: `${appOrigin}/callback` });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  appSite?.close();
  await server?.stop();
});

afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([]);
});

describe('an authorization request posted as a form from the app\'s site', () => {
  it('signs the person in, the app redeems the code, and a second post finds the session', async () => {
    const person = await createPerson(server);
    const page = await browsers.newPage();

    const first = await authorizationParams();
    await page.goto(`${appOrigin}/start?${new URLSearchParams(first.params)}`);
    await page.getByRole('button', { name: 'Sign in with Gatehouse' }).click();
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${appOrigin}/callback?**`);

    const tokens = await client.authorizationCodeGrant(app.config, new URL(page.url()), {
      pkceCodeVerifier: first.codeVerifier, expectedState: first.state, expectedNonce: first.nonce, idTokenExpected: true,
    });
    expect(tokens.claims()!.sub).toBe(person.id);

    // prompt=none succeeds only if the session cookie reached the authorization endpoint.
    const second = await authorizationParams({ prompt: 'none' });
    await page.goto(`${appOrigin}/start?${new URLSearchParams(second.params)}`);
    await page.getByRole('button', { name: 'Sign in with Gatehouse' }).click();
    await page.waitForURL(`${appOrigin}/callback?**`);
    const again = await client.authorizationCodeGrant(app.config, new URL(page.url()), {
      pkceCodeVerifier: second.codeVerifier, expectedState: second.state, expectedNonce: second.nonce, idTokenExpected: true,
    });
    expect(again.claims()!.sub).toBe(person.id);
  });
});

describe('POST /auth and POST /session/end over HTTP', () => {
  const post = (path: string, body: string, contentType = 'application/x-www-form-urlencoded') => fetch(`${server.issuer}${path}`, {
    method: 'POST', headers: { 'content-type': contentType, accept: 'text/html' }, body, redirect: 'manual',
  });

  it('answers a form post with 303 to the same endpoint carrying the same parameters', async () => {
    const { params } = await authorizationParams({ login_hint: 'ada lovelace+x@example.test' });
    const res = await post('/auth', new URLSearchParams(params).toString());
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!, server.issuer);
    expect(location.pathname).toBe('/auth');
    expect(Object.fromEntries(location.searchParams)).toEqual(params);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('keeps duplicated parameters, so the GET refuses them as it would have', async () => {
    const { params } = await authorizationParams();
    const res = await post('/auth', `${new URLSearchParams(params)}&scope=openid`);
    const followed = await fetch(new URL(res.headers.get('location')!, server.issuer), { headers: { accept: 'text/html' }, redirect: 'manual' });
    const back = new URL(followed.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(app.redirectUri);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/scope/);
  });

  it('refuses a body that is not a form, or too large for a URL, with a page', async () => {
    const json = await post('/auth', '{"client_id":"x"}', 'application/json');
    expect(json.status).toBe(400);
    expect(json.headers.get('content-type')).toMatch(/text\/html/);
    const large = await post('/auth', `client_id=${'x'.repeat(9000)}`);
    expect(large.status).toBe(413);
    expect(large.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('takes a sign-out request posted as a form to the end-session endpoint\'s GET', async () => {
    const res = await post('/session/end', new URLSearchParams({ client_id: app.clientId }).toString());
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!, server.issuer);
    expect(location.pathname).toBe('/session/end');
    expect(location.searchParams.get('client_id')).toBe(app.clientId);
    // With no session to end there is nothing to confirm: the provider's own form goes straight on.
    const followed = await fetch(location, { headers: { accept: 'text/html' } });
    expect(followed.status).toBe(200);
    expect(await followed.text()).toContain('/session/end/confirm');
  });
});
