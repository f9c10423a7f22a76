// What a person reads when something goes wrong or when they are done: error pages in Gatehouse's
// own words (the provider's developer text only in the log, under the page's reference), the
// signed-out page with a way back, and the icon every page asks for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { UserAgent, type Response } from '../support/user-agent.js';
import { textOf } from '../admin/console/support.js';

const SIGNED_OUT = 'https://app.example.test/signed-out';

let server: TestServer;
/** Moved forward, then back, by the one test about the signed-out page's cookie growing old. */
const clock = { offset: 0 };
let app: App;
let person: Awaited<ReturnType<typeof createPerson>>;

beforeAll(async () => {
  server = await startTestServer({}, { now: () => Date.now() + clock.offset });
  app = await registerApp(server, { postLogoutRedirectUri: SIGNED_OUT });
  person = await createPerson(server);
});

afterAll(async () => {
  await server?.stop();
});

function headingOf(body: string): string {
  return textOf(/<h1[^>]*>([\s\S]*?)<\/h1>/.exec(body)?.[1] ?? '').trim();
}

function referenceOf(body: string): string {
  const reference = /Reference: <code>([^<]+)<\/code>/.exec(body)?.[1];
  expect(reference, 'the page gives a reference').toBeTruthy();
  return reference!;
}

/** The provider's own description of what went wrong, logged under the page's reference. */
function loggedDescription(requestId: string): string {
  const line = server.logs.find((l) => l.requestId === requestId && typeof l.description === 'string');
  expect(line, `a log line with the provider's description for ${requestId}`).toBeDefined();
  return line!.description as string;
}

/** Opens a logout confirmation for a fresh sign-in; returns its form's action and xsrf value. */
async function logoutConfirmation(agent: UserAgent, params: Record<string, string>): Promise<{ action: string; xsrf: string }> {
  const page = await agent.request(`${server.issuer}/session/end?${new URLSearchParams(params)}`);
  expect(page.status, page.body.slice(0, 300)).toBe(200);
  const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page.body);
  return { action: new URL(form![1]!, server.issuer).href, xsrf: /name="xsrf" value="([^"]+)"/.exec(form![2]!)![1]! };
}

const PKCE = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };

