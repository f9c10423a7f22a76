// Forged Host, X-Forwarded-Host/Proto/Port and absolute-form request lines: discovery, the JWKS and
// every redirect and page of a sign-in, an account or console visit and a logout still name ISSUER
// and nothing else; discovery and the JWKS carry a caching policy that lets a new key be seen
// before it signs; health checks sent with an IP as Host still answer. With TRUST_PROXY off and on.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, registerApp, type App } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { ForgedHostAgent, rawRequest, type RawResponse } from '../../support/raw-http.js';
import { formOf } from '../../support/user-agent.js';

const EVIL = 'evil.example';
const REDIRECT = 'https://app.example.test/callback';
const POST_LOGOUT = 'https://app.example.test/signed-out';
const PUBLISH_BEFORE_SIGNING = 600;
const REFRESH_INTERVAL = 30;

/** Every way a request can claim to be for another host. */
const FORGERIES: Record<string, Record<string, string>> = {
  'Host': { host: `${EVIL}:8443` },
  'X-Forwarded-Host/Proto/Port': { 'x-forwarded-host': EVIL, 'x-forwarded-proto': 'https', 'x-forwarded-port': '8443' },
  'Host, X-Forwarded-* and Forwarded': { host: EVIL, 'x-forwarded-host': `${EVIL}, other.example`, 'x-forwarded-proto': 'https', forwarded: `host=${EVIL}` },
};

