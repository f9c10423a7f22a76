// The pages people see: sign-in, consent, sign-out and the error pages. Driven over real HTTP with
// a cookie-jar browser, checking what a person (and an attacker in another tab) would run into.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, signIn, type App } from '../support/flows.js';
import { formOf, UserAgent, type Response as AgentResponse } from '../support/user-agent.js';

const POST_LOGOUT = 'https://app.example.test/signed-out';

let server: TestServer;
let app: App;
let person: Awaited<ReturnType<typeof createPerson>>;

beforeAll(async () => {
  server = await startTestServer();
  app = await registerApp(server, { postLogoutRedirectUri: POST_LOGOUT });
  person = await createPerson(server, { name: 'Margaret Hamilton' });
});

afterAll(async () => {
  await server?.stop();
});

/** Opens the sign-in page of a fresh authorization request in this browser. */
async function openLogin(agent: UserAgent, params: Record<string, string> = {}): Promise<AgentResponse> {
  const request = await authorizationRequest(app, params);
  const page = await agent.follow(request.url.href);
  expect(page.status).toBe(200);
  expect(page.url).toMatch(/\/interaction\/[^/]+$/);
  expect(page.body).toMatch(/name="password"/);
  return page;
}

/** Signs in on an open login page and returns the consent page that follows. */
async function signInToConsent(agent: UserAgent, loginPage: AgentResponse): Promise<AgentResponse> {
  const login = formOf(loginPage.body, /\/login$/);
  const page = await agent.follow(new URL(login.action, loginPage.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
  expect(page.status).toBe(200);
  expect(page.body).toMatch(/name="decision"/);
  return page;
}

/** Whether this browser has a signed-in session: prompt=none answers without showing a page. */
async function isSignedIn(agent: UserAgent): Promise<boolean> {
  const request = await authorizationRequest(app, { prompt: 'none', scope: 'openid' });
  const page = await agent.follow(request.url.href);
  const back = new URL(page.leftTo!);
  if (back.searchParams.get('error') === 'login_required') return false;
  if (back.searchParams.get('error') === 'consent_required' || back.searchParams.get('code')) return true;
  throw new Error(`unexpected answer to prompt=none: ${back.href}`);
}

function setCookie(agent: UserAgent, name: string): string[] {
  return agent.setCookieHeaders.filter((line) => line.startsWith(`${name}=`));
}

/** What every friendly error page has: HTML, a heading, the message, and nothing for developers only. */
function expectFriendlyPage(res: { status: number; headers: Headers; body: string }, status: number, heading: string | RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('cache-control')).toMatch(/no-store/);
  const h1 = /<h1[^>]*>([\s\S]*?)<\/h1>/.exec(res.body)?.[1];
  expect(h1, 'the page has a heading').toBeDefined();
  if (typeof heading === 'string') expect(h1).toContain(heading);
  else expect(h1).toMatch(heading);
  expect(res.body).not.toContain('Error:');
  expect(res.body).not.toMatch(/^\s*at /m);
  expect(res.body).not.toMatch(/\(?(file:\/\/|\/)[^\s)]+\.(js|ts):\d+:\d+/);
  expect(res.body).not.toContain('node_modules');
}

/** Signs in on the login page the URL leads to and returns the consent page that follows. */
async function signInToConsentFor(agent: UserAgent, url: string, who: { email: string; password: string }): Promise<AgentResponse> {
  const login = await agent.follow(url);
  const form = formOf(login.body, /\/login$/);
  return agent.follow(new URL(form.action, login.url).href, { form: { csrf: form.csrf, email: who.email, password: who.password } });
}

describe('the sign-in page', () => {
  it('is not cached, cannot be framed, leaks no referrer and loads nothing from elsewhere', async () => {
    const page = await openLogin(new UserAgent(server.issuer));
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('cache-control')).toMatch(/no-store/);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');

    expect(page.body).toContain('<label for="email">');
    expect(page.body).toContain('<label for="password">');
    expect(page.body).toMatch(/<input id="email"/);
    expect(page.body).toMatch(/<input id="password"/);

    const references = [...page.body.matchAll(/\b(?:src|href|action)\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => m[1]!);
    expect(references.length).toBeGreaterThan(0);
    for (const reference of references) {
      // Same-origin paths only: no scheme, no protocol-relative //host.
      expect(reference, reference).toMatch(/^\/(?!\/)/);
      expect(reference, reference).not.toMatch(/^[a-z][a-z0-9+.-]*:/i);
    }
    expect(page.body).not.toMatch(/https?:\/\//i);

    const css = await fetch(`${server.issuer}/assets/gatehouse.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('refuses a sign-in form without its CSRF token, and does not sign the person in', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await openLogin(agent);
    const login = formOf(page.body, /\/login$/);
    const res = await agent.request(new URL(login.action, page.url).href, { form: { email: person.email, password: person.password } });
    expectFriendlyPage(res, 403, 'This form has expired');
    expect(res.headers.get('location')).toBeNull();
    expect(setCookie(agent, 'gh_session')).toEqual([]);
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('refuses a CSRF token taken from another browser', async () => {
    const attacker = new UserAgent(server.issuer);
    const attackerPage = await openLogin(attacker);
    const attackerToken = formOf(attackerPage.body, /\/login$/).csrf;

    const victim = new UserAgent(server.issuer);
    const page = await openLogin(victim);
    const login = formOf(page.body, /\/login$/);
    expect(attackerToken).not.toBe(login.csrf);
    const res = await victim.request(new URL(login.action, page.url).href, { form: { csrf: attackerToken, email: person.email, password: person.password } });
    expectFriendlyPage(res, 403, 'This form has expired');
    expect(await isSignedIn(victim)).toBe(false);
  });

  it('says the same thing for a wrong password and an unknown email, keeps the email and never the password', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await openLogin(agent);
    let login = formOf(page.body, /\/login$/);
    const wrongPassword = 'Tr0ub4dor&3-but-wrong';
    const wrong = await agent.request(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: wrongPassword } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('The email or password is incorrect.');
    expect(wrong.body).toMatch(new RegExp(`id="email"[^>]*value="${person.email.replace(/[.+]/g, '\\$&')}"`));
    expect(wrong.body).not.toContain(wrongPassword);
    expect(wrong.body).not.toContain('Tr0ub4dor');
    expect(wrong.body).not.toMatch(/id="password"[^>]*value=/);
    expect(wrong.headers.get('cache-control')).toMatch(/no-store/);

    login = formOf(wrong.body, /\/login$/);
    const unknownEmail = `nobody.${Date.now()}@example.test`;
    const unknown = await agent.request(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: unknownEmail, password: wrongPassword } });
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.body).toContain('The email or password is incorrect.');
    expect(unknown.body).toContain(`value="${unknownEmail}"`);
    expect(unknown.body).not.toContain(wrongPassword);
    // The same page apart from the email typed in and the form's token.
    const normalise = (html: string, email: string) => html.replaceAll(email, 'EMAIL').replace(/name="csrf" value="[^"]+"/g, 'csrf');
    expect(normalise(unknown.body, unknownEmail)).toBe(normalise(wrong.body, person.email));
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('sets the session cookie HttpOnly and SameSite=Lax', async () => {
    const agent = new UserAgent(server.issuer);
    const callback = await signIn(agent, (await authorizationRequest(app)).url, person);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const lines = setCookie(agent, 'gh_session');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of [...lines, ...setCookie(agent, 'gh_session.sig')]) {
      expect(line).toMatch(/;\s*httponly/i);
      expect(line).toMatch(/;\s*samesite=lax/i);
    }
    // Every cookie Gatehouse sets is HttpOnly: none is for scripts.
    for (const line of agent.setCookieHeaders) expect(line, line).toMatch(/;\s*httponly/i);
  });
});

describe('the consent page', () => {
  it('refuses a decision without its CSRF token, or with another browser’s, and issues no code', async () => {
    const other = new UserAgent(server.issuer);
    const otherToken = formOf((await openLogin(other)).body, /\/login$/).csrf;

    const agent = new UserAgent(server.issuer);
    const consentPage = await signInToConsent(agent, await openLogin(agent));
    const consent = formOf(consentPage.body, /\/confirm$/);
    const action = new URL(consent.action, consentPage.url).href;

    const forged: Array<Record<string, string>> = [{ decision: 'allow' }, { decision: 'allow', csrf: otherToken }, { decision: 'allow', csrf: '' }];
    for (const form of forged) {
      const res = await agent.request(action, { form });
      expectFriendlyPage(res, 403, 'This form has expired');
      expect(res.headers.get('location')).toBeNull();
    }
    // Still waiting for the person's answer: the consent page is shown again, no code went out.
    const again = await agent.follow(consentPage.url);
    expect(again.leftTo).toBeUndefined();
    expect(again.body).toMatch(/name="decision"/);
    // And the real form still works.
    const allowed = await agent.follow(action, { form: { csrf: formOf(again.body, /\/confirm$/).csrf, decision: 'allow' } });
    expect(new URL(allowed.leftTo!).searchParams.get('code')).toBeTruthy();
  });
});

describe('what the consent page lists', () => {
  it('names the app, each scope in plain words and each API scope; and lists everything again when the app asks to re-confirm', async () => {
    const api = 'https://docs.example.test';
    await server.stores.resources.create({ identifier: api, name: 'Docs API', scope: 'docs:read', scopeDescriptions: { 'docs:read': 'Read your documents' } });
    const docsApp = await registerApp(server, { scope: 'openid profile email docs:read' });
    const docsPerson = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(docsApp, { scope: 'openid email docs:read', resource: api });

    const first = await signInToConsentFor(agent, request.url.href, docsPerson);
    expect(first.body).toContain('Example App');
    expect(first.body).toContain('See your email address');
    expect(first.body).toContain('Docs API');
    expect(first.body).toContain('Read your documents');
    const allowed = await agent.follow(new URL(formOf(first.body, /\/confirm$/).action, first.url).href, { form: { csrf: formOf(first.body, /\/confirm$/).csrf, decision: 'allow' } });
    expect(allowed.leftTo).toBeDefined();

    // Same request again with prompt=consent: nothing is new, and the page still says what is asked.
    const again = await agent.follow((await authorizationRequest(docsApp, { scope: 'openid email docs:read', resource: api })).url.href);
    expect(again.body).toMatch(/name="decision"/);
    expect(again.body).toContain('See your email address');
    expect(again.body).toContain('Read your documents');
  });
});

describe('session cookies', () => {
  let proxied: TestServer;

  beforeAll(async () => {
    proxied = await startTestServer({ TRUST_PROXY: 'true' });
  });

  afterAll(async () => {
    await proxied?.stop();
  });

  it('are Secure when the request came over TLS through a trusted proxy', async () => {
    const proxiedApp = await registerApp(proxied);
    const proxiedPerson = await createPerson(proxied);
    // A TLS-terminating proxy forwarding plain HTTP to Gatehouse with X-Forwarded-Proto: https.
    // The addresses Gatehouse sends come from ISSUER (http here), whatever the proxy says.
    class BehindTls extends UserAgent {
      override async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}) {
        return super.request(url, { ...init, headers: { ...init.headers, 'x-forwarded-proto': 'https' } });
      }
    }
    const agent = new BehindTls(proxied.issuer);
    const callback = await signIn(agent, (await authorizationRequest(proxiedApp)).url, proxiedPerson);
    expect(callback.searchParams.get('code'), callback.href).toBeTruthy();
    const names = new Set(agent.setCookieHeaders.map((line) => line.slice(0, line.indexOf('='))));
    expect([...names]).toEqual(expect.arrayContaining(['gh_session', 'gh_csrf', 'gh_interaction']));
    for (const line of agent.setCookieHeaders) expect(line, line).toMatch(/;\s*secure/i);

    // And not Secure over plain HTTP on the same server (the proxy did not say TLS).
    const plain = new UserAgent(proxied.issuer);
    await signIn(plain, (await authorizationRequest(proxiedApp)).url, proxiedPerson);
    for (const line of plain.setCookieHeaders) expect(line, line).not.toMatch(/;\s*secure/i);
  });
});

describe('cookies of an https issuer behind a TLS proxy', () => {
  let tls: TestServer;

  beforeAll(async () => {
    const port = await freePort();
    tls = await startTestServer({ PORT: String(port), ISSUER: `https://127.0.0.1:${port}`, TRUST_PROXY: 'true' });
  });

  afterAll(async () => {
    await tls?.stop();
  });

  it('carry prefixes browsers enforce (__Host- at Path=/, __Secure- elsewhere) and sign-in still works', async () => {
    const { client: tlsApp } = await tls.stores.clients.create({ name: 'TLS App', redirectUris: ['https://app.example.test/callback'] });
    const tlsPerson = await createPerson(tls);
    // Built by hand: discovery over https is not reachable here, only the proxy's plain side.
    const authorize = new URL(`${tls.issuer}/auth`);
    authorize.search = new URLSearchParams({
      client_id: tlsApp.clientId, redirect_uri: 'https://app.example.test/callback', response_type: 'code', scope: 'openid',
      state: 'tls-state', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }).toString();
    class BehindTls extends UserAgent {
      override async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}) {
        const res = await super.request(url.replace(/^https:/, 'http:'), { ...init, headers: { ...init.headers, 'x-forwarded-proto': 'https' } });
        return { ...res, url: url.replace(/^http:/, 'https:') };
      }
    }
    const agent = new BehindTls(tls.issuer);
    const callback = await signIn(agent, authorize, tlsPerson);
    expect(callback.searchParams.get('code'), callback.href).toBeTruthy();
    // Signing out of the app alone leaves the cookie that lets the signed-out page name it.
    const logout = await agent.request(`${tls.issuer}/session/end?client_id=${encodeURIComponent(tlsApp.clientId)}`);
    const confirm = /<form id="op\.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"/.exec(logout.body);
    expect(confirm, logout.body.slice(0, 300)).toBeTruthy();
    const signedOut = await agent.follow(confirm![1]!, { form: { xsrf: confirm![2]! } });
    expect(signedOut.body).toContain('You have signed out of TLS App.');

    const cookies = agent.setCookieHeaders.map((line) => ({ line, name: line.slice(0, line.indexOf('=')) }));
    const names = new Set(cookies.map((c) => c.name.replace(/\.sig$/, '')));
    expect([...names]).toEqual(expect.arrayContaining(['__Host-gh_session', '__Host-gh_csrf', '__Secure-gh_interaction', '__Secure-gh_resume', '__Host-gh_signed_out']));
    for (const { line, name } of cookies) {
      // What browsers require of each prefix (RFC 6265bis §4.1.3): otherwise they drop the cookie.
      if (name.startsWith('__Host-')) {
        expect(line, line).toMatch(/;\s*secure/i);
        expect(line, line).toMatch(/;\s*path=\/(;|$)/i);
        expect(line, line).not.toMatch(/;\s*domain=/i);
      } else {
        expect(name, line).toMatch(/^__Secure-/);
        expect(line, line).toMatch(/;\s*secure/i);
      }
    }
  });
});

describe('session fixation', () => {
  it('ignores a planted session cookie and issues a new one at sign-in', async () => {
    const agent = new UserAgent(server.issuer);
    agent.cookies.set('gh_session', 'attacker-chosen');
    agent.cookies.set('gh_session.sig', 'garbage-signature-0123456789');
    const callback = await signIn(agent, (await authorizationRequest(app)).url, person);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const session = agent.cookies.get('gh_session');
    expect(session).toBeDefined();
    expect(session).not.toBe('attacker-chosen');
    expect(setCookie(agent, 'gh_session').some((line) => line.startsWith('gh_session=attacker-chosen'))).toBe(false);
  });

  it('replaces an attacker’s own valid session cookie when the victim signs in with it', async () => {
    // The attacker signs in to their own account and plants that (validly signed) cookie.
    const mallory = await createPerson(server, { name: 'Mallory' });
    const attacker = new UserAgent(server.issuer);
    await signIn(attacker, (await authorizationRequest(app)).url, mallory);
    const planted = { value: attacker.cookies.get('gh_session')!, sig: attacker.cookies.get('gh_session.sig')! };
    expect(planted.value).toBeTruthy();
    expect(await isSignedIn(attacker)).toBe(true);

    const victim = new UserAgent(server.issuer);
    victim.cookies.set('gh_session', planted.value);
    victim.cookies.set('gh_session.sig', planted.sig);
    let page: AgentResponse & { leftTo?: string } = await openLogin(victim, { prompt: 'login' });
    const login = formOf(page.body, /\/login$/);
    page = await victim.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    // Another account was signed in on this browser: oidc-provider ends that session first, with
    // a self-submitting form (a browser runs its script; this one submits it by hand).
    for (let hops = 0; hops < 3 && /<form method="post" action="[^"]*\/session\/end\/confirm"/.test(page.body); hops += 1) {
      const action = /<form method="post" action="([^"]+)"/.exec(page.body)![1]!;
      const fields = Object.fromEntries([...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1]!, m[2]!]));
      page = await victim.follow(new URL(action, page.url).href, { form: fields });
    }
    if (!page.leftTo && /name="decision"/.test(page.body)) {
      const consent = formOf(page.body, /\/confirm$/);
      page = await victim.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
    }
    expect(page.leftTo, page.body.slice(0, 300)).toBeDefined();
    expect(new URL(page.leftTo!).searchParams.get('code')).toBeTruthy();
    expect(victim.cookies.get('gh_session')).toBeDefined();
    expect(victim.cookies.get('gh_session')).not.toBe(planted.value);
    // The planted id does not now name the victim's session.
    expect(await isSignedIn(attacker)).toBe(false);
  });

  it('gives a new session id on every sign-in in the same browser', async () => {
    const agent = new UserAgent(server.issuer);
    await signIn(agent, (await authorizationRequest(app)).url, person);
    const first = { value: agent.cookies.get('gh_session')!, sig: agent.cookies.get('gh_session.sig')! };
    expect(first.value).toBeTruthy();
    const callback = await signIn(agent, (await authorizationRequest(app, { prompt: 'login' })).url, person);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const second = { value: agent.cookies.get('gh_session')!, sig: agent.cookies.get('gh_session.sig')! };
    expect(second.value).toBeTruthy();
    expect(second.value).not.toBe(first.value);

    // The old id no longer names a session; the new one does.
    const withCookie = (cookie: { value: string; sig: string }) => {
      const browser = new UserAgent(server.issuer);
      browser.cookies.set('gh_session', cookie.value);
      browser.cookies.set('gh_session.sig', cookie.sig);
      return browser;
    };
    expect(await isSignedIn(withCookie(first))).toBe(false);
    expect(await isSignedIn(withCookie(second))).toBe(true);
  });
});

