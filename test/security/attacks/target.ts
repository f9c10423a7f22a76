// The attack suite: each case is an attack, sent black-box over HTTP to a running Gatehouse on a
// real database, asserting the safe outcome. This file holds what every attack file shares: the
// constants, the helpers and startAttackTarget(), which each file calls in its own beforeAll.
//
// The attacks in this folder (test/security/attacks/):
//   - authorization codes: replay, another client, another redirect_uri .. codes.test.ts
//   - PKCE: missing, wrong, plain or malformed verifiers; downgrades at
//     /auth and /request ................................................ pkce.test.ts
//   - refresh tokens presented by another client; the retry window used
//     by another client, after the successor was used, or with what the
//     database keeps for a retry ........................................ refresh-tokens.test.ts
//   - forged JWT access tokens at the example API, userinfo and
//     introspection; a genuine one seconds past its exp ................. forged-jwts.test.ts
//   - CSRF on the logout confirmation and on cancelling a sign-in ....... csrf.test.ts
//   - SQL injection in the sign-in pages, the protocol endpoints and the
//     stores the CLI calls .............................................. sql-injection.test.ts
//   - oversized and malformed input: a clear 4xx, never a 5xx .......... malformed-input.test.ts
//   - security headers, no-store, 303, CORS and HSTS on every response . headers.test.ts
//   - CSRF, other people's ids, SQL injection and malformed forms on the
//     account pages (/account) .......................................... account-pages.test.ts
//   - CSRF on every admin console form, SQL injection in every console
//     search, filter, address and form field ........................... admin-console.test.ts
//   - SQL injection in the admin API: every path id, the search, audit
//     filters and cursors, every JSON field ............................ admin-api.test.ts
//   - client assertions for another server (forged Host/X-Forwarded-Host),
//     array and endpoint-URL audiences, one assertion in a burst ....... client-assertions.test.ts
//   - forged Host/X-Forwarded-*/absolute request lines at discovery, the
//     JWKS, every redirect and page; caching; health checks by IP ....... host-headers.test.ts
//   - crafted page cursors (30 February, 24:00, year 0, wrong JSON types)
//     and huge limits on every listing of the admin API, the console and
//     the account pages ................................................. listing-input.test.ts
//   - a value PostgreSQL refuses (SQLSTATE class 22) on every surface:
//     a 4xx, logged without the value ................................... database-refusals.test.ts
//   - passwords typed into the sign-in email box, the console's and the
//     admin API's searches: kept in no table and no log line ............ typed-text.test.ts
//   - loopback redirect URIs on another port, for web, public and native
//     apps, at /auth and at sign-out .................................... loopback-redirects.test.ts
//   - a thief's offline_access refresh token after the person's password
//     change and an admin's reset (API, console) ........................ offline-access.test.ts
//   - the email beyond consent: introspection (JWT, opaque, refresh, signed
//     responses), the tokens, userinfo, the claims parameter ............ introspection-privacy.test.ts
//   - claims beyond the registration or the consent (claims parameter, PAR,
//     prompt=none), machine scopes beyond the registration, grant types
//     the client is not registered for, a stolen code at another client,
//     parameters smuggled into a form POST to /auth .................... overreach.test.ts
//   - CSRF on every mailed-link form, SQL injection and malformed input in
//     the address and the token, a link used for another purpose or person mailed-links.test.ts
//
// Attacks already covered by other test files, not repeated here (this list is the whole picture):
//   - 20 parallel redemptions of one code → exactly one success ........ test/e2e/authorization-code.test.ts
//   - PKCE missing at /auth ........................................... test/e2e/authorization-code.test.ts, test/e2e/bad-input.test.ts
//   - code_challenge_method=plain at /auth .............................. test/e2e/bad-input.test.ts
//   - refresh-token reuse after rotation → invalid_grant, newest refresh
//     token and access tokens of the grant dead too ..................... test/e2e/authorization-code.test.ts, test/e2e/introspection.test.ts
//   - a retry past the window, two rotations back, and the sealed
//     successor opened only by the old token ............................ test/tokens/refresh-retry.test.ts
//   - forged JWTs at introspection: alg none, HS256 keyed with our public
//     key, attacker keys named through jwk/jku/x5u/kid, wrong typ/iss/aud test/e2e/introspection.test.ts
//   - alg none and HS256-by-guess JWTs at userinfo ...................... test/e2e/bad-input.test.ts
//   - garbage, bad-signature, other-API, ID-token and expired tokens at
//     the example API ................................................... test/examples/resource-server.test.ts
//   - session fixation (planted cookie, attacker's own valid session,
//     new id at every sign-in) ......................................... test/interaction/pages.test.ts
//   - CSRF on the login and consent forms (no token, another browser's
//     token), a guessed logout xsrf ..................................... test/interaction/pages.test.ts
//   - abort/confirm without a token, 300-character and duplicate tokens test/e2e/bad-input.test.ts
//   - an unregistered redirect_uri / post_logout_redirect_uri on another
//     host .............................................................. test/interaction/pages.test.ts, test/e2e/bad-input.test.ts
//   - every near miss of a registered redirect URI and the logout rules  test/security/redirect-uris.test.ts
//   - an open redirect through the signed-out page's link back to an app test/http/friendly-pages.test.ts
//   - 100 KB parameters, broken percent-encoding, duplicate parameters,
//     JSON/text/multipart bodies where a form is expected, NULs, broken
//     Basic headers, at every endpoint except introspection ............. test/e2e/bad-input.test.ts
//   - security headers on the sign-in page; no-store on error pages ..... test/interaction/pages.test.ts
//   - Secure/__Host- cookies behind TLS ................................. test/interaction/pages.test.ts
//   - no secret in the database or the logs ............................. test/e2e/at-rest.test.ts, test/e2e/logs.test.ts
//   - generated requests at every endpoint (no 5xx, nothing lost) ...... test/security/fuzz.test.ts
//   - account enumeration through "Forgot password?" and the sign-in link
//     form; link reuse, expiry, a changed address; mail floods per address
//     and per client address; links in logs or the audit log ............ test/recovery/
// Throttling and rate limits are tested in test/security/throttling*.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import * as client from 'openid-client';
import { expect } from 'vitest';
import { createResourceServer } from '../../../examples/resource-server/api.js';
import { createPerson, registerApp, signIn, type App } from '../../support/flows.js';
import { freePort, startTestServer, type TestServer } from '../../support/gatehouse.js';
import { UserAgent } from '../../support/user-agent.js';

