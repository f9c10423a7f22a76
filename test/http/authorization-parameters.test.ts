// Authorization requests are stored for anyone who knows a public client's id: at /auth (an
// Interaction, an hour), /request (a pushed request, a minute) and /device/auth (a device code,
// ten minutes). Each parameter is held to a length real apps stay far below, so no stranger can
// make Gatehouse keep a large row (src/http/authorization-parameters.ts).
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capOf, DEFAULT_PARAMETER_CAP } from '../../src/http/authorization-parameters.js';
import { authorizationRequest, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const FORM = 'application/x-www-form-urlencoded';
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

let server: TestServer;
let app: App;
let tvClientId: string;

beforeAll(async () => {
  server = await startTestServer();
  app = await registerApp(server, { public: true });
  const { client: tv } = await server.stores.clients.create({ name: 'TV', redirectUris: ['https://tv.example.test/cb'], public: true, deviceCode: true, scope: 'openid' });
  tvClientId = tv.clientId;
});

afterAll(async () => {
  await server?.stop();
});

/** oidc-provider's stored records of one model (Interaction, PushedAuthorizationRequest, DeviceCode). */
async function stored(model: string): Promise<number> {
  const [row] = await server.testDb.db('oidc_records').where({ model }).count<Array<{ count: string | number }>>({ count: '*' });
  return Number(row!.count);
}

/** The storage of every record kind a stranger can start, to compare before and after. */
async function storedRequests(): Promise<Record<string, number>> {
  return {
    Interaction: await stored('Interaction'),
    PushedAuthorizationRequest: await stored('PushedAuthorizationRequest'),
    DeviceCode: await stored('DeviceCode'),
  };
}

const filler = (bytes: number) => 'A'.repeat(bytes);

async function authorize(extra: Record<string, string>): Promise<Response> {
  const { url } = await authorizationRequest(app, extra);
  return fetch(url, { headers: { accept: HTML }, redirect: 'manual' });
}

function push(extra: Record<string, string>): Promise<Response> {
  return fetch(`${server.issuer}/request`, {
    method: 'POST',
    headers: { 'content-type': FORM },
    body: new URLSearchParams({
      client_id: app.clientId, response_type: 'code', scope: 'openid', redirect_uri: app.redirectUri,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra,
    }),
  });
}

function deviceAuthorization(extra: Record<string, string>): Promise<Response> {
  return fetch(`${server.issuer}/device/auth`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ client_id: tvClientId, scope: 'openid', ...extra }) });
}

describe('authorization parameters are held to a length', () => {
  it('refuses an over-long state at /auth with a page, not a redirect to the app, and stores nothing', async () => {
    const before = await storedRequests();
    const res = await authorize({ state: filler(capOf('state') + 1) });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toMatch(/<h1[^>]*>[^<]+<\/h1>/);
    expect(await storedRequests()).toEqual(before);
  });

  it('refuses an over-long nonce or login_hint at /auth, and an over-long redirect_uri without going there', async () => {
    const before = await storedRequests();
    const overLong: Array<Record<string, string>> = [{ nonce: filler(DEFAULT_PARAMETER_CAP + 1) }, { login_hint: `${filler(DEFAULT_PARAMETER_CAP)}@example.test` }, { redirect_uri: `${app.redirectUri}?${filler(capOf('redirect_uri'))}` }];
    for (const extra of overLong) {
      const res = await authorize(extra);
      expect(res.status, Object.keys(extra)[0]).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
    expect(await storedRequests()).toEqual(before);
  });

  it('counts bytes, not characters: a state of 2-byte letters at half the cap plus one is refused', async () => {
    const res = await authorize({ state: 'é'.repeat(capOf('state') / 2 + 1) });
    expect(res.status).toBe(400);
  });

  it('refuses an over-long state posted to /auth: the form becomes the GET, which is refused', async () => {
    const before = await storedRequests();
    const { url } = await authorizationRequest(app, { state: filler(capOf('state') + 1) });
    const posted = await fetch(`${server.issuer}/auth`, { method: 'POST', headers: { 'content-type': FORM, accept: HTML }, body: url.searchParams.toString(), redirect: 'manual' });
    expect(posted.status).toBe(303);
    const followed = await fetch(new URL(posted.headers.get('location')!, server.issuer), { headers: { accept: HTML }, redirect: 'manual' });
    expect(followed.status).toBe(400);
    expect(followed.headers.get('location')).toBeNull();
    expect(await storedRequests()).toEqual(before);
  });

  it('takes a state and a nonce at their caps at /auth: the sign-in page opens', async () => {
    const before = await stored('Interaction');
    const res = await authorize({ state: filler(capOf('state')), nonce: filler(capOf('nonce')) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/\/interaction\//);
    expect(await stored('Interaction')).toBe(before + 1);
  });

  it('refuses an over-long state at /request with invalid_request JSON, and stores nothing', async () => {
    const before = await storedRequests();
    const res = await push({ state: filler(capOf('state') + 1) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: `the state parameter is longer than ${capOf('state')} bytes` });
    expect(await storedRequests()).toEqual(before);
  });

  it('takes a state at its cap at /request, and the pushed request then works at /auth', async () => {
    const before = await stored('PushedAuthorizationRequest');
    const res = await push({ state: filler(capOf('state')) });
    expect(res.status).toBe(201);
    const { request_uri: requestUri } = (await res.json()) as { request_uri: string };
    expect(await stored('PushedAuthorizationRequest')).toBe(before + 1);
    const authorized = await fetch(client.buildAuthorizationUrl(app.config, { request_uri: requestUri }), { headers: { accept: HTML }, redirect: 'manual' });
    expect(authorized.status).toBe(303);
    expect(authorized.headers.get('location')).toMatch(/\/interaction\//);
  });

  it('refuses an over-long nonce at /device/auth with invalid_request JSON, and stores nothing', async () => {
    const before = await storedRequests();
    const res = await deviceAuthorization({ nonce: filler(capOf('nonce') + 1) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: `the nonce parameter is longer than ${capOf('nonce')} bytes` });
    expect(await storedRequests()).toEqual(before);
  });

  it('takes a nonce at its cap at /device/auth', async () => {
    const before = await stored('DeviceCode');
    const res = await deviceAuthorization({ nonce: filler(capOf('nonce')) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user_code: expect.any(String), device_code: expect.any(String) });
    expect(await stored('DeviceCode')).toBe(before + 1);
  });
});