describe('error pages', () => {
  it('an unknown sign-in address: 400 "This sign-in has expired"', async () => {
    const res = await new UserAgent(server.issuer).request(`${server.issuer}/interaction/doesnotexist`);
    expectFriendlyPage(res, 400, 'This sign-in has expired');
  });

  it('an unknown client_id: 400 "Unknown application" and no redirect', async () => {
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: 'no-such-client', response_type: 'code', scope: 'openid', redirect_uri: 'https://evil.example.test/cb',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'xyz',
    }).toString();
    const res = await new UserAgent(server.issuer).request(url.href);
    expectFriendlyPage(res, 400, 'Unknown application');
    expect(res.headers.get('location')).toBeNull();
    expect(res.body).not.toContain('evil.example.test');
  });

  it('a redirect_uri the app did not register: 400 page and no redirect', async () => {
    const request = await authorizationRequest(app, { redirect_uri: 'https://evil.example.test/callback' });
    const res = await new UserAgent(server.issuer).request(request.url.href);
    expectFriendlyPage(res, 400, 'Unregistered return address');
    expect(res.headers.get('location')).toBeNull();
  });

  it('an unknown page: 404 page for browsers, 404 JSON for programs', async () => {
    const html = await fetch(`${server.issuer}/no-such-page`, { headers: { accept: 'text/html' } });
    expectFriendlyPage({ status: html.status, headers: html.headers, body: await html.text() }, 404, 'Page not found');

    const json = await fetch(`${server.issuer}/no-such-page`, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(404);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await json.json()).toMatchObject({ error: 'not_found', error_description: expect.any(String) });
  });
});

