// What the server writes to its log after a busy morning: successful and failed sign-ins, token
// requests good and bad, a stolen refresh token replayed, bearer tokens and cookies on requests.
// The log must say what happened (events, request ids) without ever holding a credential.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { formOf, UserAgent, type Response as AgentResponse } from '../support/user-agent.js';

const API = 'https://api.example.test';
const POST_LOGOUT = 'https://app.example.test/signed-out';
const WRONG_PASSWORD = 'not my password at all, really';

let server: TestServer;

/** Every secret value sent or received, by what it is. */
const secrets = new Map<string, string>();
/** The X-Request-Id of every response the tests received. */
const responseIds: Array<{ requestId: string | null; what: string }> = [];
/** Interaction uids: they are in the page addresses by design (see the cookie check below). */
const interactionUids = new Set<string>();

function remember(label: string, value: string | undefined | null): void {
  expect(value, `${label} was not captured`).toBeTruthy();
  if ([...secrets.values()].includes(value!)) return;
  secrets.set(secrets.has(label) ? `${label} #${secrets.size}` : label, value!);
}

/** A browser that notes every response's request id and every credential it sends or receives. */
class RecordingAgent extends UserAgent {
  override async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<AgentResponse> {
    const res = await super.request(url, init);
    responseIds.push({ requestId: res.headers.get('x-request-id'), what: `${init.method ?? (init.form ? 'POST' : 'GET')} ${new URL(url).pathname}` });
    const path = /\/(?:interaction|auth)\/([^/?]+)/.exec(new URL(url).pathname);
    if (path) interactionUids.add(path[1]!);
    const location = res.headers.get('location');
    const next = location && /\/(?:interaction|auth)\/([^/?]+)/.exec(location);
    if (next) interactionUids.add(next[1]!);
    if (init.form?.password) remember(`password sent (${init.form.password.slice(0, 3)}…)`, init.form.password);
    if (init.form?.csrf) remember(`csrf token ${init.form.csrf.slice(0, 6)}…`, init.form.csrf);
    return res;
  }
}

/** openid-client's requests, recorded the same way. */
function recordFetches(config: client.Configuration, who: string): void {
  config[client.customFetch] = async (url, options) => {
    const res = await fetch(url, options as RequestInit);
    responseIds.push({ requestId: res.headers.get('x-request-id'), what: `${who} ${options.method} ${new URL(url).pathname}` });
    const authorization = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).get('authorization');
    if (authorization) remember(`Authorization header sent by ${who} (${authorization.slice(0, 12)}…)`, authorization);
    return res;
  };
}