/** Each way an app's request can end on a page, with the words a person must read there. */
const ERROR_KINDS: Array<{ kind: string; status: number; heading: string; message: RegExp; request(agent: UserAgent): Promise<Response> }> = [
  {
    kind: 'invalid_client (an app Gatehouse does not know)',
    status: 400, heading: 'Unknown application', message: /not registered with Gatehouse/,
    request: (agent) => agent.request(`${server.issuer}/auth?${new URLSearchParams({ client_id: 'no-such-app', response_type: 'code', scope: 'openid', redirect_uri: 'https://app.example.test/callback', ...PKCE })}`),
  },
  {
    kind: 'invalid_redirect_uri (a return address the app did not register)',
    status: 400, heading: 'Unregistered return address', message: /has not registered/,
    request: async (agent) => agent.request((await authorizationRequest(app, { redirect_uri: 'https://evil.example.test/callback' })).url.href),
  },
  {
    kind: 'invalid_request (no client_id at all)',
    status: 400, heading: 'Something is wrong with this request', message: /cannot accept/,
    request: (agent) => agent.request(`${server.issuer}/auth?${new URLSearchParams({ response_type: 'code', scope: 'openid' })}`),
  },
  {
    kind: 'invalid_request (a parameter sent twice)',
    status: 400, heading: 'Something is wrong with this request', message: /cannot accept/,
    request: async (agent) => agent.request(`${(await authorizationRequest(app)).url.href}&client_id=${encodeURIComponent(app.clientId)}`),
  },
  {
    kind: 'session_not_found (resuming a sign-in this browser never started)',
    status: 400, heading: 'This sign-in has expired', message: /took too long/,
    request: (agent) => agent.request(`${server.issuer}/auth/not-a-sign-in-of-this-browser`),
  },
  {
    kind: 'a sign-out with an unregistered post_logout_redirect_uri',
    status: 400, heading: 'This sign-out request cannot be completed', message: /nothing changed/,
    request: async (agent) => {
      const { tokens } = await obtainTokens(server, app, person);
      return agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example.test/after' })}`);
    },
  },
  {
    kind: 'a sign-out with an id_token_hint that is not a token',
    status: 400, heading: 'This sign-out request cannot be completed', message: /nothing changed/,
    request: (agent) => agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: 'not-a-token' })}`),
  },
  {
    kind: 'a forged sign-out confirmation',
    status: 400, heading: 'This sign-out request cannot be completed', message: /nothing changed/,
    request: (agent) => agent.request(`${server.issuer}/session/end/confirm`, { form: { xsrf: 'guessed', logout: 'yes' } }),
  },
];

describe('error pages', () => {
  it.each(ERROR_KINDS)('$kind: says what happened in Gatehouse\'s words, never the provider\'s text', async ({ status, heading, message, request }) => {
    const res = await request(new UserAgent(server.issuer));
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('location')).toBeNull();
    expect(headingOf(res.body)).toBe(heading);
    const text = textOf(res.body);
    expect(text).toMatch(message);

    // The provider's description is for developers: in the log under this page's reference, not on the page.
    const description = loggedDescription(referenceOf(res.body));
    expect(description.length).toBeGreaterThan(3);
    expect(text.toLowerCase()).not.toContain(description.toLowerCase());
    expect(text).not.toMatch(/_(client|request|uri|grant|scope)\b|\bparameter\b/);
  });
});

describe('the signed-out page', () => {
  it('after signing out of Gatehouse, links to the account page and nowhere else', async () => {
    const { agent } = await obtainTokens(server, app, person);
    const confirm = await logoutConfirmation(agent, {});
    const done = await agent.follow(confirm.action, { form: { xsrf: confirm.xsrf, logout: 'yes' } });
    expect(done.status).toBe(200);
    expect(headingOf(done.body)).toBe('You are signed out');
    const links = [...done.body.matchAll(/<a [^>]*href="([^"]+)"[^>]*>([\s\S]*?)<\/a>/g)].map((m) => [m[1], textOf(m[2]!).trim()]);
    expect(links).toEqual([['/account', 'Go to your Gatehouse account']]);
  });

  it('after signing out of one app only, also links back to the address that app registered for it', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    // No post_logout_redirect_uri, and "Stay signed in": signed out of the app, not of Gatehouse.
    const confirm = await logoutConfirmation(agent, { id_token_hint: tokens.id_token! });
    const done = await agent.follow(confirm.action, { form: { xsrf: confirm.xsrf } });
    expect(done.status).toBe(200);
    expect(textOf(done.body)).toContain('You have signed out of Example App.');
    expect(done.body).toContain(`<a class="button primary" href="${SIGNED_OUT}">Back to Example App</a>`);
    expect(done.body).toContain('href="/account"');
  });

  it('takes the way back from the app\'s registration, never from the address', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    const confirm = await logoutConfirmation(agent, { id_token_hint: tokens.id_token! });
    await agent.follow(confirm.action, { form: { xsrf: confirm.xsrf } });
    const res = await agent.request(`${server.issuer}/session/end/success?${new URLSearchParams({ client_id: app.clientId, post_logout_redirect_uri: 'https://evil.example.test/', redirect_uri: 'https://evil.example.test/' })}`);
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('evil.example.test');
    expect(res.body).toContain(`href="${SIGNED_OUT}"`);

    // An app that registered no address to return to after sign-out gets no link.
    const quiet = await registerApp(server);
    const signedIn = await obtainTokens(server, quiet, person);
    const quietConfirm = await logoutConfirmation(signedIn.agent, { id_token_hint: signedIn.tokens.id_token! });
    const other = await signedIn.agent.follow(quietConfirm.action, { form: { xsrf: quietConfirm.xsrf } });
    expect(other.status).toBe(200);
    expect(textOf(other.body)).toContain('You have signed out of Example App.');
    expect(other.body).not.toContain('Back to');
    expect(other.body).toContain('href="/account"');
  });

  it('names no app to a browser that has not just signed out of it: known, unknown or none, the same page', async () => {
    const { client: internal } = await server.stores.clients.create({
      name: 'Payroll Internal', redirectUris: ['https://payroll.corp.example.test/callback'], postLogoutRedirectUris: ['https://payroll.corp.example.test/bye'],
    });
    const visitor = new UserAgent(server.issuer);
    const page = (query: Record<string, string>, as = visitor) => as.request(`${server.issuer}/session/end/success?${new URLSearchParams(query)}`);
    const generic = await page({});
    expect(generic.status).toBe(200);
    expect(headingOf(generic.body)).toBe('You are signed out');
    for (const clientId of [app.clientId, internal.clientId, 'no-such-app']) {
      const res = await page({ client_id: clientId });
      expect(res.status, clientId).toBe(200);
      expect(res.body, clientId).toBe(generic.body);
    }
    // A program asking (no HTML wanted) is told no more by the status.
    for (const clientId of [internal.clientId, 'no-such-app']) {
      const res = await fetch(`${server.issuer}/session/end/success?client_id=${encodeURIComponent(clientId)}`, { headers: { accept: 'application/json' } });
      expect(res.status, clientId).toBe(200);
      expect(await res.text(), clientId).not.toMatch(/Payroll|payroll\.corp|invalid_client/);
    }

    // Having signed out of one app tells a browser nothing about another.
    const { tokens, agent } = await obtainTokens(server, app, person);
    const confirm = await logoutConfirmation(agent, { id_token_hint: tokens.id_token! });
    const done = await agent.follow(confirm.action, { form: { xsrf: confirm.xsrf } });
    expect(textOf(done.body)).toContain('You have signed out of Example App.');
    for (const clientId of [internal.clientId, 'no-such-app']) {
      const res = await page({ client_id: clientId }, agent);
      expect(res.status, clientId).toBe(200);
      expect(headingOf(res.body), clientId).toBe('You are signed out');
      expect(res.body, clientId).not.toMatch(/Payroll|payroll\.corp|Example App|app\.example\.test/);
    }
  });

  it('is the generic page again once the sign-out is a few minutes old, whatever the browser kept', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    const confirm = await logoutConfirmation(agent, { id_token_hint: tokens.id_token! });
    const done = await agent.follow(confirm.action, { form: { xsrf: confirm.xsrf } });
    expect(textOf(done.body)).toContain('You have signed out of Example App.');
    const cookie = agent.setCookieHeaders.find((line) => line.startsWith('gh_signed_out='));
    expect(cookie, 'the sign-out leaves a cookie naming the app').toMatch(/; *httponly/i);
    expect(cookie).toMatch(/; *samesite=lax/i);

    clock.offset += 5 * 60_000 + 1000;
    try {
      const later = await agent.request(done.url);
      expect(later.status).toBe(200);
      expect(headingOf(later.body)).toBe('You are signed out');
      expect(later.body).not.toContain('Example App');
      expect(later.body).not.toContain(SIGNED_OUT);
    } finally {
      clock.offset = 0;
    }
  });
});

describe('the icon', () => {
  it('every page links one from its own origin, and /favicon.ico answers too, cacheable', async () => {
    const page = await new UserAgent(server.issuer).request(`${server.issuer}/no-such-page`);
    const href = /<link rel="icon" href="([^"]+)" type="image\/svg\+xml">/.exec(page.body)?.[1];
    expect(href).toBe('/assets/favicon.svg');
    for (const path of [href!, '/favicon.ico']) {
      const res = await fetch(`${server.issuer}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe('image/svg+xml');
      expect(res.headers.get('cache-control'), path).toMatch(/^public, max-age=\d+$/);
      expect(await res.text(), path).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    }
  });
});
