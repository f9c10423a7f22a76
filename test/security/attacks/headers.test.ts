// Security headers, no-store, 303 after a POST, CORS and HSTS on every page and endpoint.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent } from '../../support/user-agent.js';
import { accountForm, signInToAccount } from '../../account/support.js';
import {
  basic, FORM, REDIRECT, SCOPE, startAttackTarget, type AttackTarget, type Credentials, type Person,
} from './target.js';

let target: AttackTarget;
let server: TestServer;
let notes: Credentials;
let app: App;
let person: Person;

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server, notes, app, person } = target);
});

afterAll(async () => {
  await target?.stop();
});

describe('headers on every page and endpoint', () => {
  interface Captured { name: string; status: number; headers: Headers; body: string; hasForm: boolean; html: boolean }
  const captured: Captured[] = [];

  function capture<T extends { status: number; headers: Headers; body: string }>(name: string, res: T): T {
    const html = (res.headers.get('content-type') ?? '').startsWith('text/html');
    captured.push({ name, status: res.status, headers: res.headers, body: res.body, html, hasForm: html && /<form/i.test(res.body) });
    return res;
  }

  async function raw(name: string, url: string, init: RequestInit = {}) {
    const res = await fetch(url, { redirect: 'manual', ...init });
    return capture(name, { status: res.status, headers: res.headers, body: await res.text() });
  }

  beforeAll(async () => {
    const issuer = server.issuer;
    const agent = new UserAgent(issuer);
    const request = await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: SCOPE, prompt: 'consent', state: 'h',
      code_challenge: await client.calculatePKCECodeChallenge('h'.repeat(43)), code_challenge_method: 'S256',
    });
    const redirect = capture('/auth (redirect to the sign-in page)', await agent.request(request.href));
    const loginPage = capture('the sign-in page', await agent.request(new URL(redirect.headers.get('location')!, issuer).href));
    const login = formOf(loginPage.body, /\/login$/);
    const loginAction = new URL(login.action, loginPage.url).href;
    capture('a failed sign-in', await agent.request(loginAction, { form: { csrf: login.csrf, email: person.email, password: 'wrong password entirely' } }));
    capture('a sign-in without its CSRF token', await agent.request(loginAction, { form: { email: person.email, password: person.password } }));
    const signedIn = capture('POST sign-in (redirect)', await agent.request(loginAction, { form: { csrf: login.csrf, email: person.email, password: person.password } }));
    let page = await agent.request(new URL(signedIn.headers.get('location')!, issuer).href); // /auth/:uid resume
    capture('/auth/:uid (resume)', page);
    const consentPage = capture('the consent page', await agent.request(new URL(page.headers.get('location')!, issuer).href));
    const consent = formOf(consentPage.body, /\/confirm$/);
    page = capture('POST consent (redirect)', await agent.request(new URL(consent.action, consentPage.url).href, { form: { csrf: consent.csrf, decision: 'allow' } }));
    const back = capture('/auth/:uid (back to the app)', await agent.request(new URL(page.headers.get('location')!, issuer).href));
    const code = new URL(back.headers.get('location')!).searchParams.get('code')!;

    const token = await raw('/token (success)', `${issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: 'h'.repeat(43) }) });
    const tokens = JSON.parse(token.body) as { access_token: string; id_token: string; refresh_token: string };
    await raw('/token (error)', `${issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: 'grant_type=authorization_code&code=used' });
    await raw('/token (refresh)', `${issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }) });
    await raw('/token/introspection', `${issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(notes.clientId, notes.clientSecret!) }, body: new URLSearchParams({ token: tokens.access_token }) });
    await raw('/token/introspection (unauthenticated)', `${issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ token: tokens.access_token }) });
    await raw('/me', `${issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await raw('/me (invalid token)', `${issuer}/me`, { headers: { authorization: 'Bearer nope' } });
    await raw('/token/revocation', `${issuer}/token/revocation`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ token: 'nothing' }) });
    await raw('/request', `${issuer}/request`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) }, body: new URLSearchParams({ client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }) });
    await raw('discovery', `${issuer}/.well-known/openid-configuration`);
    await raw('/jwks', `${issuer}/jwks`);
    await raw('/healthz', `${issuer}/healthz`);
    await raw('/readyz', `${issuer}/readyz`);
    await raw('/assets/gatehouse.css', `${issuer}/assets/gatehouse.css`);
    await raw('a 404 page', `${issuer}/no-such-page`, { headers: { accept: 'text/html' } });
    await raw('a 404 for programs', `${issuer}/no-such-page`, { headers: { accept: 'application/json' } });
    await raw('a browser at the token endpoint', `${issuer}/token`, { headers: { accept: 'text/html' } });
    await raw('an error page from /auth', `${issuer}/auth`, { headers: { accept: 'text/html' } });
    await raw('an expired sign-in page', `${issuer}/interaction/does-not-exist`, { headers: { accept: 'text/html' } });

    const logout = capture('the sign-out page', await agent.request(`${issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token })}`));
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(logout.body)!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form[2]!)![1]!;
    const done = capture('POST sign-out (redirect)', await agent.request(new URL(form[1]!, issuer).href, { form: { xsrf, logout: 'yes' } }));
    capture('the signed-out page', await agent.request(new URL(done.headers.get('location')!, issuer).href));
    capture('a sign-out without a session', await new UserAgent(issuer).request(`${issuer}/session/end`));

    // The account pages, as the person.
    const { agent: own } = await signInToAccount(server, person, '/account/sessions');
    await signInToAccount(server, person, '/account'); // a second device, for "sign out of other sessions" 
    capture('/account (not signed in: to the sign-in page)', await new UserAgent(issuer).request(`${issuer}/account`));
    for (const path of ['/account', '/account/apps', '/account/sessions', '/account/password']) capture(`the account page ${path}`, await own.request(`${issuer}${path}`));
    const sessions = await own.request(`${issuer}/account/sessions`);
    const endOthers = accountForm(sessions.body, '/account/sessions/end-others');
    capture('POST sign out of other sessions (redirect)', await own.request(`${issuer}${endOthers.action}`, { form: endOthers.fields }));

    capture('the console, for someone who is not an admin', await own.request(`${issuer}/admin/people`));

    // The console, as an admin, and the admin API, as automation.
    const admin = await server.stores.users.create({ email: 'headers-admin@example.test', name: 'Headers Admin', password: person.password, isAdmin: true });
    const { agent: console_ } = await signInToAccount(server, { email: admin.email, password: person.password }, '/admin/people');
    for (const path of ['/admin/people', `/admin/people/${person.id}`, '/admin/people/new', '/admin/apps', `/admin/apps/${app.clientId}`, '/admin/apis', '/admin/keys', '/admin/audit', '/admin/people/not-a-person']) {
      capture(`the console page ${path}`, await console_.request(`${issuer}${path}`));
    }
    const personPage = await console_.request(`${issuer}/admin/people/${person.id}`);
    const endAll = /<form[^>]*action="([^"]*\/sessions\/end-all)"[^>]*>[\s\S]*?name="csrf" value="([^"]+)"/.exec(personPage.body)!;
    capture('POST console: sign out everywhere (redirect)', await console_.request(new URL(endAll[1]!.replace(/&amp;/g, '&'), issuer).href, { form: { csrf: endAll[2]! } }));

    const automation = await server.stores.clients.create({ name: 'Headers automation', clientCredentials: true, admin: true });
    const adminToken = await raw('/token (admin API token)', `${issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(automation.client.clientId, automation.clientSecret!) }, body: 'grant_type=client_credentials&scope=gatehouse%3Aadmin' });
    const bearer = `Bearer ${(JSON.parse(adminToken.body) as { access_token: string }).access_token}`;
    await raw('admin API: list people', `${issuer}/admin/api/v1/users`, { headers: { authorization: bearer } });
    await raw('admin API: no token', `${issuer}/admin/api/v1/users`);
    await raw('admin API: unknown person', `${issuer}/admin/api/v1/users/00000000-0000-0000-0000-000000000000`, { headers: { authorization: bearer } });
    await raw('admin API: OpenAPI document', `${issuer}/admin/api/v1/openapi.json`);
  });

  it('captured every kind of response (the baseline)', () => {
    expect(captured.filter((c) => c.hasForm).map((c) => c.name)).toEqual(expect.arrayContaining(['the sign-in page', 'the consent page', 'the sign-out page']));
    expect(captured.find((c) => c.name === '/token (success)')?.status).toBe(200);
    expect(captured.find((c) => c.name === '/me')?.status).toBe(200);
    expect(captured.find((c) => c.name === '/token/introspection')?.status).toBe(200);
    expect(captured.find((c) => c.name === 'the signed-out page')?.status).toBe(200);
    expect(captured.filter((c) => /^the (account|console) page/.test(c.name) && c.status === 200 && c.hasForm).length).toBeGreaterThanOrEqual(6);
    expect(captured.find((c) => c.name === 'admin API: list people')?.status).toBe(200);
    expect(captured.find((c) => c.name === 'admin API: no token')?.status).toBe(401);
    expect(captured.find((c) => c.name === 'the console, for someone who is not an admin')?.status).toBe(403);
  });

  it('every response: nosniff and Referrer-Policy no-referrer', () => {
    for (const c of captured) {
      expect(c.headers.get('x-content-type-options'), c.name).toBe('nosniff');
      expect(c.headers.get('referrer-policy'), c.name).toBe('no-referrer');
    }
  });

  it('pages carry the document headers too; the JSON endpoints apps and APIs call carry the rest, CSP and frame denial included', () => {
    const documentOnly = { 'cross-origin-opener-policy': 'same-origin', 'origin-agent-cluster': '?1', 'x-dns-prefetch-control': 'off', 'x-download-options': 'noopen', 'x-permitted-cross-domain-policies': 'none', 'x-xss-protection': '0' };
    const pages = captured.filter((c) => c.html);
    for (const c of pages) for (const [name, value] of Object.entries(documentOnly)) expect(c.headers.get(name), `${c.name}: ${name}`).toBe(value);
    expect(pages.map((c) => c.name)).toContain('a browser at the token endpoint');
    const api = captured.filter((c) => /^\/(token \(|token\/|me\b|jwks)/.test(c.name) && !c.html);
    expect(api.map((c) => c.name)).toEqual(expect.arrayContaining(['/token (success)', '/token (error)', '/token/introspection', '/token/introspection (unauthenticated)', '/token/revocation', '/me', '/me (invalid token)', '/jwks']));
    for (const c of api) {
      for (const name of Object.keys(documentOnly)) expect(c.headers.get(name), `${c.name}: ${name}`).toBeNull();
      expect(c.headers.get('content-security-policy'), c.name).toMatch(/(^|;)\s*frame-ancestors 'none'/);
      expect(c.headers.get('x-frame-options'), c.name).toBe('DENY');
      expect(c.headers.get('cross-origin-resource-policy'), c.name).toBe('cross-origin');
    }
  });

  it('every HTML page: CSP with frame-ancestors \'none\' and no inline script, X-Frame-Options DENY', () => {
    const html = captured.filter((c) => c.html);
    expect(html.length).toBeGreaterThan(8);
    for (const c of html) {
      const csp = c.headers.get('content-security-policy') ?? '';
      expect(csp, c.name).toMatch(/(^|;)\s*frame-ancestors 'none'/);
      expect(csp, c.name).toMatch(/(^|;)\s*default-src 'self'/);
      expect(csp, c.name).not.toMatch(/'unsafe-inline'|'unsafe-eval'|\*/);
      expect(c.headers.get('x-frame-options'), c.name).toBe('DENY');
    }
  });

  it('Cache-Control: no-store on token, introspection, userinfo, pushed requests and every page with a form or an error', () => {
    const mustNotBeStored = captured.filter((c) => c.hasForm || (c.html && c.status >= 400) || /^\/(token \(|token\/introspection|me\b|request\b|auth)/.test(c.name) || c.name.startsWith('POST ')
      || /^the (account|console) page/.test(c.name) || (c.name.startsWith('admin API') && !c.name.includes('OpenAPI')));
    expect(mustNotBeStored.map((c) => c.name)).toEqual(expect.arrayContaining(['/token (success)', '/token (error)', '/token/introspection', '/me', 'the sign-in page', 'the consent page', 'the sign-out page']));
    for (const c of mustNotBeStored) expect(c.headers.get('cache-control') ?? '(none)', `${c.name} (${c.status})`).toMatch(/no-store/);
  });

  it('303 after every POST that redirects, never 302/307/308 (the browser must not re-post the form)', () => {
    const posts = captured.filter((c) => c.name.startsWith('POST '));
    expect(posts.map((c) => c.name)).toEqual([
      'POST sign-in (redirect)', 'POST consent (redirect)', 'POST sign-out (redirect)',
      'POST sign out of other sessions (redirect)', 'POST console: sign out everywhere (redirect)',
    ]);
    for (const c of posts) expect(c.status, c.name).toBe(303);
  });

  it('a cancelled sign-in and a stale sign-in tab are answered with 303 too', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', state: 'c', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    })).href);
    const login = formOf(page.body, /\/login$/);
    const abortAction = new URL(/action="([^"]*\/abort)"/.exec(page.body)![1]!, page.url).href;
    const confirmAction = new URL(login.action, page.url).href.replace(/\/login$/, '/confirm');
    // The consent form posted while the sign-in step is still open: sent back to the current step.
    const stale = await agent.request(confirmAction, { form: { csrf: login.csrf, decision: 'allow' } });
    expect(stale.status).toBe(303);
    const aborted = await agent.request(abortAction, { form: { csrf: login.csrf } });
    expect(aborted.status).toBe(303);
  });

  it('no CORS on the authorization endpoint and the pages, even for an origin an app registered', async () => {
    const origin = new URL(REDIRECT).origin;
    const auth = `${server.issuer}/auth?${new URLSearchParams({ client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`;
    const attempts = [
      await fetch(auth, { headers: { origin }, redirect: 'manual' }),
      await fetch(auth, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' }, redirect: 'manual' }),
      await fetch(`${server.issuer}/auth`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.test', 'access-control-request-method': 'POST' }, redirect: 'manual' }),
      await fetch(`${server.issuer}/interaction/does-not-exist`, { headers: { origin }, redirect: 'manual' }),
      await fetch(`${server.issuer}/session/end`, { headers: { origin }, redirect: 'manual' }),
      await fetch(`${server.issuer}/session/end/confirm`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' }, redirect: 'manual' }),
    ];
    for (const res of attempts) {
      await res.arrayBuffer();
      expect(res.headers.get('access-control-allow-origin'), res.url).toBeNull();
      expect(res.headers.get('access-control-allow-credentials'), res.url).toBeNull();
    }
  });

  it('the token endpoint does not answer CORS for an origin no app registered', async () => {
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { origin: 'https://evil.example.test', 'content-type': FORM, authorization: basic(app.clientId, app.clientSecret!) },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    await res.arrayBuffer();
    expect(res.headers.get('access-control-allow-origin')).not.toBe('https://evil.example.test');
    expect(res.headers.get('access-control-allow-origin')).not.toBe('*');
  });

  describe('HSTS', () => {
    let proxied: TestServer;

    beforeAll(async () => {
      proxied = await startTestServer({ TRUST_PROXY: 'true' });
    });

    afterAll(async () => {
      await proxied?.stop();
    });

    const paths = ['/.well-known/openid-configuration', '/jwks', '/healthz', '/auth', '/no-such-page', '/session/end'];

    it('over TLS (through the trusted proxy) every response carries Strict-Transport-Security for at least a year', async () => {
      for (const path of paths) {
        const res = await fetch(`${proxied.issuer}${path}`, { headers: { 'x-forwarded-proto': 'https', accept: 'text/html' }, redirect: 'manual' });
        await res.arrayBuffer();
        const hsts = res.headers.get('strict-transport-security') ?? '';
        expect(hsts, path).toMatch(/max-age=\d+/);
        expect(Number(/max-age=(\d+)/.exec(hsts)![1]), path).toBeGreaterThanOrEqual(31_536_000);
        expect(hsts, path).toMatch(/includeSubDomains/i);
      }
      const token = await fetch(`${proxied.issuer}/token`, { method: 'POST', headers: { 'x-forwarded-proto': 'https', 'content-type': FORM }, body: 'grant_type=client_credentials' });
      await token.arrayBuffer();
      expect(token.headers.get('strict-transport-security')).toMatch(/max-age=31536000/);
    });

    it('over plain HTTP there is no Strict-Transport-Security (RFC 6797 §7.2: MUST NOT)', async () => {
      for (const path of paths) {
        const res = await fetch(`${proxied.issuer}${path}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
        await res.arrayBuffer();
        expect(res.headers.get('strict-transport-security'), path).toBeNull();
      }
    });
  });
});
