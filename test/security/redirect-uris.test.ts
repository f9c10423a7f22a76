// Redirect and logout safety, black-box over HTTP against a running server: a redirect URI is
// matched exactly, character for character, against what the app registered. Anything else — a
// near miss an attacker could host or reach through a parser difference — gets an error page and
// no redirect, even for a browser that is signed in and has already consented (where a match would
// hand out a code at once). Logout sends people back only to a registered post-logout address, and
// ends a session only once the person confirms it.
//
// Already covered elsewhere: an unregistered host at /auth (test/interaction/pages.test.ts,
// test/e2e/bad-input.test.ts), an unregistered post_logout_redirect_uri on another host and the
// happy logout path (test/interaction/pages.test.ts), loopback ports (attacks/loopback-
// redirects.test.ts). Here: every near miss at /auth, where a match would hand a signed-in browser
// a code; the pushed-request endpoint and logout, which consult the same exact-match rule
// (src/oidc/models/client.ts), with one near miss of each kind a looser rule would let through; and the
// logout rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { UserAgent, type Response as AgentResponse } from '../support/user-agent.js';

const REDIRECT = 'https://client.example/cb';
const SECOND_REDIRECT = 'https://client.example/other-cb';
const LOOPBACK = 'http://127.0.0.1:8765/cb';
const POST_LOGOUT = 'https://client.example/signed-out';
const OTHER_POST_LOGOUT = 'https://other-app.example/signed-out';
// A fixed S256 challenge: these requests never get as far as redeeming a code.
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/** Near misses of `registered`, each a way an attacker might slip their own address past a loose match. */
function nearMisses(registered: string): Array<[string, string]> {
  const url = new URL(registered);
  const path = url.pathname; // e.g. /cb
  const base = `${url.protocol}//${url.host}`;
  return [
    ['a trailing slash', `${registered}/`],
    ['an upper-case path', `${base}${path.toUpperCase()}`],
    ['an upper-case host', `${url.protocol}//${url.host.toUpperCase()}${path}`],
    ['an upper-case scheme', `${url.protocol.toUpperCase()}//${url.host}${path}`],
    ['an added query', `${registered}?next=https://evil.example/`],
    ['an empty query', `${registered}?`],
    ['a fragment', `${registered}#https://evil.example/`],
    ['an empty fragment', `${registered}#`],
    ['dot segments', `${registered}/../cb`],
    ['a leading dot segment', `${base}/./${path.slice(1)}`],
    ['a traversal out of another path', `${base}/evil/..${path}`],
    ['encoded dots', `${base}/evil/%2e%2e${path}`],
    ['encoded dots and slash', `${base}/evil%2f%2e%2e${path}`],
    ['double encoding', `${base}/evil%252f%252e%252e${path}`],
    // %2563 decodes once to %63, twice to "c": a server decoding twice would see the registered path.
    ['a double-encoded path', `${base}/%25${path.charCodeAt(1).toString(16)}${path.slice(2)}`],
    ['userinfo naming another host', `${url.protocol}//${url.host}@evil.example${path}`],
    ['a subdomain of another host', `${url.protocol}//${url.hostname}.evil.example${path}`],
    ['a backslash before another host', `${url.protocol}//evil.example\\${url.host}${path}`],
    ['another port', `${url.protocol}//${url.hostname}:8443${path}`],
    ['the explicit default port', `${url.protocol}//${url.hostname}:${url.protocol === 'https:' ? 443 : 80}${path}`],
    ['http instead of https', `http://${url.host}${path}`],
    ['a trailing dot on the host', `${url.protocol}//${url.hostname}.${url.port ? `:${url.port}` : ''}${path}`],
    ['trailing whitespace', `${registered} `],
    ['an encoded NUL', `${registered}%00`],
    ['a prefix of the registered address', registered.slice(0, -1)],
    ['the registered address with more path', `${registered}evil`],
  ];
}

/**
 * One near miss for each looser rule a match could slip to: normalising the URL (case, default
 * port, dot segments), matching a prefix (query, more path), ignoring the port. Enough where the
 * same exact-match rule as at /auth is asked again; the other near misses only vary the string.
 */
