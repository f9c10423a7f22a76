// The /device page's form, posted the ways a general form parser reads differently from
// oidc-provider: every code the provider looks up counts against the guessing limit whatever
// shape it came in, and no shape gets a 500. (The page in a browser: device-flow.browser.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_GUESSING_LIMITS } from '../../src/device/code-guessing.js';
import { digest } from '../../src/crypto/digest.js';
import { normalizeUserCode } from '../../src/oidc/internals.js';
import { signInToAccount } from '../account/support.js';
import { createPerson } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { UserAgent } from '../support/user-agent.js';

let server: TestServer;
let tvClientId: string;

beforeAll(async () => {
  // TRUST_PROXY: each test guesses from a network of its own (X-Forwarded-For).
  server = await startTestServer({ TRUST_PROXY: 'true' });
  const { client } = await server.stores.clients.create({ name: 'TV', redirectUris: ['https://tv.example.test/cb'], public: true, deviceCode: true, scope: 'openid' });
  tvClientId = client.clientId;
});

afterAll(async () => {
  await server?.stop();
});

async function startDevice(): Promise<{ user_code: string; verification_uri: string }> {
  const res = await fetch(`${server.issuer}/device/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: tvClientId, scope: 'openid' }) });
  expect(res.status).toBe(200);
  return (await res.json()) as { user_code: string; verification_uri: string };
}

/** Posts `body` to /device from `network`, with a fresh xsrf token in place of XSRF. */
async function postCode(agent: UserAgent, network: string, body: string): Promise<{ status: number; text: string }> {
  const page = await agent.request(`${server.issuer}/device`, { headers: { 'x-forwarded-for': network } });
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
  const res = await fetch(`${server.issuer}/device`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: agent.cookieHeader(), accept: 'text/html', 'x-forwarded-for': network },
    body: body.replaceAll('XSRF', xsrf),
    redirect: 'manual',
  });
  return { status: res.status, text: await res.text() };
}

async function signedIn(): Promise<UserAgent> {
  return (await signInToAccount(server, await createPerson(server), '/account')).agent;
}

describe('guessing user codes at /device', () => {
  it('takes no code sent as user_code[]: a general parser read it as a list, the provider took it as the code, and the limit never counted it', async () => {
    const agent = await signedIn();
    const { user_code } = await startDevice();
    const listed = await postCode(agent, '198.51.100.7', `xsrf=XSRF&user_code[]=${user_code}`);
    expect(listed.status).toBe(400);
    expect(listed.text).not.toContain('Connect TV?');
  });

  it('counts every wrong code: once the limit is met, even the right code waits', async () => {
    const agent = await signedIn();
    const network = '198.51.100.8';
    for (let guess = 0; guess < DEFAULT_GUESSING_LIMITS.perNetwork; guess += 1) {
      const wrong = await postCode(agent, network, `xsrf=XSRF&user_code=ZZZZ-ZZZ${'BCDFGHJKLMNP'[guess]}`);
      expect(wrong.status).toBe(400);
    }
    const { user_code } = await startDevice();
    const right = await postCode(agent, network, `xsrf=XSRF&user_code=${user_code}`);
    expect(right.status).toBe(429);
    expect(right.text).toContain('Too many codes were tried');
  });

  it('counts codes sent at once before looking any up: a burst gets no more tries than the limit', async () => {
    const network = '198.51.100.9';
    // Browsers on the code page, not signed in: the code is looked up before anyone is asked to sign in.
    const agents = Array.from({ length: 3 * DEFAULT_GUESSING_LIMITS.perNetwork }, () => new UserAgent(server.issuer));
    // Each browser opens the page first; then every code goes at once.
    const forms = await Promise.all(agents.map(async (agent) => {
      const page = await agent.request(`${server.issuer}/device`, { headers: { 'x-forwarded-for': network } });
      return { agent, xsrf: /name="xsrf" value="([^"]+)"/.exec(page.body)![1]! };
    }));
    const answers = await Promise.all(forms.map(({ agent, xsrf }, index) => fetch(`${server.issuer}/device`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: agent.cookieHeader(), accept: 'text/html', 'x-forwarded-for': network },
      body: `xsrf=${encodeURIComponent(xsrf)}&user_code=ZZZZ-ZZ${'BCDFGHJKLMNPQRSTVWXZ'[index % 20]}${'BCDFGHJKLMNPQRSTVWXZ'[Math.floor(index / 20)]}`,
      redirect: 'manual',
    }).then((res) => res.status)));
    expect(answers.filter((status) => status === 400)).toHaveLength(DEFAULT_GUESSING_LIMITS.perNetwork);
    expect(answers.filter((status) => status === 429)).toHaveLength(answers.length - DEFAULT_GUESSING_LIMITS.perNetwork);
  });

  it('takes the code as typed, and answers odd shapes of the form with a page, never a 500', async () => {
    const agent = await signedIn();
    const network = '203.0.113.9';
    const { user_code } = await startDevice();
    const plain = await postCode(agent, network, `xsrf=XSRF&user_code=${user_code}`);
    expect(plain.status).toBe(200);
    expect(plain.text).toContain('Connect TV?');
    for (const body of [
      `xsrf=XSRF&user_code[a]=${user_code}`,
      `xsrf=XSRF&user_code[__proto__][x]=1`,
      `xsrf=XSRF&user_code.a=1`,
      `xsrf=XSRF&user_code=${user_code}&user_code=BCDF-GHJK`,
      `xsrf[a]=XSRF&user_code=${user_code}`,
      `xsrf=XSRF&xsrf=XSRF&user_code=${user_code}`,
      `xsrf=XSRF&user_code=${user_code}&confirm=yes&confirm=yes`,
      `xsrf=XSRF&user_code=%ZZ`,
    ]) {
      const res = await postCode(agent, network, body);
      expect(res.status, body).toBe(400);
      expect(res.text, body).toContain('<html');
    }
    const huge = await postCode(agent, network, `xsrf=XSRF&user_code=${'A'.repeat(60 * 1024)}`);
    expect(huge.status).toBe(413);
    expect(huge.text).toContain('<html');
  });
});

describe('a user code at rest', () => {
  it('is kept only as a keyed digest: neither the code nor its plain SHA-256 is in the database, and it still works', async () => {
    const { user_code } = await startDevice();
    const typed = normalizeUserCode(user_code);
    const stored = JSON.stringify(await server.testDb.db('oidc_records').select('*'));
    for (const form of [user_code, typed, digest(typed), digest(user_code)]) expect(stored).not.toContain(form);
    const agent = await signedIn();
    const found = await postCode(agent, '203.0.113.77', `xsrf=XSRF&user_code=${user_code}`);
    expect(found.text).toContain('Connect TV?');
  });
});

describe('a browser that sends no session at /device (cookies blocked, a post from another site, a cookie signed with a key retired from COOKIE_KEYS)', () => {
  it('is sent to the code page to start again, never answered with a 500', async () => {
    const { user_code } = await startDevice();
    const logged = server.logs.length;
    for (const cookie of [undefined, 'gh_session=abc; gh_session.sig=not-its-signature']) {
      const headers: Record<string, string> = { accept: 'text/html', ...(cookie ? { cookie } : {}) };
      const posted = await fetch(`${server.issuer}/device`, {
        method: 'POST', redirect: 'manual',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '192.0.2.77' },
        body: `xsrf=x&user_code=${user_code}`,
      });
      expect(posted.status, cookie).toBe(303);
      expect(posted.headers.get('location'), cookie).toBe('/device');
      const resumed = await fetch(`${server.issuer}/device/not-a-flow`, { headers, redirect: 'manual' });
      expect(resumed.status, cookie).toBe(303);
      expect(resumed.headers.get('location'), cookie).toBe('/device');
    }
    // The code page itself then starts a session, as it does for anyone.
    const page = await fetch(`${server.issuer}/device`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('set-cookie')).toContain('gh_session=');
    expect(server.logs.slice(logged).filter((line) => Number(line.level) >= 50)).toEqual([]);
  });
});