describe.each([
  ['TRUST_PROXY off', 'false'],
  ['TRUST_PROXY on', 'true'],
])('%s', (_name, trustProxy) => {
  let server: TestServer;
  let app: App;
  let person: Awaited<ReturnType<typeof createPerson>>;

  beforeAll(async () => {
    server = await startTestServer({
      TRUST_PROXY: trustProxy,
      KEY_PUBLISH_BEFORE_SIGNING: String(PUBLISH_BEFORE_SIGNING),
      KEY_REFRESH_INTERVAL: String(REFRESH_INTERVAL),
    });
    app = await registerApp(server, { scope: 'openid profile email', redirectUri: REDIRECT, postLogoutRedirectUri: POST_LOGOUT });
    person = await createPerson(server, { name: 'Hosted Person' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** An absolute URL Gatehouse sent must be on ISSUER (or be the app's own, registered address). */
  function expectOurs(url: string, context: string) {
    expect(url, context).not.toContain(EVIL);
    const absolute = /^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith('//');
    if (!absolute) return;
    const ok = url === server.issuer || url.startsWith(`${server.issuer}/`) || url.startsWith(REDIRECT) || url.startsWith(POST_LOGOUT);
    expect(ok, `${context}: ${url}`).toBe(true);
  }

  function expectNothingForged(res: RawResponse & { url?: string }, context: string) {
    expect(res.status, `${context}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
    const location = res.headers.get('location');
    if (location) expectOurs(location, `${context} Location`);
    expect(res.body, `${context} body`).not.toContain(EVIL);
    for (const [, action] of res.body.matchAll(/action="([^"]+)"/g)) expectOurs(action!, `${context} form action`);
  }

  /** Follows redirects on the real server, checking every hop, until it leaves to the app. */
  async function walk(agent: ForgedHostAgent, start: string, context: string, form?: Record<string, string>) {
    let res = await agent.request(start, form ? { form } : {});
    expectNothingForged(res, `${context} ${start}`);
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops += 1) {
      const location = res.headers.get('location')!;
      if (location.startsWith(REDIRECT) || location.startsWith(POST_LOGOUT)) return { res, leftTo: new URL(location) };
      res = await agent.request(location);
      expectNothingForged(res, `${context} ${location}`);
    }
    return { res, leftTo: undefined };
  }

  describe.each(Object.entries(FORGERIES))('a request forged with %s', (name, forged) => {
    it('gets the same discovery document and key set as anyone, naming ISSUER only', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks']) {
        const honest = await fetch(`${server.issuer}${path}`);
        const expected = await honest.text();
        const res = await rawRequest(`${server.issuer}${path}`, { headers: forged });
        expect(res.status, `${name} ${path}`).toBe(200);
        expect(res.body, `${name} ${path}`).toBe(expected);
        expect(res.headers.get('cache-control')).toBe(honest.headers.get('cache-control'));
        if (path === '/jwks') continue;
        const document = JSON.parse(res.body) as Record<string, unknown>;
        expect(document.issuer).toBe(server.issuer);
        for (const [member, value] of Object.entries(document)) {
          if (typeof value === 'string' && /^https?:/.test(value)) expect(value.startsWith(`${server.issuer}/`) || value === server.issuer, `${member}: ${value}`).toBe(true);
        }
      }
    });

    it('gets the discovery document from ISSUER even with an absolute-form request line, of any scheme', async () => {
      const expected = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).text();
      for (const scheme of ['http', 'https', 'evil']) {
        const res = await rawRequest(`${server.issuer}/`, { target: `${scheme}://${EVIL}/.well-known/openid-configuration`, headers: forged.host ? forged : { ...forged, host: EVIL } });
        expect(res.status, scheme).toBe(200);
        expect(res.body, scheme).toBe(expected);
      }
    });

    it('is sent only to ISSUER and the app throughout a sign-in, and the app is told the real iss', async () => {
      const agent = new ForgedHostAgent(server.issuer, forged);
      const request = client.buildAuthorizationUrl(app.config, {
        redirect_uri: REDIRECT, scope: 'openid', prompt: 'consent', state: 'forged',
        code_challenge: await client.calculatePKCECodeChallenge('v'.repeat(43)), code_challenge_method: 'S256',
      });
      let step = await walk(agent, `${request.pathname}${request.search}`, name);
      const login = formOf(step.res.body, /\/login$/);
      step = await walk(agent, new URL(login.action, server.issuer).pathname, `${name} sign-in`, { csrf: login.csrf, email: person.email, password: person.password });
      const consent = formOf(step.res.body, /\/confirm$/);
      step = await walk(agent, new URL(consent.action, server.issuer).pathname, `${name} consent`, { csrf: consent.csrf, decision: 'allow' });

      expect(step.leftTo, step.res.body.slice(0, 300)).toBeDefined();
      expect(step.leftTo!.searchParams.get('code')).toBeTruthy();
      expect(step.leftTo!.searchParams.get('iss')).toBe(server.issuer);
    });

    it('is sent only to ISSUER by the account pages and the console, signed in or not', async () => {
      const agent = new ForgedHostAgent(server.issuer, forged);
      for (const path of ['/account', '/admin']) {
        const { res } = await walk(agent, path, `${name} ${path}`);
        const authorize = res.headers.get('location') ?? '';
        if (authorize.includes('redirect_uri=')) {
          expect(new URL(authorize, server.issuer).searchParams.get('redirect_uri')).toBe(`${server.issuer}/account/callback`);
        }
      }
      const { res } = await walk(agent, '/account', name);
      const login = formOf(res.body, /\/login$/);
      const back = await walk(agent, new URL(login.action, server.issuer).pathname, `${name} account sign-in`, { csrf: login.csrf, email: person.email, password: person.password });
      expect(back.res.status, back.res.body.slice(0, 300)).toBe(200);
      expect(back.res.body).toContain(person.email);
    });

    it('is shown ISSUER\'s host on the logout page and sent only to ISSUER and the app by logging out', async () => {
      const agent = new ForgedHostAgent(server.issuer, forged);
      const signIn = await walk(agent, '/account', name);
      const login = formOf(signIn.res.body, /\/login$/);
      await walk(agent, new URL(login.action, server.issuer).pathname, name, { csrf: login.csrf, email: person.email, password: person.password });

      const end = `/session/end?${new URLSearchParams({ client_id: app.clientId, post_logout_redirect_uri: POST_LOGOUT })}`;
      const page = await walk(agent, end, `${name} logout`);
      expect(page.res.body).toContain(new URL(server.issuer).host);
      const [, action, inner] = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(page.res.body)!;
      const fields = Object.fromEntries([...inner!.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map(([, k, v]) => [k!, v!]));
      const out = await walk(agent, new URL(action!.replaceAll('&amp;', '&'), server.issuer).pathname, `${name} logout confirm`, { ...fields, logout: 'yes' });
      expect(out.leftTo?.href).toMatch(new RegExp(`^${POST_LOGOUT}`));
    });
  });

  describe('caching', () => {
    it('lets discovery be cached, and the JWKS for less than a new key waits before signing', async () => {
      const discovery = await fetch(`${server.issuer}/.well-known/openid-configuration`);
      expect(discovery.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
      const jwks = await fetch(`${server.issuer}/jwks`);
      const maxAge = Number(/^public, max-age=(\d+)$/.exec(jwks.headers.get('cache-control') ?? '')?.[1]);
      expect(maxAge).toBeGreaterThan(0);
      expect(maxAge).toBeLessThanOrEqual(PUBLISH_BEFORE_SIGNING - REFRESH_INTERVAL);
    });
  });

  describe('health checks from a load balancer', () => {
    it('answer whatever Host they send, an IP included', async () => {
      for (const host of ['10.0.0.7', '10.0.0.7:3000', '[fd00::7]:3000', EVIL]) {
        for (const path of ['/healthz', '/readyz']) {
          const res = await rawRequest(`${server.issuer}${path}`, { headers: { host } });
          expect(res.status, `${path} with Host ${host}`).toBe(200);
        }
      }
    });
  });
});