const KINDS_OF_LOOSENESS = ['an upper-case host', 'the explicit default port', 'dot segments', 'an added query', 'the registered address with more path', 'another port'];
function oneOfEachKind(registered: string): Array<[string, string]> {
  const chosen = nearMisses(registered).filter(([name]) => KINDS_OF_LOOSENESS.includes(name));
  if (chosen.length !== KINDS_OF_LOOSENESS.length) throw new Error('a kind of looseness names no near miss');
  return chosen;
}

let server: TestServer;
let agent: UserAgent; // a browser that is signed in and has consented to `multi`
let multi: { clientId: string; clientSecret: string }; // registered REDIRECT and SECOND_REDIRECT
let loopback: { clientId: string };
let app: App; // openid-client view of an app with REDIRECT and POST_LOGOUT
let otherApp: App; // another app, with OTHER_POST_LOGOUT
let person: Awaited<ReturnType<typeof createPerson>>;

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

function authorizeUrl(clientId: string, extra: Record<string, string | undefined>): string {
  const params: Record<string, string> = {
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    state: 'redirect-uri-state',
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete params[key];
    else params[key] = value;
  }
  return `${server.issuer}/auth?${new URLSearchParams(params)}`;
}

/** What every refusal looks like: a 400 page for the person, no Location, nothing of the attacker's address. */
function expectRefusedWithPage(res: AgentResponse, heading?: RegExp) {
  expect(res.status, res.body.slice(0, 300)).toBe(400);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const h1 = /<h1[^>]*>([\s\S]*?)<\/h1>/.exec(res.body)?.[1];
  expect(h1, 'the error page has a heading').toBeDefined();
  if (heading) expect(h1).toMatch(heading);
  expect(res.body).not.toContain('evil.example');
  expect(res.body).not.toMatch(/<form|<meta[^>]+refresh/i);
}

/** Signed in with a session: prompt=none answers straight back to the app without a page. */
async function isSignedIn(browser: UserAgent, forApp: App = app): Promise<boolean> {
  const url = client.buildAuthorizationUrl(forApp.config, {
    redirect_uri: forApp.redirectUri, scope: 'openid', prompt: 'none', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 's',
  });
  const page = await browser.follow(url.href);
  expect(page.leftTo, page.body.slice(0, 300)).toBeDefined();
  const back = new URL(page.leftTo!);
  expect(back.origin + back.pathname).toBe(forApp.redirectUri);
  if (back.searchParams.get('error') === 'login_required') return false;
  if (back.searchParams.get('code') || back.searchParams.get('error') === 'consent_required') return true;
  throw new Error(`unexpected answer to prompt=none: ${back.href}`);
}

beforeAll(async () => {
  server = await startTestServer();
  person = await createPerson(server);
  const created = await server.stores.clients.create({ name: 'Two Callbacks', redirectUris: [REDIRECT, SECOND_REDIRECT] });
  multi = { clientId: created.client.clientId, clientSecret: created.clientSecret! };
  loopback = { clientId: (await server.stores.clients.create({ name: 'Native', redirectUris: [LOOPBACK], public: true })).client.clientId };
  app = await registerApp(server, { redirectUri: REDIRECT, postLogoutRedirectUri: POST_LOGOUT });
  otherApp = await registerApp(server, { redirectUri: 'https://other-app.example/cb', postLogoutRedirectUri: OTHER_POST_LOGOUT });

  // A browser signed in and having consented to `multi`, so a matching redirect would carry a code
  // straight away: the worst case for a loose match.
  agent = new UserAgent(server.issuer);
  let page = await agent.follow(authorizeUrl(multi.clientId, { redirect_uri: REDIRECT, prompt: 'consent' }));
  const csrf = () => /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const action = (name: string) => new URL(new RegExp(`action="([^"]*/${name})"`).exec(page.body)![1]!, page.url).href;
  page = await agent.follow(action('login'), { form: { csrf: csrf(), email: person.email, password: person.password } });
  page = await agent.follow(action('confirm'), { form: { csrf: csrf(), decision: 'allow' } });
  expect(new URL(page.leftTo!).searchParams.get('code')).toBeTruthy();
});

afterAll(async () => {
  await server?.stop();
});

