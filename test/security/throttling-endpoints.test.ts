// Per-client rate limits on the token, introspection and revocation endpoints, over real HTTP:
// N requests pass, the next is a 429 with Retry-After and an OAuth-shaped JSON body, and nobody
// else's budget is touched — not another client's, and not a client's whose id an attacker sends
// with the wrong secret. TRUST_PROXY is on so tests can call "from" addresses of their own.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const LIMIT = 3;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    TRUST_PROXY: 'true',
    TOKEN_RATE_LIMIT: String(LIMIT),
    INTROSPECTION_RATE_LIMIT: String(LIMIT),
    REVOCATION_RATE_LIMIT: String(LIMIT),
  });
});

afterAll(async () => {
  await server?.stop();
});

let addresses = 0;
function newAddress(): string {
  addresses += 1;
  return `203.0.113.${addresses}`;
}

type Endpoint = 'token' | 'introspection' | 'revocation';
const PATHS: Record<Endpoint, string> = { token: '/token', introspection: '/token/introspection', revocation: '/token/revocation' };
/** A request each endpoint answers without a 401 for an authenticated client: nothing is valid. */
const FORMS: Record<Endpoint, Record<string, string>> = {
  token: { grant_type: 'refresh_token', refresh_token: randomBytes(32).toString('base64url') },
  introspection: { token: randomBytes(32).toString('base64url') },
  revocation: { token: randomBytes(32).toString('base64url') },
};
const ANSWERS: Record<Endpoint, number> = { token: 400, introspection: 200, revocation: 200 };

function basic(clientId: string, secret: string, encode: (s: string) => string = encodeURIComponent): string {
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

async function call(endpoint: Endpoint, options: { authorization?: string; form?: Record<string, string>; from?: string } = {}) {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    'x-forwarded-for': options.from ?? newAddress(),
  };
  if (options.authorization) headers.authorization = options.authorization;
  const res = await fetch(`${server.issuer}${PATHS[endpoint]}`, {
    method: 'POST',
    headers,
    body: new URLSearchParams({ ...FORMS[endpoint], ...options.form }),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try { body = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body, text };
}

function expectRateLimited(res: Awaited<ReturnType<typeof call>>) {
  expect(res.status, res.text.slice(0, 300)).toBe(429);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter), `Retry-After: ${res.headers.get('retry-after')}`).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('cache-control')).toMatch(/no-store/);
  expect(res.body.error).toBe('too_many_requests');
  expect(typeof res.body.error_description).toBe('string');
}

async function confidentialApp(): Promise<App & { authorization: string }> {
  const app = await registerApp(server);
  return { ...app, authorization: basic(app.clientId, app.clientSecret!) };
}

describe.each(['token', 'introspection', 'revocation'] as const)('POST %s', (endpoint) => {
  it(`lets a client make ${LIMIT} requests a minute, refuses the next with 429, and leaves other clients alone`, async () => {
    const [app, other] = [await confidentialApp(), await confidentialApp()];
    for (let i = 0; i < LIMIT; i += 1) {
      // From a different address each time: the client is counted, not where it calls from.
      expect((await call(endpoint, { authorization: app.authorization })).status).toBe(ANSWERS[endpoint]);
    }
    expectRateLimited(await call(endpoint, { authorization: app.authorization }));
    expect((await call(endpoint, { authorization: other.authorization })).status).toBe(ANSWERS[endpoint]);
  });
});

