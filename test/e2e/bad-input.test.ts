// Every endpoint Gatehouse serves, fed what a fuzzer, a confused developer or an attacker would
// send: missing and garbage parameters, oversized values, broken percent-encoding, duplicates,
// the wrong body type, broken credentials. Each must get a clear 4xx in the right shape (OAuth
// error JSON for programs, a page for people), never a 5xx and never a stack trace; and nothing
// already stored may be harmed.
import net from 'node:net';
import { createHmac } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { formOf, UserAgent } from '../support/user-agent.js';

const API = 'https://api.example.test';
const POST_LOGOUT = 'https://app.example.test/signed-out';
const KB = 1024;

interface Fixture {
  issuer: string;
  app: App;
  machine: { clientId: string; clientSecret: string };
  personId: string;
  accessToken: string;
  idToken: string;
  /** An open sign-in page: its uid, its form token and the browser's cookies. */
  interaction: { uid: string; csrf: string; cookie: string };
}

/**
 * - oauth: a 4xx with `{ error, error_description? }` JSON (endpoints for programs)
 * - page: a 4xx HTML page with a heading (endpoints for people)
 * - app-error: a redirect back to the app's registered redirect URI carrying `error` (RFC 6749 §4.1.2.1)
 * - http-4xx: any 4xx, e.g. Node refusing a request line or headers that are too large
 * - fine: the endpoint has no use for the input and answers normally (2xx/3xx)
 */
type Outcome = 'oauth' | 'page' | 'app-error' | 'http-4xx' | 'fine';

interface Case {
  name: string;
  method?: 'GET' | 'POST';
  /** Path and raw query, sent as written (broken percent-encoding included). */
  path: (f: Fixture) => string;
  headers?: (f: Fixture) => Record<string, string>;
  body?: (f: Fixture) => string;
  expect: Outcome | Outcome[];
  status?: number | number[];
  error?: string | string[];
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}
const FORM = 'application/x-www-form-urlencoded';
const appAuth = (f: Fixture) => ({ authorization: basic(f.app.clientId, f.app.clientSecret!), 'content-type': FORM });
const machineAuth = (f: Fixture) => ({ authorization: basic(f.machine.clientId, f.machine.clientSecret), 'content-type': FORM });
const browser = (f: Fixture) => ({ cookie: f.interaction.cookie, 'content-type': FORM, accept: 'text/html' });
const qs = (params: Record<string, string>) => new URLSearchParams(params).toString();
const big = (size: number) => 'A'.repeat(size);

/** The authorization request of the test app, minus or plus whatever the case needs. */
function authParams(f: Fixture, extra: Record<string, string> = {}): Record<string, string> {
  return {
    client_id: f.app.clientId,
    redirect_uri: f.app.redirectUri,
    response_type: 'code',
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    state: 'bad-input-state',
    ...extra,
  };
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A JWT access token's claims, unsigned (alg none) or signed by someone who is not Gatehouse. */
function forgedJwt(f: Fixture, alg: 'none' | 'HS256', signature?: string): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url({ alg, typ: 'at+jwt' });
  const payload = b64url({
    iss: f.issuer, sub: f.personId, aud: [API, `${f.issuer}/me`], client_id: f.app.clientId,
    scope: 'openid profile email', iat: now, exp: now + 600, jti: 'forged-jti-0001',
  });
  if (alg === 'none') return `${header}.${payload}.${signature ?? ''}`;
  return `${header}.${payload}.${createHmac('sha256', 'guessed-secret').update(`${header}.${payload}`).digest('base64url')}`;
}

const BROKEN_BASIC = [
  ['not base64', 'Basic !!!not-base64!!!'],
  ['no colon', `Basic ${Buffer.from('no-colon-here').toString('base64')}`],
  ['only a colon', `Basic ${Buffer.from(':').toString('base64')}`],
  ['broken percent-encoding', `Basic ${Buffer.from('%zz:%E0%A4%A').toString('base64')}`],
  ['no credentials', 'Basic'],
  ['10 KB', `Basic ${Buffer.from(`${big(5 * KB)}:${big(5 * KB)}`).toString('base64').slice(0, 10 * KB)}`],
] as const;