describe('the authorization endpoint matches redirect URIs exactly', () => {
  it('the registered address itself goes through: a signed-in browser is sent back with a code (the baseline)', async () => {
    for (const registered of [REDIRECT, SECOND_REDIRECT]) {
      const page = await agent.follow(authorizeUrl(multi.clientId, { redirect_uri: registered }));
      expect(page.leftTo, page.body.slice(0, 300)).toBeDefined();
      const back = new URL(page.leftTo!);
      expect(back.origin + back.pathname).toBe(registered);
      expect(back.searchParams.get('code')).toBeTruthy();
    }
  });

  it.each(nearMisses(REDIRECT))('%s: an error page, no redirect, for a signed-in browser', async (_name, uri) => {
    const res = await agent.request(authorizeUrl(multi.clientId, { redirect_uri: uri }));
    expectRefusedWithPage(res, /Unregistered return address/);
  });

  it.each(oneOfEachKind(REDIRECT))('%s: an error page, no redirect, for a browser without a session', async (_name, uri) => {
    const res = await new UserAgent(server.issuer).request(authorizeUrl(multi.clientId, { redirect_uri: uri }));
    expectRefusedWithPage(res, /Unregistered return address/);
  });

  it('no redirect_uri when several are registered: an error page, no redirect', async () => {
    const res = await agent.request(authorizeUrl(multi.clientId, { redirect_uri: undefined }));
    expectRefusedWithPage(res);
  });

  it('another app\'s registered redirect URI: an error page, no redirect', async () => {
    const res = await agent.request(authorizeUrl(multi.clientId, { redirect_uri: otherApp.redirectUri }));
    expectRefusedWithPage(res, /Unregistered return address/);
  });

  it('two redirect_uri parameters, the registered one first: an error page, no redirect', async () => {
    const res = await agent.request(`${authorizeUrl(multi.clientId, { redirect_uri: REDIRECT })}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`);
    expectRefusedWithPage(res);
  });

  it.each([
    ['another loopback port', 'http://127.0.0.1:9999/cb'],
    ['localhost instead of 127.0.0.1', 'http://localhost:8765/cb'],
    ['https instead of http', 'https://127.0.0.1:8765/cb'],
    ['IPv6 loopback', 'http://[::1]:8765/cb'],
  ])('a loopback registration with %s: an error page, no redirect', async (_name, uri) => {
    const res = await new UserAgent(server.issuer).request(authorizeUrl(loopback.clientId, { redirect_uri: uri }));
    expectRefusedWithPage(res, /Unregistered return address/);
  });
});