export const NOTES_API = 'https://notes.example.test';
export const SCOPE = 'openid profile email offline_access notebook:read notebook:write';
export const REDIRECT = 'https://app.example.test/callback';
export const SECOND_REDIRECT = 'https://app.example.test/second-callback';
export const POST_LOGOUT = 'https://app.example.test/signed-out';
export const FORM = 'application/x-www-form-urlencoded';
export const KB = 1024;

/** SQL-injection payloads, typed into every text input (sql-injection.test.ts). */
export const SQL_INJECTION = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "admin'--",
  "'; DROP TABLE users; --",
  '"; DROP TABLE clients; --',
  "1; DELETE FROM resource_servers; --",
  "' UNION SELECT password_hash FROM users --",
  "') OR ('a'='a",
  "' OR pg_sleep(5) IS NULL --",
  "'||(SELECT pg_sleep(5))||'",
  "$$; DROP TABLE users; $$",
  "\\'; TRUNCATE users CASCADE; --",
  "'; COPY users TO '/tmp/users.csv'; --",
  "%27%20OR%201%3D1--",
  "' OR '1'='1\u0000",
];

/** What PostgreSQL, pg or knex would say if an injected string reached a query as SQL. */
export const DATABASE_ERROR = /syntax error at or near|unterminated quoted string|relation "[^"]*" does not exist|column "[^"]*" does not exist|SQLSTATE|invalid input syntax for|\bknex\b|\bpg-protocol\b/i;

/** What an injected payload would leave in the text of a statement, had it become SQL. */
export const INJECTED_SQL = /pg_sleep|drop table|delete from resource_servers|truncate|copy users|union select password_hash|'1'\s*=\s*'1/i;

/**
 * The SQL texts the server's database handle sends from now on. Values travel as bound parameters,
 * so no payload may ever show up in one: a structural proof that pg_sleep never ran, where timing
 * the answers would only guess (and flake on a busy machine).
 */
export function sqlTextsSentBy(server: TestServer): string[] {
  const seen: string[] = [];
  server.db.on('query', (query: { sql: string }) => seen.push(query.sql));
  return seen;
}

export interface Credentials { clientId: string; clientSecret?: string | undefined }
export type Person = Awaited<ReturnType<typeof createPerson>>;

/** A running Gatehouse with its apps, a person, and the example API in front of it. */
export interface AttackTarget {
  server: TestServer;
  notes: Credentials; // the API's introspection credentials
  app: App; // confidential, REDIRECT, POST_LOGOUT
  twoUris: Credentials; // confidential, REDIRECT and SECOND_REDIRECT
  otherApp: App; // another confidential app
  publicApp: App; // a public app (no secret)
  person: Person;
  api: { url: string; close(): Promise<void> };
  /** Stops the example API and Gatehouse. */
  stop(): Promise<void>;
}

/** The target the helpers below talk to: the one this test file started. */
let started: AttackTarget | undefined;

function running(): AttackTarget {
  if (!started) throw new Error('startAttackTarget() has not been called (or its target was stopped)');
  return started;
}

/**
 * Starts Gatehouse on its own database with the notes API, four apps and a person, and the example
 * API on a free port. Call it once per test file, in beforeAll, and stop() it in afterAll.
 */
export async function startAttackTarget(env: Record<string, string> = {}): Promise<AttackTarget> {
  const server = await startTestServer(env);
  try {
    const n = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notebook:read notebook:write', isDefault: true });
    const notes: Credentials = { clientId: n.clientId, clientSecret: n.clientSecret! };
    const app = await registerApp(server, { scope: SCOPE, redirectUri: REDIRECT, postLogoutRedirectUri: POST_LOGOUT });
    const otherApp = await registerApp(server, { scope: SCOPE, redirectUri: REDIRECT });
    const publicApp = await registerApp(server, { scope: SCOPE, redirectUri: REDIRECT, public: true });
    const two = await server.stores.clients.create({ name: 'Two Callbacks', redirectUris: [REDIRECT, SECOND_REDIRECT], scope: SCOPE });
    const twoUris: Credentials = { clientId: two.client.clientId, clientSecret: two.clientSecret };
    const person = await createPerson(server, { name: 'Alice Attacked' });

    const port = await freePort();
    const koa = createResourceServer({ issuer: server.issuer, audience: NOTES_API, introspection: { clientId: notes.clientId, clientSecret: notes.clientSecret! } });
    const http: Server = koa.listen(port, '127.0.0.1');
    await once(http, 'listening');
    const api = {
      url: `http://127.0.0.1:${port}`,
      close: () => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()); }),
    };

    const target: AttackTarget = {
      server, notes, app, twoUris, otherApp, publicApp, person, api,
      async stop() {
        if (started === target) started = undefined;
        await api.close();
        await server.stop();
      },
    };
    started = target;
    return target;
  } catch (error) {
    await server.stop(); // what the file's afterAll would have done: it never sees a target
    throw error;
  }
}