/** Plain HTTP, recorded. */
async function send(url: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  responseIds.push({ requestId: res.headers.get('x-request-id'), what: `${init.method ?? 'GET'} ${new URL(url).pathname}` });
  if (init.headers?.authorization) remember(`Authorization header (${init.headers.authorization.slice(0, 12)}…)`, init.headers.authorization);
  return res;
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

function rememberCookies(agent: UserAgent, who: string): void {
  const values = new Map<string, string>();
  for (const [name, value] of agent.cookies) values.set(`${who} cookie ${name}`, value);
  for (const line of agent.setCookieHeaders) {
    const pair = line.split(';')[0]!;
    const name = pair.slice(0, pair.indexOf('='));
    const value = pair.slice(pair.indexOf('=') + 1);
    if (value) values.set(`${who} Set-Cookie ${name}=${value.slice(0, 6)}…`, value);
  }
  for (const [label, value] of values) {
    // The interaction and resume cookies hold the interaction uid, which is also the address of the
    // sign-in page (/interaction/:uid, /auth/:uid) and so in every request line's path. Alone it is
    // no credential: both cookies are signed, and the .sig values are checked like everything else.
    if (interactionUids.has(value)) continue;
    remember(label, value);
  }
}

let app: App;
let person: Awaited<ReturnType<typeof createPerson>>;
let wrongSecretResponse: { status: number; body: Record<string, unknown> };
let reuseResponse: unknown;
let failedSignIn: AgentResponse;
let unknownEmailSignIn: AgentResponse;
let echoed: Response;

beforeAll(async () => {
  server = await startTestServer({ LOG_LEVEL: 'debug' });
  const api = await server.stores.resources.create({ identifier: API, scope: 'read write', isDefault: true });
  remember('API introspection secret', api.clientSecret);
  app = await registerApp(server, { scope: 'openid profile email offline_access read', postLogoutRedirectUri: POST_LOGOUT });
  remember('app client secret', app.clientSecret);
  recordFetches(app.config, 'app');
  person = await createPerson(server, { name: 'Katherine Johnson' });
  remember('password', person.password);

  // A sign-in with a wrong password, then an unknown email, then the right one, in one browser.
  const agent = new RecordingAgent(server.issuer);
  const request = await authorizationRequest(app);
  remember('PKCE code verifier', request.codeVerifier);
  let page = await agent.follow(request.url.href);
  let login = formOf(page.body, /\/login$/);
  failedSignIn = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: WRONG_PASSWORD } });
  expect(failedSignIn.status).toBe(401);
  login = formOf(failedSignIn.body, /\/login$/);
  unknownEmailSignIn = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: `nobody.${Date.now()}@example.test`, password: WRONG_PASSWORD } });
  expect(unknownEmailSignIn.status).toBe(401);
  login = formOf(unknownEmailSignIn.body, /\/login$/);
  page = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
  const consent = formOf(page.body, /\/confirm$/);
  page = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
  const callback = new URL(page.leftTo!);
  remember('authorization code', callback.searchParams.get('code'));

  const tokens = await client.authorizationCodeGrant(app.config, callback, {
    pkceCodeVerifier: request.codeVerifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  });
  remember('access token', tokens.access_token);
  remember('refresh token', tokens.refresh_token);
  remember('ID token', tokens.id_token);

  // Userinfo with the bearer token, through openid-client and by hand (with cookies along too).
  await client.fetchUserInfo(app.config, tokens.access_token, person.id);
  const me = await send(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}`, cookie: agent.cookieHeader() } });
  expect(me.status).toBe(200);

  // Refresh, then retry the old refresh token (within the window: the same successor back), then
  // go on with the successor and replay the old one: reuse detection.
  const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
  remember('rotated refresh token', refreshed.refresh_token);
  remember('refreshed access token', refreshed.access_token);
  const retried = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
  remember('access token of a forgiven retry', retried.access_token);
  const newest = await client.refreshTokenGrant(app.config, refreshed.refresh_token!);
  remember('newest refresh token', newest.refresh_token);
  remember('newest access token', newest.access_token);
  reuseResponse = await client.refreshTokenGrant(app.config, tokens.refresh_token!).catch((error: unknown) => error);

  // A token request with a wrong client secret, as Basic and as a form field.
  const wrongSecret = 'this-is-not-the-client-secret-0123456789';
  remember('wrong client secret', wrongSecret);
  const wrong = await send(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(app.clientId, wrongSecret) },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token! }),
  });
  wrongSecretResponse = { status: wrong.status, body: (await wrong.json()) as Record<string, unknown> };
  await send(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, client_id: app.clientId, client_secret: wrongSecret, code_verifier: request.codeVerifier, redirect_uri: app.redirectUri }),
  });

  // A machine client's token, and its revocation.
  const { client: machine, clientSecret: machineSecret } = await server.stores.clients.create({ name: 'Report job', clientCredentials: true, scope: 'read' });
  remember('machine client secret', machineSecret);
  const machineConfig = await client.discovery(new URL(server.issuer), machine.clientId, machineSecret, undefined, { execute: [client.allowInsecureRequests] });
  recordFetches(machineConfig, 'machine');
  const machineTokens = await client.clientCredentialsGrant(machineConfig, { scope: 'read', resource: API });
  remember('client_credentials access token', machineTokens.access_token);
  await send(`${server.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(app.clientId, app.clientSecret!) },
    body: new URLSearchParams({ token: refreshed.refresh_token!, token_type_hint: 'refresh_token' }),
  });

  // Bearer tokens where they do not belong, and a forged one at userinfo.
  await send(`${server.issuer}/healthz`, { headers: { authorization: `Bearer ${refreshed.access_token}`, cookie: agent.cookieHeader() } });
  await send(`${server.issuer}/no-such-page`, { headers: { authorization: `Bearer ${tokens.id_token}`, cookie: agent.cookieHeader(), accept: 'application/json' } });
  const forged = 'opaque-looking-bearer-value-that-is-not-a-token-123456';
  remember('forged bearer', forged);
  await send(`${server.issuer}/me`, { headers: { authorization: `Bearer ${forged}` } });

  // RP-initiated logout: the ID token travels in the query string.
  const logout = await agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT })}`);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(logout.body)?.[1];
  remember('logout xsrf', xsrf);
  await agent.request(`${server.issuer}/session/end/confirm`, { form: { xsrf: xsrf!, logout: 'yes' } });

  rememberCookies(agent, 'browser');

  // A caller's request id is kept.
  echoed = await send(`${server.issuer}/healthz`, { headers: { 'x-request-id': 'abcdef123456' } });
});

afterAll(async () => {
  await server?.stop();
});

describe('the log', () => {
  it('was written at debug level and has plenty to say', () => {
    expect(server.rawLogs.length).toBeGreaterThan(40);
    expect(server.logs.some((line) => line.level === 20)).toBe(true);
  });

  it('holds no token, code, password, cookie value, client secret or Authorization header value', () => {
    expect(secrets.size).toBeGreaterThan(20);
    const leaks: string[] = [];
    for (const [label, value] of secrets) {
      expect(value.length, `${label} is too short to search for`).toBeGreaterThanOrEqual(8);
      for (const line of server.rawLogs) {
        if (line.includes(value)) leaks.push(`${label}: ${line.slice(0, 300)}`);
      }
      // A JWT's signature alone is as good as a leak of the token to anyone who has seen its claims.
      const signature = value.split('.').length === 3 ? value.split('.')[2]! : undefined;
      if (signature && signature.length >= 16) {
        for (const line of server.rawLogs) if (line.includes(signature)) leaks.push(`${label} (signature): ${line.slice(0, 300)}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('has a request line with a request id for every request', () => {
    expect(responseIds.length).toBeGreaterThan(20);
    const requestLines = server.logs.filter((line) => line.msg === 'request');
    for (const line of requestLines) expect(line.requestId, JSON.stringify(line)).toEqual(expect.any(String));
    const logged = new Set(requestLines.map((line) => line.requestId));
    for (const { requestId, what } of responseIds) {
      expect(requestId, `${what} answered without X-Request-Id`).toBeTruthy();
      expect(logged.has(requestId), `${what} (${requestId}) has no request line`).toBe(true);
    }
    // Request lines name the path only: no query strings.
    for (const line of requestLines) expect(String(line.path)).not.toContain('?');
  });

  it('echoes and logs a caller-supplied X-Request-Id', () => {
    expect(echoed.status).toBe(200);
    expect(echoed.headers.get('x-request-id')).toBe('abcdef123456');
    expect(server.logs).toContainEqual(expect.objectContaining({ msg: 'request', requestId: 'abcdef123456', path: '/healthz', status: 200 }));
  });

  it('records failed sign-ins with their reason, and successful ones', () => {
    const failed = server.logs.filter((line) => line.event === 'sign_in.failed');
    expect(failed).toContainEqual(expect.objectContaining({ reason: 'wrong_password', requestId: failedSignIn.headers.get('x-request-id') }));
    expect(failed).toContainEqual(expect.objectContaining({ reason: 'unknown_email', requestId: unknownEmailSignIn.headers.get('x-request-id') }));
    expect(server.logs).toContainEqual(expect.objectContaining({ event: 'sign_in.succeeded', accountId: person.id }));
  });

  it('records a refresh token presented again as token.reuse_detected', () => {
    expect(reuseResponse).toMatchObject({ error: 'invalid_grant' });
    expect(server.logs).toContainEqual(expect.objectContaining({ event: 'token.reuse_detected', grantType: 'refresh_token', clientId: app.clientId }));
  });

  it('records a refresh retried within the window as refresh_token.retry_forgiven, with ids only', () => {
    expect(server.logs).toContainEqual(expect.objectContaining({ event: 'refresh_token.retry_forgiven', clientId: app.clientId, accountId: person.id }));
  });

  it('records a wrong client secret as a refused token request', () => {
    expect(wrongSecretResponse.status).toBe(401);
    expect(wrongSecretResponse.body.error).toBe('invalid_client');
    expect(server.logs.some((line) => line.msg === 'request' && line.path === '/token' && line.status === 401)).toBe(true);
  });
});