describe('signing out from an app (RP-initiated logout)', () => {
  it('asks for confirmation, then ends the session and returns to the registered address', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    // Signed in: a request without prompt goes straight back to the app.
    expect(await isSignedIn(agent)).toBe(true);

    const endUrl = `${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT, state: 'bye' })}`;
    const page = await agent.request(endUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('cache-control')).toMatch(/no-store/);
    expect(page.body).toContain('id="op.logoutForm"');
    expect(page.body).toMatch(/<button[^>]*form="op\.logoutForm"[^>]*name="logout"[^>]*value="yes"[^>]*>\s*Sign out\s*<\/button>/);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page.body);
    expect(form).not.toBeNull();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form![2]!)?.[1];
    expect(xsrf).toBeTruthy();

    const done = await agent.request(new URL(form![1]!, server.issuer).href, { form: { xsrf: xsrf!, logout: 'yes' } });
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(POST_LOGOUT);
    expect(back.searchParams.get('state')).toBe('bye');

    // The session is gone: signing in is asked for again.
    expect(agent.cookies.has('gh_session')).toBe(false);
    expect(await isSignedIn(agent)).toBe(false);
    await openLogin(agent, { prompt: '', scope: 'openid' });
  });

  it('refuses a forged confirmation without the xsrf value', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    await agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token! })}`);
    const res = await agent.request(`${server.issuer}/session/end/confirm`, { form: { logout: 'yes', xsrf: 'guessed' } });
    expectFriendlyPage(res, 400, /request/i);
    expect(res.headers.get('location')).toBeNull();
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('refuses an unregistered post_logout_redirect_uri with a page, not a redirect', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    const res = await agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example.test/after' })}`);
    expectFriendlyPage(res, 400, /request/i);
    expect(res.headers.get('location')).toBeNull();
    expect(res.body).not.toContain('op.logoutForm');
    expect(await isSignedIn(agent)).toBe(true);
  });
});