export const creds = (a: App): Credentials => ({ clientId: a.clientId, clientSecret: a.clientSecret });

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export interface JsonResponse { status: number; headers: Headers; body: Record<string, unknown>; text: string }

export async function asJson(res: Response): Promise<JsonResponse> {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try { body = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body, text };
}

/** A request to a client-authenticated endpoint: Basic for confidential clients, client_id for public ones. */
export async function post(path: string, caller: Credentials | undefined, params: Record<string, string>, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const form = new URLSearchParams(params);
  const all: Record<string, string> = { 'content-type': FORM, ...headers };
  if (caller?.clientSecret) all.authorization = basic(caller.clientId, caller.clientSecret);
  else if (caller) form.set('client_id', caller.clientId);
  return asJson(await fetch(`${running().server.issuer}${path}`, { method: 'POST', headers: all, body: form }));
}

export async function introspect(caller: Credentials, token: string): Promise<Record<string, unknown>> {
  const res = await post('/token/introspection', caller, { token });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

export async function userinfoStatus(accessToken: string): Promise<number> {
  const res = await fetch(`${running().server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  await res.arrayBuffer();
  return res.status;
}

export interface Issued { code: string; verifier: string; redirectUri: string; agent: UserAgent }

/** A person signs in and consents; the code comes back to `redirectUri`. */
export async function issueCode(caller: Credentials, redirectUri: string, extra: Record<string, string> = {}): Promise<Issued> {
  const { server, person } = running();
  const verifier = client.randomPKCECodeVerifier();
  const url = new URL(`${server.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: caller.clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: SCOPE,
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    ...extra,
  }).toString();
  const agent = new UserAgent(server.issuer);
  const callback = await signIn(agent, url, person);
  const code = callback.searchParams.get('code');
  expect(code, callback.href).toBeTruthy();
  return { code: code!, verifier, redirectUri, agent };
}

export function redeem(caller: Credentials, issued: Issued, overrides: Record<string, string | undefined> = {}): Promise<JsonResponse> {
  const params: Record<string, string> = { grant_type: 'authorization_code', code: issued.code, redirect_uri: issued.redirectUri, code_verifier: issued.verifier };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete params[key];
    else params[key] = value;
  }
  return post('/token', caller, params);
}

export function expectInvalidGrant(res: JsonResponse) {
  expect(res.status, res.text).toBe(400);
  expect(res.body.error, res.text).toBe('invalid_grant');
  expect(res.body.access_token).toBeUndefined();
}

/** Whether this browser has a signed-in session (prompt=none answers without a page). */
export async function isSignedIn(agent: UserAgent): Promise<boolean> {
  const { app } = running();
  const url = client.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirectUri, scope: 'openid', prompt: 'none', state: 's',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  });
  const page = await agent.follow(url.href);
  const back = new URL(page.leftTo!);
  if (back.searchParams.get('error') === 'login_required') return false;
  if (back.searchParams.get('code') || back.searchParams.get('error') === 'consent_required') return true;
  throw new Error(`unexpected answer to prompt=none: ${back.href}`);
}

/** A 4xx HTML page with a heading, and nothing for developers only. */
export function expectErrorPage(res: { status: number; headers: Headers; body: string }, status: number | number[]) {
  expect(Array.isArray(status) ? status : [status], `${res.status}: ${res.body.slice(0, 300)}`).toContain(res.status);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.body).toMatch(/<h1[^>]*>[^<]+<\/h1>/);
  expect(res.body).not.toMatch(/\n\s+at \S|node_modules|\b(TypeError|RangeError|SyntaxError|error):/i);
}

export async function rowCounts(): Promise<Record<string, number>> {
  const { server } = running();
  const counts: Record<string, number> = {};
  for (const table of ['users', 'clients', 'resource_servers']) {
    const [row] = await server.testDb.db(table).count<Array<{ count: string | number }>>({ count: '*' });
    counts[table] = Number(row!.count);
  }
  return counts;
}