const cases: Case[] = [
  // Discovery and JWKS: public documents that take no input.
  { name: 'discovery with garbage, broken and duplicate parameters', path: () => '/.well-known/openid-configuration?x=%zz&y=%E0%A4%A&x=1&x=2', expect: 'fine', status: 200 },
  { name: 'discovery with a 100 KB parameter', path: () => `/.well-known/openid-configuration?p=${big(100 * KB)}`, expect: ['fine', 'http-4xx'] },
  { name: 'discovery by POST with JSON', method: 'POST', path: () => '/.well-known/openid-configuration', headers: () => ({ 'content-type': 'application/json', accept: 'application/json' }), body: () => '{"a":1}', expect: 'http-4xx' },
  { name: 'jwks with garbage parameters', path: () => '/jwks?%=%&a=%E0%A4%A&a=b', expect: 'fine', status: 200 },
  { name: 'jwks by POST', method: 'POST', path: () => '/jwks', headers: () => ({ 'content-type': FORM, accept: 'application/json' }), body: () => 'keys=1', expect: 'http-4xx' },

  // The authorization endpoint: a page when the app cannot be trusted with the answer, else the app's redirect.
  { name: '/auth without parameters', path: () => '/auth', expect: 'page', status: 400 },
  { name: '/auth with an unknown client_id', path: (f) => `/auth?${qs({ ...authParams(f), client_id: 'no-such-client' })}`, expect: 'page', status: 400 },
  { name: '/auth with broken percent-encoding', path: () => '/auth?client_id=%zz%&redirect_uri=%E0%A4%A&response_type=%&scope=openid', expect: 'page', status: 400 },
  { name: '/auth with a duplicate client_id', path: (f) => `/auth?${qs(authParams(f))}&client_id=${f.app.clientId}`, expect: 'page', status: 400 },
  { name: '/auth with an unregistered redirect_uri', path: (f) => `/auth?${qs(authParams(f, { redirect_uri: 'https://evil.example.test/cb' }))}`, expect: 'page', status: 400 },
  { name: '/auth with a garbage redirect_uri', path: (f) => `/auth?${qs(authParams(f, { redirect_uri: 'not a url at all' }))}`, expect: 'page', status: 400 },
  { name: '/auth with a duplicate state', path: (f) => `/auth?${qs(authParams(f))}&state=other`, expect: ['app-error', 'page'] },
  { name: '/auth with response_type=token', path: (f) => `/auth?${qs(authParams(f, { response_type: 'token' }))}`, expect: 'app-error', error: 'unsupported_response_type' },
  { name: '/auth with an unknown response_type', path: (f) => `/auth?${qs(authParams(f, { response_type: 'garbage' }))}`, expect: 'app-error', error: 'unsupported_response_type' },
  { name: '/auth without PKCE', path: (f) => { const p = authParams(f); delete p.code_challenge; delete p.code_challenge_method; return `/auth?${qs(p)}`; }, expect: 'app-error', error: 'invalid_request' },
  { name: '/auth with code_challenge_method=plain', path: (f) => `/auth?${qs(authParams(f, { code_challenge_method: 'plain' }))}`, expect: 'app-error', error: 'invalid_request' },
  { name: '/auth with a NUL in state and nonce', path: (f) => `/auth?${qs(authParams(f))}`.replace('state=bad-input-state', 'state=a%00b&nonce=%00'), expect: ['app-error', 'page'] },
  { name: '/auth with a NUL in client_id', path: (f) => `/auth?${qs(authParams(f))}`.replace(/client_id=[^&]+/, 'client_id=a%00b'), expect: 'page', status: 400 },
  { name: '/auth with a NUL in login_hint', path: (f) => `/auth?${qs(authParams(f))}&login_hint=a%00%40example.test`, expect: ['app-error', 'page'] },
  { name: '/auth with a NUL in resource', path: (f) => `/auth?${qs(authParams(f))}&resource=https%3A%2F%2Fapi.example.test%2F%00`, expect: ['app-error', 'page'] },
  { name: '/auth with a lone surrogate in login_hint', path: (f) => `/auth?${qs(authParams(f))}&login_hint=%ED%A0%80`, expect: ['app-error', 'page', 'fine'] },
  // The claims parameter is not enabled, so oidc-provider ignores it and the sign-in goes ahead.
  { name: '/auth with a claims parameter that is not JSON', path: (f) => `/auth?${qs(authParams(f, { claims: '{"userinfo":' }))}`, expect: ['app-error', 'fine'] },
  { name: '/auth with claims JSON containing NUL keys', path: (f) => `/auth?${qs(authParams(f, { claims: '{"userinfo":{"\\u0000":null}}' }))}`, expect: ['app-error', 'page', 'fine'] },
  { name: '/auth with a garbage request object', path: (f) => `/auth?${qs(authParams(f, { request: 'a.b.c' }))}`, expect: 'app-error' },
  { name: '/auth with a garbage request_uri', path: (f) => `/auth?${qs(authParams(f, { request_uri: 'urn:ietf:params:oauth:request_uri:garbage' }))}`, expect: ['app-error', 'page'] },
  { name: '/auth with an unknown resource', path: (f) => `/auth?${qs(authParams(f, { resource: 'https://unknown.example.test' }))}`, expect: 'app-error', error: 'invalid_target' },
  { name: '/auth with a resource that is not a URI', path: (f) => `/auth?${qs(authParams(f, { resource: 'not a uri' }))}`, expect: 'app-error', error: 'invalid_target' },
  { name: '/auth with a garbage prompt and max_age', path: (f) => `/auth?${qs(authParams(f, { prompt: 'garbage', max_age: '-1x' }))}`, expect: 'app-error', error: 'invalid_request' },
  { name: '/auth with a 100 KB parameter', path: (f) => `/auth?${qs(authParams(f, { state: big(100 * KB) }))}`, expect: 'http-4xx' },
  // Each parameter is held to a length before oidc-provider stores the request (src/http/authorization-parameters.ts),
  // with a page: the over-long value may be the redirect_uri, so nothing goes to the app.
  { name: '/auth with a 12 KB state', path: (f) => `/auth?${qs(authParams(f, { state: big(12 * KB) }))}`, expect: ['page', 'http-4xx'], status: [400, 431] },
  { name: '/auth with a 3 KB state', path: (f) => `/auth?${qs(authParams(f, { state: big(3 * KB) }))}`, expect: 'page', status: 400 },
  { name: '/auth with a 2 KB nonce', path: (f) => `/auth?${qs(authParams(f, { nonce: big(2 * KB) }))}`, expect: 'page', status: 400 },
  { name: '/auth with a 3 KB redirect_uri', path: (f) => `/auth?${qs(authParams(f, { redirect_uri: `${f.app.redirectUri}?${big(3 * KB)}` }))}`, expect: 'page', status: 400 },
  { name: '/auth by POST with JSON', method: 'POST', path: () => '/auth', headers: () => ({ 'content-type': 'application/json', accept: 'text/html' }), body: () => '{"client_id":"x"}', expect: ['page', 'http-4xx'] },
  { name: '/auth/:uid (resume) with broken percent-encoding', path: () => '/auth/%E0%A4%A', expect: 'page', status: 400 },
  { name: '/auth/:uid (resume) for an unknown uid', path: () => '/auth/does-not-exist', expect: 'page', status: 400 },
  { name: '/auth/:uid (resume) with garbage cookies', path: () => '/auth/does-not-exist', headers: () => ({ cookie: 'gh_resume=%zz; gh_resume.sig=%%; gh_session=x' }), expect: 'page', status: 400 },

  // The token endpoint.
  { name: '/token with no body and no client', method: 'POST', path: () => '/token', expect: 'oauth', status: [400, 401] },
  { name: '/token with an unknown grant_type', method: 'POST', path: () => '/token', headers: appAuth, body: () => 'grant_type=garbage', expect: 'oauth', status: 400, error: 'unsupported_grant_type' },
  { name: '/token without grant_type', method: 'POST', path: () => '/token', headers: appAuth, body: () => 'code=abc', expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token with a duplicate grant_type', method: 'POST', path: () => '/token', headers: appAuth, body: () => 'grant_type=refresh_token&grant_type=refresh_token&refresh_token=x', expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token with a garbage code', method: 'POST', path: () => '/token', headers: appAuth, body: (f) => qs({ grant_type: 'authorization_code', code: 'garbage', redirect_uri: f.app.redirectUri, code_verifier: big(43) }), expect: 'oauth', status: 400, error: 'invalid_grant' },
  { name: '/token without code', method: 'POST', path: () => '/token', headers: appAuth, body: (f) => qs({ grant_type: 'authorization_code', redirect_uri: f.app.redirectUri }), expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token with broken percent-encoding', method: 'POST', path: () => '/token', headers: appAuth, body: () => 'grant_type=authorization_code&code=%zz%&redirect_uri=%E0%A4%A&code_verifier=%', expect: 'oauth', status: 400 },
  { name: '/token with a NUL in the code', method: 'POST', path: () => '/token', headers: appAuth, body: (f) => `grant_type=authorization_code&code=a%00b&redirect_uri=${encodeURIComponent(f.app.redirectUri)}&code_verifier=${big(43)}`, expect: 'oauth', status: 400 },
  { name: '/token with a 10 KB refresh token', method: 'POST', path: () => '/token', headers: appAuth, body: () => qs({ grant_type: 'refresh_token', refresh_token: big(10 * KB) }), expect: 'oauth', status: 400, error: 'invalid_grant' },
  { name: '/token with a 100 KB parameter', method: 'POST', path: () => '/token', headers: appAuth, body: () => qs({ grant_type: 'refresh_token', refresh_token: big(100 * KB) }), expect: ['oauth', 'http-4xx'] },
  { name: '/token with a JSON body', method: 'POST', path: () => '/token', headers: (f) => ({ ...appAuth(f), 'content-type': 'application/json' }), body: () => '{"grant_type":"client_credentials"}', expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token with a text/plain body', method: 'POST', path: () => '/token', headers: (f) => ({ ...appAuth(f), 'content-type': 'text/plain' }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: 400 },
  { name: '/token with a multipart body', method: 'POST', path: () => '/token', headers: (f) => ({ ...appAuth(f), 'content-type': 'multipart/form-data; boundary=xyz' }), body: () => '--xyz\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--xyz--\r\n', expect: 'oauth', status: 400 },
  { name: '/token with an unknown charset', method: 'POST', path: () => '/token', headers: (f) => ({ ...appAuth(f), 'content-type': `${FORM}; charset=no-such-charset` }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: [400, 415] },
  { name: '/token with a gzip-encoded form', method: 'POST', path: () => '/token', headers: (f) => ({ ...appAuth(f), 'content-encoding': 'gzip' }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token/introspection with bracketed and dotted names (read as oidc-provider reads them: no token)', method: 'POST', path: () => '/token/introspection', headers: appAuth, body: () => 'token[a]=x&token.b=y', expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token with a JSON body that is not JSON', method: 'POST', path: () => '/token', headers: (f) => ({ ...appAuth(f), 'content-type': 'application/json' }), body: () => '{"grant_type":', expect: 'oauth', status: 400 },
  ...BROKEN_BASIC.map(([what, header]): Case => ({
    name: `/token with a malformed Basic header (${what})`, method: 'POST', path: () => '/token',
    headers: () => ({ authorization: header, 'content-type': FORM }), body: () => 'grant_type=client_credentials',
    expect: 'oauth', status: [400, 401], error: ['invalid_request', 'invalid_client'],
  })),
  { name: '/token with a Bearer header instead of client credentials', method: 'POST', path: () => '/token', headers: (f) => ({ authorization: `Bearer ${f.accessToken}`, 'content-type': FORM }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: [400, 401] },
  { name: '/token with Basic and client_secret_post together', method: 'POST', path: () => '/token', headers: appAuth, body: (f) => qs({ grant_type: 'refresh_token', refresh_token: 'x', client_id: f.app.clientId, client_secret: f.app.clientSecret! }), expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token with an unknown client in Basic', method: 'POST', path: () => '/token', headers: () => ({ authorization: basic('no-such-client', 'secret'), 'content-type': FORM }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: 401, error: 'invalid_client' },
  { name: '/token with a NUL in client_id (client_secret_post)', method: 'POST', path: () => '/token', headers: () => ({ 'content-type': FORM }), body: () => 'grant_type=client_credentials&client_id=a%00b&client_secret=x', expect: 'oauth', status: [400, 401] },
  { name: '/token with a NUL in the Basic client id', method: 'POST', path: () => '/token', headers: () => ({ authorization: basic('a\u0000b', 'x'), 'content-type': FORM }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: [400, 401] },
  { name: '/token with a NUL in the client secret', method: 'POST', path: () => '/token', headers: (f) => ({ authorization: basic(f.machine.clientId, 'a\u0000b'), 'content-type': FORM }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: [400, 401], error: ['invalid_request', 'invalid_client'] },
  { name: '/token client_credentials with a NUL in resource', method: 'POST', path: () => '/token', headers: machineAuth, body: () => `grant_type=client_credentials&scope=read&resource=${encodeURIComponent('https://api.example.test/\u0000')}`, expect: 'oauth', status: 400 },
  { name: '/token with a NUL in the refresh token', method: 'POST', path: () => '/token', headers: appAuth, body: () => 'grant_type=refresh_token&refresh_token=a%00b', expect: 'oauth', status: 400, error: 'invalid_grant' },
  { name: '/token with a 10 KB client secret', method: 'POST', path: () => '/token', headers: (f) => ({ authorization: basic(f.machine.clientId, big(10 * KB)), 'content-type': FORM }), body: () => 'grant_type=client_credentials', expect: 'oauth', status: 401, error: 'invalid_client' },
  { name: '/token client_credentials for an app not registered for it', method: 'POST', path: () => '/token', headers: appAuth, body: () => 'grant_type=client_credentials&scope=read', expect: 'oauth', status: 400, error: ['unauthorized_client', 'invalid_request'] },
  { name: '/token client_credentials with a resource that is not a URI', method: 'POST', path: () => '/token', headers: machineAuth, body: () => qs({ grant_type: 'client_credentials', scope: 'read', resource: 'not a uri' }), expect: 'oauth', status: 400, error: 'invalid_target' },
  { name: '/token client_credentials with an unknown resource', method: 'POST', path: () => '/token', headers: machineAuth, body: () => qs({ grant_type: 'client_credentials', scope: 'read', resource: 'https://unknown.example.test' }), expect: 'oauth', status: 400, error: 'invalid_target' },
  { name: '/token client_credentials with two resources', method: 'POST', path: () => '/token', headers: machineAuth, body: () => `grant_type=client_credentials&scope=read&resource=${encodeURIComponent(API)}&resource=${encodeURIComponent('https://other.example.test')}`, expect: 'oauth', status: 400 },
  { name: '/token client_credentials with a garbage scope', method: 'POST', path: () => '/token', headers: machineAuth, body: () => qs({ grant_type: 'client_credentials', scope: 'admin "quoted" \\ %00' }), expect: 'oauth', status: 400, error: 'invalid_scope' },
  { name: '/token by GET', path: () => '/token?grant_type=client_credentials', headers: () => ({ accept: 'application/json' }), expect: 'http-4xx' },

  // Userinfo.
  { name: '/me without a token', path: () => '/me', expect: 'oauth', status: [400, 401], error: ['invalid_token', 'invalid_request'] },
  { name: '/me with a garbage bearer token', path: () => '/me', headers: () => ({ authorization: 'Bearer garbage' }), expect: 'oauth', status: 401, error: 'invalid_token' },
  { name: '/me with a 10 KB bearer token', path: () => '/me', headers: () => ({ authorization: `Bearer ${big(10 * KB)}` }), expect: 'oauth', status: 401, error: 'invalid_token' },
  { name: '/me with a 10 KB JWT-shaped bearer token', path: () => '/me', headers: () => ({ authorization: `Bearer ${big(4 * KB)}.${big(4 * KB)}.${big(2 * KB)}` }), expect: 'oauth', status: 401, error: 'invalid_token' },
  { name: '/me with an alg none JWT', path: () => '/me', headers: (f) => ({ authorization: `Bearer ${forgedJwt(f, 'none')}` }), expect: 'oauth', status: 401, error: 'invalid_token' },
  { name: '/me with an alg none JWT carrying a signature', path: () => '/me', headers: (f) => ({ authorization: `Bearer ${forgedJwt(f, 'none', 'c2lnbmF0dXJl')}` }), expect: 'oauth', status: 401, error: 'invalid_token' },
  { name: '/me with an HS256 JWT signed by a guess', path: () => '/me', headers: (f) => ({ authorization: `Bearer ${forgedJwt(f, 'HS256')}` }), expect: 'oauth', status: 401, error: 'invalid_token' },
  { name: '/me with a real token whose signature was changed', path: () => '/me', headers: (f) => ({ authorization: `Bearer ${f.accessToken.slice(0, -4)}AAAA` }), expect: 'oauth', status: 401, error: 'invalid_token' },
  { name: '/me with an empty Bearer', path: () => '/me', headers: () => ({ authorization: 'Bearer ' }), expect: 'oauth', status: [400, 401] },
  { name: '/me with a Basic header', path: () => '/me', headers: (f) => ({ authorization: basic(f.app.clientId, f.app.clientSecret!) }), expect: 'oauth', status: [400, 401] },
  { name: '/me with spaces in the bearer token', path: () => '/me', headers: () => ({ authorization: 'Bearer a b c' }), expect: 'oauth', status: [400, 401] },
  { name: '/me with a token in the header and the query', path: (f) => `/me?access_token=${f.accessToken}`, headers: (f) => ({ authorization: `Bearer ${f.accessToken}` }), expect: 'oauth', status: [400, 401], error: ['invalid_request', 'invalid_token'] },
  { name: '/me by POST with a JSON body', method: 'POST', path: () => '/me', headers: () => ({ 'content-type': 'application/json' }), body: () => '{"access_token":"x"}', expect: 'oauth', status: [400, 401] },
  { name: '/me by POST with duplicate access_token', method: 'POST', path: () => '/me', headers: () => ({ 'content-type': FORM }), body: () => 'access_token=a&access_token=b', expect: 'oauth', status: [400, 401] },
  { name: '/me by POST with broken percent-encoding', method: 'POST', path: () => '/me', headers: () => ({ 'content-type': FORM }), body: () => 'access_token=%zz%E0%A4%A', expect: 'oauth', status: [400, 401] },

  // Revocation. RFC 7009 §2.2: an invalid token is answered with 200, so as not to be an oracle.
  { name: '/token/revocation with no client', method: 'POST', path: () => '/token/revocation', headers: () => ({ 'content-type': FORM }), body: () => 'token=x', expect: 'oauth', status: [400, 401] },
  { name: '/token/revocation without token', method: 'POST', path: () => '/token/revocation', headers: appAuth, body: () => '', expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token/revocation with a garbage token', method: 'POST', path: () => '/token/revocation', headers: appAuth, body: () => 'token=garbage', expect: 'fine', status: 200 },
  { name: '/token/revocation with a 10 KB token', method: 'POST', path: () => '/token/revocation', headers: appAuth, body: () => qs({ token: big(10 * KB) }), expect: ['fine', 'oauth'] },
  { name: '/token/revocation with a 100 KB token', method: 'POST', path: () => '/token/revocation', headers: appAuth, body: () => qs({ token: big(100 * KB) }), expect: ['oauth', 'http-4xx'] },
  { name: '/token/revocation with a garbage token_type_hint', method: 'POST', path: () => '/token/revocation', headers: appAuth, body: () => 'token=x&token_type_hint=%zz', expect: ['fine', 'oauth'] },
  { name: '/token/revocation with duplicate tokens', method: 'POST', path: () => '/token/revocation', headers: appAuth, body: () => 'token=a&token=b', expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/token/revocation with a JSON body', method: 'POST', path: () => '/token/revocation', headers: (f) => ({ ...appAuth(f), 'content-type': 'application/json' }), body: () => '{"token":"x"}', expect: 'oauth', status: 400 },
  ...BROKEN_BASIC.map(([what, header]): Case => ({
    name: `/token/revocation with a malformed Basic header (${what})`, method: 'POST', path: () => '/token/revocation',
    headers: () => ({ authorization: header, 'content-type': FORM }), body: () => 'token=x',
    expect: 'oauth', status: [400, 401],
  })),

  // RP-initiated logout.
  { name: '/session/end with a garbage id_token_hint', path: () => '/session/end?id_token_hint=garbage', expect: 'page', status: 400 },
  { name: '/session/end with an alg none id_token_hint', path: (f) => `/session/end?id_token_hint=${forgedJwt(f, 'none')}`, expect: 'page', status: 400 },
  { name: '/session/end with a tampered id_token_hint', path: (f) => `/session/end?id_token_hint=${f.idToken.slice(0, -4)}AAAA`, expect: 'page', status: 400 },
  { name: '/session/end with an unknown client_id', path: () => '/session/end?client_id=no-such-client', expect: 'page', status: 400 },
  { name: '/session/end with an unregistered post_logout_redirect_uri', path: (f) => `/session/end?${qs({ client_id: f.app.clientId, post_logout_redirect_uri: 'https://evil.example.test/' })}`, expect: 'page', status: 400 },
  { name: '/session/end with a NUL in client_id', path: () => '/session/end?client_id=a%00b', expect: 'page', status: 400 },
  { name: '/session/end with duplicate parameters', path: () => '/session/end?state=a&state=b', expect: 'page', status: 400 },
  { name: '/session/end with broken percent-encoding', path: () => '/session/end?id_token_hint=%zz%E0%A4%A&state=%', expect: 'page', status: 400 },
  { name: '/session/end with a 100 KB id_token_hint', path: () => `/session/end?id_token_hint=${big(100 * KB)}`, expect: 'http-4xx' },
  { name: '/session/end with a 12 KB id_token_hint', path: () => `/session/end?id_token_hint=${big(12 * KB)}`, expect: ['page', 'http-4xx'] },
  { name: '/session/end asked for JSON by a program', path: () => '/session/end?id_token_hint=garbage', headers: () => ({ accept: 'application/json' }), expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/session/end by POST with JSON', method: 'POST', path: () => '/session/end', headers: () => ({ 'content-type': 'application/json', accept: 'text/html' }), body: () => '{}', expect: ['page', 'http-4xx'] },
  { name: '/session/end/confirm without a session', method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': FORM, accept: 'text/html' }), body: () => 'logout=yes', expect: 'page', status: 400 },
  { name: '/session/end/confirm with duplicate xsrf', method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': FORM, accept: 'text/html' }), body: () => 'xsrf=a&xsrf=b&logout=yes', expect: 'page', status: 400 },
  { name: '/session/end/confirm with a JSON body', method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': 'application/json', accept: 'text/html' }), body: () => '{"xsrf":"a"}', expect: 'page', status: 400 },
  { name: '/session/end/confirm with a 100 KB body', method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': FORM, accept: 'text/html' }), body: () => qs({ xsrf: big(100 * KB) }), expect: ['page', 'http-4xx'] },

  // Pushed authorization requests.
  { name: '/request with no client', method: 'POST', path: () => '/request', headers: () => ({ 'content-type': FORM }), body: (f) => qs(authParams(f)), expect: 'oauth', status: [400, 401] },
  { name: '/request without parameters', method: 'POST', path: () => '/request', headers: appAuth, body: () => '', expect: 'oauth', status: 400 },
  { name: '/request with a JSON body', method: 'POST', path: () => '/request', headers: (f) => ({ ...appAuth(f), 'content-type': 'application/json' }), body: (f) => JSON.stringify(authParams(f)), expect: 'oauth', status: 400 },
  { name: '/request with a request_uri', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => qs(authParams(f, { request_uri: 'urn:ietf:params:oauth:request_uri:x' })), expect: 'oauth', status: 400 },
  { name: '/request with an unregistered redirect_uri', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => qs(authParams(f, { redirect_uri: 'https://evil.example.test/cb' })), expect: 'oauth', status: 400 },
  { name: '/request with duplicate parameters', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => `${qs(authParams(f))}&scope=openid`, expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/request with broken percent-encoding', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => `${qs(authParams(f, { state: 'x' }))}&nonce=%zz%E0%A4%A`.replace('scope=openid', 'scope=%'), expect: 'oauth', status: 400 },
  { name: '/request with a NUL in state', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => qs(authParams(f, { state: 'a\u0000b' })), expect: ['oauth', 'fine'] },
  { name: '/request with a NUL in client_id', method: 'POST', path: () => '/request', headers: () => ({ 'content-type': FORM }), body: (f) => `${qs(authParams(f))}`.replace(/client_id=[^&]+/, 'client_id=a%00b') + '&client_secret=x', expect: 'oauth', status: [400, 401] },
  { name: '/request with a 38 KB state', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => qs(authParams(f, { state: big(38 * KB) })), expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/request with a 3 KB login_hint', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => qs(authParams(f, { login_hint: big(3 * KB) })), expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/device/auth with a 38 KB nonce', method: 'POST', path: () => '/device/auth', headers: appAuth, body: () => qs({ scope: 'openid', nonce: big(38 * KB) }), expect: 'oauth', status: 400, error: 'invalid_request' },
  { name: '/request with a 100 KB parameter', method: 'POST', path: () => '/request', headers: appAuth, body: (f) => qs(authParams(f, { state: big(100 * KB) })), expect: ['oauth', 'http-4xx'] },
  ...BROKEN_BASIC.slice(0, 4).map(([what, header]): Case => ({
    name: `/request with a malformed Basic header (${what})`, method: 'POST', path: () => '/request',
    headers: () => ({ authorization: header, 'content-type': FORM }), body: (f) => qs(authParams(f)),
    expect: 'oauth', status: [400, 401],
  })),
  { name: '/request by GET', path: () => '/request', headers: () => ({ accept: 'application/json' }), expect: 'http-4xx' },

  // Sign-in pages.
  { name: 'GET /interaction/doesnotexist', path: () => '/interaction/doesnotexist', expect: 'page', status: 400 },
  { name: 'GET /interaction with broken percent-encoding', path: () => '/interaction/%E0%A4%A', expect: 'page' },
  { name: 'GET /interaction/%zz', path: () => '/interaction/%zz', expect: 'page' },
  { name: 'GET /interaction/:uid with a 12 KB uid', path: () => `/interaction/${big(12 * KB)}`, expect: ['page', 'http-4xx'] },
  { name: 'GET /interaction/:uid without its cookie', path: (f) => `/interaction/${f.interaction.uid}?x=%zz`, expect: 'page', status: 400 },
  { name: 'GET /interaction/:uid with garbage cookies', path: (f) => `/interaction/${f.interaction.uid}`, headers: () => ({ cookie: 'gh_interaction=%zz; gh_interaction.sig=%%; gh_csrf=;;;' }), expect: 'page', status: 400 },
  { name: 'GET /interaction/:uid asking for JSON', path: () => '/interaction/doesnotexist', headers: () => ({ accept: 'application/json' }), expect: ['page', 'oauth'], status: 400 },
  { name: 'GET /interaction/:uid/login', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, expect: 'http-4xx' },
  { name: 'POST /interaction/:uid/login without the interaction cookie', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: () => ({ 'content-type': FORM, accept: 'text/html' }), body: (f) => qs({ csrf: f.interaction.csrf, email: 'a@example.test', password: 'x' }), expect: 'page', status: 400 },
  { name: 'POST /interaction/:uid/login with no body', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, expect: 'page', status: 403 },
  { name: 'POST /interaction/:uid/login with a JSON body', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: (f) => ({ ...browser(f), 'content-type': 'application/json' }), body: (f) => JSON.stringify({ csrf: f.interaction.csrf, email: 'a@example.test', password: 'x' }), expect: 'page', status: [403, 415] },
  { name: 'POST /interaction/:uid/login with a text/plain body', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: (f) => ({ ...browser(f), 'content-type': 'text/plain' }), body: (f) => qs({ csrf: f.interaction.csrf }), expect: 'page', status: [403, 415] },
  { name: 'POST /interaction/:uid/login with a 100 KB form', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => qs({ csrf: f.interaction.csrf, email: 'a@example.test', password: big(100 * KB) }), expect: 'page', status: 413 },
  { name: 'POST /interaction/:uid/login with an unknown charset', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: (f) => ({ ...browser(f), 'content-type': `${FORM}; charset=no-such-charset` }), body: (f) => qs({ csrf: f.interaction.csrf }), expect: 'page', status: [400, 403, 415] },
  { name: 'POST /interaction/:uid/login with a body that does not decompress', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: (f) => ({ ...browser(f), 'content-encoding': 'gzip' }), body: (f) => qs({ csrf: f.interaction.csrf, email: 'a@example.test', password: 'x' }), expect: 'page', status: 400 },
  { name: 'POST /interaction/:uid/abort with a deflate body that does not decompress', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/abort`, headers: (f) => ({ ...browser(f), 'content-encoding': 'deflate' }), body: () => 'csrf=x', expect: 'page', status: 400 },
  { name: 'POST /interaction/:uid/login with broken percent-encoding', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => `csrf=${encodeURIComponent(f.interaction.csrf)}&email=%zz%E0%A4%A&password=%`, expect: 'page', status: [400, 401] },
  { name: 'POST /interaction/:uid/login with duplicate csrf fields', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => `${qs({ csrf: f.interaction.csrf })}&${qs({ csrf: f.interaction.csrf })}&email=a%40example.test&password=x`, expect: 'page', status: 403 },
  { name: 'POST /interaction/:uid/login with duplicate email fields', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => `${qs({ csrf: f.interaction.csrf })}&email=a%40example.test&email=b%40example.test&password=x`, expect: 'page', status: 400 },
  { name: 'POST /interaction/:uid/login with nested fields', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => `${qs({ csrf: f.interaction.csrf })}&email[a]=1&password[b]=2&__proto__[x]=1`, expect: 'page', status: 400 },
  { name: 'POST /interaction/:uid/login with a 10 KB password', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => qs({ csrf: f.interaction.csrf, email: `${big(300)}@example.test`, password: big(10 * KB) }), expect: 'page', status: 401 },
  { name: 'POST /interaction/:uid/login with a NUL in the email', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => qs({ csrf: f.interaction.csrf, email: 'a\u0000@example.test', password: 'x' }), expect: 'page', status: [400, 401] },
  { name: 'POST /interaction/:uid/login with a NUL in the password', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: (f) => qs({ csrf: f.interaction.csrf, email: 'someone@example.test', password: 'a\u0000b' }), expect: 'page', status: 401 },
  { name: 'POST /interaction/:uid/login with a 300-character csrf', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/login`, headers: browser, body: () => qs({ csrf: big(300), email: 'a@example.test', password: 'x' }), expect: 'page', status: 403 },
  { name: 'POST /interaction/:uid/confirm without csrf', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/confirm`, headers: browser, body: () => 'decision=allow', expect: 'page', status: 403 },
  { name: 'POST /interaction/:uid/confirm before signing in', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/confirm`, headers: browser, body: (f) => qs({ csrf: f.interaction.csrf, decision: 'allow' }), expect: 'fine', status: 303 },
  { name: 'POST /interaction/:uid/confirm with a JSON body', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/confirm`, headers: (f) => ({ ...browser(f), 'content-type': 'application/json' }), body: () => '{"decision":"allow"}', expect: 'page', status: [403, 415] },
  { name: 'POST /interaction/:uid/abort without csrf', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/abort`, headers: browser, body: () => '', expect: 'page', status: 403 },
  { name: 'POST /interaction/:uid/abort with a 100 KB form', method: 'POST', path: (f) => `/interaction/${f.interaction.uid}/abort`, headers: browser, body: () => qs({ x: big(100 * KB) }), expect: 'page', status: 413 },
  { name: 'POST /interaction/doesnotexist/abort', method: 'POST', path: () => '/interaction/doesnotexist/abort', headers: browser, body: () => 'csrf=x', expect: 'page', status: 400 },

  // Health checks and the stylesheet.
  { name: '/healthz with garbage parameters', path: () => '/healthz?x=%zz&x=%E0%A4%A', expect: 'fine', status: 200 },
  { name: '/healthz by POST with JSON', method: 'POST', path: () => '/healthz', headers: () => ({ 'content-type': 'application/json', accept: 'application/json' }), body: () => '{"a":', expect: 'http-4xx' },
  { name: '/readyz with duplicate parameters', path: () => '/readyz?a=1&a=2', expect: 'fine', status: 200 },
  { name: '/readyz with a 12 KB parameter', path: () => `/readyz?a=${big(12 * KB)}`, expect: ['fine', 'http-4xx'] },
  { name: '/assets/gatehouse.css with garbage parameters', path: () => '/assets/gatehouse.css?%zz=%&v=1&v=2', expect: 'fine', status: 200 },
  { name: '/assets with broken percent-encoding', path: () => '/assets/%zz.css', expect: 'http-4xx', status: 404 },
  { name: '/assets with an encoded path traversal', path: () => '/assets/..%2f..%2fpackage.json', expect: 'http-4xx', status: 404 },
  { name: '/assets/gatehouse.css by POST', method: 'POST', path: () => '/assets/gatehouse.css', headers: () => ({ 'content-type': FORM, accept: 'application/json' }), body: () => 'a=1', expect: 'http-4xx', status: 404 },
];

let server: TestServer;
let fixture: Fixture;
let person: Awaited<ReturnType<typeof createPerson>>;
let countsBefore: Record<string, number>;

async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['users', 'clients', 'resource_servers', 'signing_keys']) {
    const [row] = (await server.testDb.db(table).count<Array<{ count: string | number }>>({ count: '*' }));
    counts[table] = Number(row!.count);
  }
  return counts;
}

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, scope: 'read write', isDefault: true });
  const app = await registerApp(server, { scope: 'openid profile email offline_access read', postLogoutRedirectUri: POST_LOGOUT });
  const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Fuzz job', clientCredentials: true, scope: 'read' });
  person = await createPerson(server, { name: 'Barbara Liskov' });
  const { tokens } = await obtainTokens(server, app, person);

  // A browser waiting on the sign-in page, for the POST routes.
  const agent = new UserAgent(server.issuer);
  const page = await agent.follow((await authorizationRequest(app)).url.href);
  const uid = /\/interaction\/([^/]+)$/.exec(page.url)![1]!;
  const { csrf } = formOf(page.body, /\/login$/);

  fixture = {
    issuer: server.issuer,
    app,
    machine: { clientId: machine.clientId, clientSecret: clientSecret! },
    personId: person.id,
    accessToken: tokens.access_token,
    idToken: tokens.id_token!,
    interaction: { uid, csrf, cookie: agent.cookieHeader() },
  };
  countsBefore = await rowCounts();
});

afterAll(async () => {
  await server?.stop();
});

const STACK_TRACE = [/\n\s+at \S/, /\bat .+:\d+:\d+\)?/, /node_modules/, /\b(TypeError|RangeError|SyntaxError|ReferenceError|URIError|Error):/, /\/work\/|\/src\/\w+\.ts/];

function errorInRedirect(target: URL): string | null {
  return target.searchParams.get('error') ?? new URLSearchParams(target.hash.slice(1)).get('error');
}

function outcomeOf(res: { status: number; headers: Headers; body: string }, f: Fixture): { outcome: Outcome | 'other'; why: string } {
  const type = res.headers.get('content-type') ?? '';
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location') ?? '';
    const target = location ? new URL(location, f.issuer) : undefined;
    // The error rides in the query, or in the fragment for response types that use one.
    if (target && target.origin + target.pathname === f.app.redirectUri && errorInRedirect(target)) return { outcome: 'app-error', why: location };
    return { outcome: 'fine', why: `redirect to ${location}` };
  }
  if (res.status < 300) return { outcome: 'fine', why: `status ${res.status}` };
  if (res.status >= 500) return { outcome: 'other', why: `server error ${res.status}` };
  if (type.startsWith('application/json')) {
    let json: unknown;
    try { json = JSON.parse(res.body); } catch { return { outcome: 'other', why: 'JSON content type with an unparsable body' }; }
    const { error, error_description: description } = (json ?? {}) as Record<string, unknown>;
    // RFC 6749 §5.2: `error` is required, `error_description` optional (oidc-provider omits it for
    // request_uri_not_supported); when present it must be readable text.
    if (typeof error === 'string' && /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(error) && (description === undefined || (typeof description === 'string' && description.length > 0))) {
      return { outcome: 'oauth', why: `${error}: ${description}` };
    }
    return { outcome: 'http-4xx', why: `JSON without error/error_description: ${res.body.slice(0, 200)}` };
  }
  if (type.startsWith('text/html') && /<h1[^>]*>[^<]+<\/h1>/.test(res.body)) {
    return { outcome: 'page', why: /<h1[^>]*>([^<]+)<\/h1>/.exec(res.body)![1]! };
  }
  return { outcome: 'http-4xx', why: `${type || 'no content type'}: ${res.body.slice(0, 200)}` };
}

describe('bad input', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const f = fixture;
    const headers = { ...c.headers?.(f) };
    // The sign-in, authorization and sign-out endpoints are visited by browsers, which ask for HTML.
    if (/^\/(auth|session\/end|interaction)\b/.test(c.path(f)) && !Object.keys(headers).some((h) => h.toLowerCase() === 'accept')) {
      headers.accept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    }
    const res = await fetch(`${f.issuer}${c.path(f)}`, {
      method: c.method ?? 'GET',
      headers,
      body: c.body?.(f),
      redirect: 'manual',
    });
    const body = await res.text();
    const { outcome, why } = outcomeOf({ status: res.status, headers: res.headers, body }, f);

    expect(res.status, `${res.status}: ${body.slice(0, 300)}`).toBeLessThan(500);
    for (const pattern of STACK_TRACE) expect(body, `stack trace in body: ${body.slice(0, 300)}`).not.toMatch(pattern);

    const expected = Array.isArray(c.expect) ? c.expect : [c.expect];
    // A "page" or "oauth" answer is always acceptable where a bare 4xx is.
    const acceptable = expected.includes('http-4xx') ? [...expected, 'page', 'oauth'] : expected;
    expect(acceptable, `got ${outcome} (${res.status}, ${why})`).toContain(outcome);
    if (outcome === 'http-4xx' || outcome === 'page' || outcome === 'oauth') {
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
    if (c.status !== undefined) {
      expect(Array.isArray(c.status) ? c.status : [c.status], `status ${res.status} (${why})`).toContain(res.status);
    }
    if (c.error !== undefined) {
      const error = outcome === 'app-error'
        ? errorInRedirect(new URL(res.headers.get('location')!, f.issuer))
        : (JSON.parse(body) as { error?: string }).error;
      expect(Array.isArray(c.error) ? c.error : [c.error], `error ${error} (${why})`).toContain(error);
    }
    // A redirect to the app is only ever to its registered address, never to one from the request.
    const location = res.headers.get('location');
    if (location) expect(new URL(location, f.issuer).hostname).not.toBe('evil.example.test');
  });

  it('answers a request target it cannot parse (absolute-form, a malformed host) with a 400', async () => {
    for (const target of ['http://[::1/auth', 'http://[/token', 'http://[:/.well-known/openid-configuration']) {
      const answer = await rawRequest(fixture.issuer, `GET ${target} HTTP/1.1\r\nHost: ${new URL(fixture.issuer).host}\r\nConnection: close\r\n\r\n`);
      expect(answer, target).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer, target).toContain('The request target cannot be read.');
    }
  });

  it('logged no server error for any of it', () => {
    const errors = server.logs.filter((line) => Number(line.level) >= 50 || line.event === 'server_error' || line.event === 'unhandled_error');
    expect(errors).toEqual([]);
    const requestLines = server.logs.filter((line) => line.msg === 'request');
    expect(requestLines.filter((line) => Number(line.status) >= 500)).toEqual([]);
  });

  it('lost nothing: the person can still sign in, get tokens, call userinfo and refresh', async () => {
    expect(await rowCounts()).toEqual(countsBefore);
    const { tokens } = await obtainTokens(server, fixture.app, person);
    const userinfo = await client.fetchUserInfo(fixture.app.config, tokens.access_token, person.id);
    expect(userinfo).toMatchObject({ sub: person.id, email: person.email });
    const refreshed = await client.refreshTokenGrant(fixture.app.config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    // The tokens issued before the barrage still work too.
    const before = await client.fetchUserInfo(fixture.app.config, fixture.accessToken, person.id);
    expect(before.sub).toBe(person.id);
    // And the sign-in page that took the barrage still accepts the real password.
    const agentCookie = fixture.interaction.cookie;
    const res = await fetch(`${server.issuer}/interaction/${fixture.interaction.uid}/login`, {
      method: 'POST',
      headers: { cookie: agentCookie, 'content-type': FORM, accept: 'text/html' },
      body: qs({ csrf: fixture.interaction.csrf, email: person.email, password: person.password }),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
  });
});

/** Sends `request` as written, byte for byte (fetch would refuse or rewrite such a target), and reads the whole answer. */
function rawRequest(issuer: string, request: string): Promise<string> {
  const { hostname, port } = new URL(issuer);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: hostname, port: Number(port) }, () => socket.end(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}