describe('who is counted', () => {
  it('counts a client once however its Basic credentials are encoded (RFC 6749 §2.3.1)', async () => {
    const app = await confidentialApp();
    const everyCharacter = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    expect((await call('token', { authorization: app.authorization })).status).toBe(400);
    expect((await call('token', { authorization: basic(app.clientId, app.clientSecret!, everyCharacter) })).status).toBe(400);
    expect((await call('token', { authorization: `bAsIc ${app.authorization.slice(6)}` })).status).toBe(400);
    expectRateLimited(await call('token', { authorization: basic(app.clientId, app.clientSecret!, everyCharacter) }));
  });

  it('counts a client named in the form body with client_secret_post', async () => {
    const { client: registered, clientSecret } = await server.stores.clients.create({
      name: 'Posting app', redirectUris: ['https://post.example.test/cb'], tokenEndpointAuthMethod: 'client_secret_post',
    });
    const form = { client_id: registered.clientId, client_secret: clientSecret! };
    const answers = [];
    for (let i = 0; i <= LIMIT; i += 1) answers.push((await call('introspection', { form })).status);
    expect(answers.slice(0, LIMIT).every((status) => status !== 429)).toBe(true);
    expect(answers[LIMIT]).toBe(429);
  });

  it('does not let someone with the wrong secret spend a client\'s budget; their own address runs out instead', async () => {
    const app = await confidentialApp();
    const attacker = newAddress();
    const forged = basic(app.clientId, 'not-the-secret');
    for (let i = 0; i < LIMIT; i += 1) expect((await call('token', { authorization: forged, from: attacker })).status).toBe(401);
    expectRateLimited(await call('token', { authorization: forged, from: attacker }));
    // The attacker's address is spent for every client it claims to be...
    expectRateLimited(await call('token', { authorization: (await confidentialApp()).authorization, from: attacker }));

    // ...while the real client, elsewhere, still has its whole budget.
    for (let i = 0; i < LIMIT; i += 1) expect((await call('token', { authorization: app.authorization })).status).toBe(400);
    expectRateLimited(await call('token', { authorization: app.authorization }));
  });

  it('does not let a parallel burst of wrong secrets, from many addresses, lock the real client out', async () => {
    const app = await confidentialApp();
    const forged = basic(app.clientId, 'not-the-secret');
    const burst = await Promise.all(Array.from({ length: LIMIT * 4 }, () => call('token', { authorization: forged })));
    expect(burst.every((res) => res.status === 401)).toBe(true);
    expect((await call('token', { authorization: app.authorization })).status).toBe(400);
  });

  it('charges made-up client_ids to the address that sends them', async () => {
    const here = newAddress();
    for (let i = 0; i < LIMIT; i += 1) {
      expect((await call('token', { form: { client_id: `made-up-${i}` }, from: here })).status).toBe(401);
    }
    expectRateLimited(await call('token', { form: { client_id: 'made-up-again' }, from: here }));
  });

  it('charges made-up client_ids of any length the same way, long ones too', async () => {
    const here = newAddress();
    for (let i = 0; i < LIMIT; i += 1) {
      expect((await call('token', { form: { client_id: `${i}-${'x'.repeat(1000)}` }, from: here })).status).toBe(401);
    }
    expectRateLimited(await call('token', { form: { client_id: 'y'.repeat(1000) }, from: here }));
  });

  it('counts a public client per address: its users are many browsers, none can spend the others\' budget', async () => {
    const app = await registerApp(server, { public: true });
    const form = { client_id: app.clientId, grant_type: 'authorization_code', code: 'no-such-code', code_verifier: 'x'.repeat(43), redirect_uri: app.redirectUri };
    const here = newAddress();
    for (let i = 0; i < LIMIT; i += 1) expect((await call('token', { form, from: here })).status).toBe(400);
    expectRateLimited(await call('token', { form, from: here }));
    expect((await call('token', { form, from: newAddress() })).status).toBe(400);
  });

  it('counts a request naming no client against its address', async () => {
    const here = newAddress();
    for (let i = 0; i < LIMIT; i += 1) expect((await call('token', { from: here })).status).not.toBe(429);
    expectRateLimited(await call('token', { from: here }));
    expect((await call('token', { from: newAddress() })).status).not.toBe(429);
  });

  it('answers an unreadable body as before, without counting it against anyone', async () => {
    const res = await fetch(`${server.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': newAddress() },
      body: `token=${'a'.repeat(60 * 1024)}`,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });
});