describe('pushed authorization requests (RFC 9126) match redirect URIs exactly too', () => {
  async function push(params: Record<string, string>) {
    const res = await fetch(`${server.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(multi.clientId, multi.clientSecret) },
      body: new URLSearchParams({
        client_id: multi.clientId, response_type: 'code', scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'par-state', ...params,
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it.each(oneOfEachKind(REDIRECT))('%s: refused, no request_uri', async (_name, uri) => {
    const res = await push({ redirect_uri: uri });
    expect(res.status).toBe(400);
    // oidc-provider answers invalid_request here, naming the redirect_uri in the description.
    expect(['invalid_request', 'invalid_redirect_uri']).toContain(res.body.error);
    expect(String(res.body.error_description)).toMatch(/redirect_uri/);
    expect(res.body.request_uri).toBeUndefined();
  });

  it('no redirect_uri when several are registered: refused', async () => {
    const res = await push({});
    expect(res.status).toBe(400);
    expect(['invalid_request', 'invalid_redirect_uri']).toContain(res.body.error);
    expect(res.body.request_uri).toBeUndefined();
  });

  it('a redirect_uri added to the authorization request next to a pushed request_uri is not used', async () => {
    const pushed = await push({ redirect_uri: REDIRECT });
    expect(pushed.status).toBe(201);
    const url = `${server.issuer}/auth?${new URLSearchParams({
      client_id: multi.clientId, request_uri: String(pushed.body.request_uri), redirect_uri: 'https://evil.example/cb',
    })}`;
    const page = await agent.follow(url);
    expect(page.status).toBeLessThan(500);
    expect(page.body).not.toContain('evil.example');
    // The pushed request is the whole request (RFC 9126 §4): back to exactly its registered address.
    expect(page.leftTo, page.body.slice(0, 300)).toBeDefined();
    const back = new URL(page.leftTo!);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('state')).toBe('par-state');
  });
});

describe('logout redirects only to a registered post-logout address', () => {
  let idToken: string;
  let signedIn: UserAgent;

  beforeAll(async () => {
    const { tokens, agent: browser } = await obtainTokens(server, app, person, { scope: 'openid' });
    idToken = tokens.id_token!;
    signedIn = browser;
  });

  function endSession(params: Record<string, string>): string {
    return `${server.issuer}/session/end?${new URLSearchParams(params)}`;
  }

  it.each(oneOfEachKind(POST_LOGOUT))('%s: an error page, no redirect, no sign-out form', async (_name, uri) => {
    const res = await signedIn.request(endSession({ id_token_hint: idToken, post_logout_redirect_uri: uri, state: 'bye' }));
    expectRefusedWithPage(res);
    expect(res.body).not.toContain('op.logoutForm');
  });

  it('after every refusal above, the person is still signed in: nothing was half-done', async () => {
    expect(await isSignedIn(signedIn)).toBe(true);
  });

  it('the address another app registered: an error page, no redirect', async () => {
    const res = await signedIn.request(endSession({ id_token_hint: idToken, post_logout_redirect_uri: OTHER_POST_LOGOUT }));
    expectRefusedWithPage(res);
    expect(res.body).not.toContain('op.logoutForm');
  });

  it('another app\'s client_id next to this app\'s id_token_hint, with that app\'s address: refused', async () => {
    const res = await signedIn.request(endSession({ id_token_hint: idToken, client_id: otherApp.clientId, post_logout_redirect_uri: OTHER_POST_LOGOUT }));
    expectRefusedWithPage(res);
    expect(res.body).not.toContain('op.logoutForm');
  });

  it('the app\'s redirect_uri (not a post-logout address) is not a post-logout address', async () => {
    const res = await signedIn.request(endSession({ id_token_hint: idToken, post_logout_redirect_uri: REDIRECT }));
    expectRefusedWithPage(res);
  });

  it('a post_logout_redirect_uri naming no app (no id_token_hint, no client_id) is never redirected to', async () => {
    const browser = (await obtainTokens(server, app, person, { scope: 'openid' })).agent;
    const page = await browser.request(endSession({ post_logout_redirect_uri: 'https://evil.example/after', state: 'bye' }));
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('evil.example');
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page.body);
    expect(form, page.body.slice(0, 500)).not.toBeNull();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form![2]!)![1]!;
    const done = await browser.request(new URL(form![1]!, server.issuer).href, { form: { xsrf, logout: 'yes' } });
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location')!, server.issuer);
    // Gatehouse's own "signed out" page, not the address from the request.
    expect(back.origin).toBe(server.issuer);
    expect(back.href).not.toContain('evil.example');
    expect(await isSignedIn(browser)).toBe(false);
  });
});

describe('logout needs the person\'s confirmation', () => {
  it('a GET of the logout endpoint alone (a link, an image, another site) signs nobody out', async () => {
    const { agent: browser } = await obtainTokens(server, app, person, { scope: 'openid' });
    const page = await browser.request(`${server.issuer}/session/end`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('op.logoutForm');
    expect(page.headers.get('location')).toBeNull();
    expect(await isSignedIn(browser)).toBe(true);
  });

  it('not even with a valid id_token_hint and a registered address: the person is asked first', async () => {
    const { agent: browser, tokens } = await obtainTokens(server, app, person, { scope: 'openid' });
    const page = await browser.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT })}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('location')).toBeNull();
    expect(page.body).toContain('op.logoutForm');
    expect(await isSignedIn(browser)).toBe(true);
  });

  it('"Stay signed in" does not redirect anywhere but Gatehouse or the registered address', async () => {
    const { agent: browser, tokens } = await obtainTokens(server, app, person, { scope: 'openid' });
    const page = await browser.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT })}`);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page.body)!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form[2]!)![1]!;
    const done = await browser.request(new URL(form[1]!, server.issuer).href, { form: { xsrf } });
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location')!, server.issuer);
    expect([server.issuer, new URL(POST_LOGOUT).origin]).toContain(back.origin);
    if (back.origin !== server.issuer) expect(back.origin + back.pathname).toBe(POST_LOGOUT);
  });
});
