// Property-based fuzzing (fast-check) of every endpoint Gatehouse serves: generated methods, paths
// from the route list (and mangled versions of them), query and form parameters made of arbitrary
// Unicode — NUL, lone surrogates, bidi controls, percent signs — sent percent-encoded as WTF-8 or
// half raw, random content types, JSON (shaped by the admin API's OpenAPI schemas and RFC 8936's
// poll request where an endpoint reads JSON), deeply nested JSON and raw bytes, real and broken
// credentials and cookies. For every request: no 5xx, no stack trace, and no redirect to an
// address no app registered. After the run: the server still answers, logged no error and no
// input that reached the database past a missing check, nothing it stored is gone, a person
// created before still signs in end to end, and tokens issued before still work.
//
// Runs are deterministic (a fixed seed per route) and bounded (RUNS per route), so the file
// finishes in well under a minute on two cores; a failure prints the seed and the shrunk request.
// The hand-written table of bad input is test/e2e/bad-input.test.ts; this file finds what it missed.
import fc from 'fast-check';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, obtainTokens, registerApp, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { signInToAccount } from '../account/support.js';
import { openApiDocument } from '../../src/admin/api/openapi.js';
import { adminApiOperations } from '../../src/admin/api/routes.js';
import type { AdminOperations } from '../../src/admin/operations.js';
import { arbitraryFor, type JsonSchema } from '../support/json-schema-arbitrary.js';

const SEED = 0x6a7e;
const RUNS = 120;
const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';
const REDIRECT = 'https://app.example.test/callback';
const POST_LOGOUT = 'https://app.example.test/signed-out';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/** An open sign-in page: its uid, the browser's cookies and the form's token. */
interface OpenInteraction { uid: string; cookie: string; csrf: string }

interface World {
  issuer: string;
  app: App;
  appBasic: string;
  notesBasic: string;
  machineBasic: string;
  /** Tokens of a grant the fuzzer may use (and revoke); the kept ones it never sees. */
  fuzzTokens: { access: string; refresh: string; id: string };
  /** One open interaction per interaction route, so one route's fuzzing cannot close another's. */
  interactions: Record<'page' | 'login' | 'confirm' | 'abort', OpenInteraction>;
  /** A signed-in browser on the sign-out page, for /session/end/confirm. */
  logout: { cookie: string; xsrf: string };
  /** A browser on the device flow's code page, and a code a device is waiting on. */
  device: { cookie: string; xsrf: string; userCode: string; clientId: string };
  /**
   * The admin surfaces act, when asked rightly, on victims made for them (a person, an app and an
   * API, whose rows are left out of the "nothing lost" count): an admin's bearer token and console
   * browser, the victim's own account browser, and the victim's ids to put in paths.
   */
  admin: { bearer: string; cookie: string; csrf: string };
  account: { cookie: string; csrf: string };
  victim: { userId: string; clientId: string; grantId: string; sessionId: string };
}

let server: TestServer;
let world: World;
let person: Awaited<ReturnType<typeof createPerson>>;
let knownBrowser: UserAgent; // where the person signed in before the fuzzing
let kept: { access: string; refresh: string };
let storedBefore: Record<string, string[]>;

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

const VICTIM_EMAIL = 'fuzz-victim@example.test';
const VICTIM_APP = 'Fuzz Victim App';
/** The API the admin surfaces may delete: NOTES_API must outlive the fuzzing. */
const VICTIM_API = 'https://victim-api.example.test';

/**
 * What the fuzzing must not lose: the people, apps, APIs and signing keys stored before it, by id,
 * but for the victims the admin surfaces may act on. (What it creates, through the admin API, it may.)
 */
async function storedIds(): Promise<Record<string, string[]>> {
  const db = server.testDb.db;
  const victims = new Set<string>([world.victim.userId, world.victim.clientId, VICTIM_API, ...await db('clients').where({ name: `${VICTIM_API} (introspection)` }).pluck('client_id')]);
  const ids = async (table: string, column: string) => ((await db(table).pluck(column)) as unknown[]).map(String).filter((id) => !victims.has(id)).sort();
  return { users: await ids('users', 'id'), clients: await ids('clients', 'client_id'), resource_servers: await ids('resource_servers', 'identifier'), signing_keys: await ids('signing_keys', 'kid') };
}

async function openInteraction(app: App, options: { signIn?: boolean } = {}): Promise<OpenInteraction> {
  const agent = new UserAgent(server.issuer);
  let page = await agent.follow((await authorizationRequest(app)).url.href);
  const uid = /\/interaction\/([^/?]+)$/.exec(page.url)![1]!;
  if (options.signIn) {
    // Signed in, waiting on the consent page.
    const login = formOf(page.body, /\/login$/);
    page = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    return { uid, cookie: agent.cookieHeader(), csrf: formOf(page.body, /\/confirm$/).csrf };
  }
  return { uid, cookie: agent.cookieHeader(), csrf: formOf(page.body, /\/login$/).csrf };
}

// ---------------------------------------------------------------------------------------------
// Generators

/** One UTF-16 unit or code point, leaning towards what breaks parsers. */
const char = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('\u0000', '%', '&', '=', '+', ';', '#', '?', '/', '\\', '"', "'", '<', '>', '[', ']', '{', '}', '.', ' ', '\r', '\n', '\t', '\u202e', '\u200b', '\ufeff', '\uffff', '\u00e9', '\u{1f511}') },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) }, // lone surrogates
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCodePoint(c)) },
);
const nasty = (maxLength: number) => fc.string({ unit: char, maxLength });

/** Percent-encodes every UTF-16 unit as WTF-8 (lone surrogates as their 3-byte forms), or leaves printable ASCII raw. */
function encode(value: string, raw: boolean): string {
  let out = '';
  for (let i = 0; i < value.length; i += 1) {
    const unit = value.charCodeAt(i);
    let codePoint = unit;
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        codePoint = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
        i += 1;
      }
    }
    if (raw && codePoint > 0x20 && codePoint < 0x7f && codePoint !== 0x23 /* # */) {
      out += String.fromCharCode(codePoint);
      continue;
    }
    if (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(codePoint)) && codePoint < 0x80) {
      out += String.fromCharCode(codePoint);
      continue;
    }
    for (const byte of wtf8(codePoint)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function wtf8(codePoint: number): number[] {
  if (codePoint < 0x80) return [codePoint];
  if (codePoint < 0x800) return [0xc0 | (codePoint >> 6), 0x80 | (codePoint & 0x3f)];
  if (codePoint < 0x10000) return [0xe0 | (codePoint >> 12), 0x80 | ((codePoint >> 6) & 0x3f), 0x80 | (codePoint & 0x3f)];
  return [0xf0 | (codePoint >> 18), 0x80 | ((codePoint >> 12) & 0x3f), 0x80 | ((codePoint >> 6) & 0x3f), 0x80 | (codePoint & 0x3f)];
}

const PARAMETER_NAMES = [
  'client_id', 'client_secret', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'nonce', 'prompt', 'max_age',
  'login_hint', 'id_token_hint', 'post_logout_redirect_uri', 'code_challenge', 'code_challenge_method', 'code_verifier', 'code',
  'grant_type', 'refresh_token', 'token', 'token_type_hint', 'access_token', 'resource', 'request', 'request_uri', 'claims',
  'ui_locales', 'acr_values', 'client_assertion', 'client_assertion_type', 'logout', 'xsrf', 'csrf', 'email', 'password',
  'decision', 'logout_hint', 'dpop_jkt', 'authorization_details', '__proto__', 'constructor', 'email[a]', 'password[]',
];

/** A parameter value: real-looking values the server knows, or generated garbage. */
function value(w: World) {
  return fc.oneof(
    { weight: 3, arbitrary: nasty(40) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        w.app.clientId, REDIRECT, POST_LOGOUT, 'code', 'openid', SCOPE, 'S256', 'plain', CHALLENGE, 'authorization_code', 'refresh_token',
        'client_credentials', 'none', 'login', 'consent', 'allow', 'yes', NOTES_API, 'access_token', 'https://evil.example/cb',
        w.fuzzTokens.access, w.fuzzTokens.refresh, w.fuzzTokens.id, w.interactions.login.csrf, w.logout.xsrf, 'a'.repeat(43), '',
      ),
    },
    { weight: 1, arbitrary: nasty(3000) },
  );
}

function parameters(w: World) {
  return fc.array(fc.tuple(fc.oneof(fc.constantFrom(...PARAMETER_NAMES), nasty(12)), value(w)), { maxLength: 8 });
}

const ascii = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'application/x-www-form-urlencoded; charset=iso-8859-1',
  'application/x-www-form-urlencoded; charset=utf-16', 'application/x-www-form-urlencoded; charset=no-such-charset', 'application/json',
  'application/json; charset=utf-8', 'text/plain', 'text/html', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/jwt',
  'application/x-www-form-urlencoded, application/json', '*/*', '',
];

type Body =
  | { kind: 'none' }
  | { kind: 'form'; params: Array<[string, string]>; raw: boolean }
  /** `contentType`, when set, is sent instead of the generated header: a body shaped for a JSON endpoint. */
  | { kind: 'json'; text: string; contentType?: string }
  | { kind: 'bytes'; bytes: Uint8Array };

function body(w: World): fc.Arbitrary<Body> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Body>({ kind: 'none' }) },
    { weight: 4, arbitrary: fc.record({ params: parameters(w), raw: fc.boolean() }).map((b): Body => ({ kind: 'form', ...b })) },
    { weight: 1, arbitrary: parameters(w).map((p): Body => ({ kind: 'json', text: JSON.stringify(Object.fromEntries(p)) })) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 4 }).map((text): Body => ({ kind: 'json', text })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth): Body => ({ kind: 'json', text: `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}` })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes): Body => ({ kind: 'bytes', bytes })) },
  );
}

/** `authenticated`: always one of `credentials`, never a missing or broken Authorization header. */
function headers(w: World, cookies: string[], credentials: string[], authenticated = false) {
  return fc.record({
    accept: fc.constantFrom(undefined, 'text/html', 'application/json', '*/*', 'application/token-introspection+jwt', 'image/png', 'text/html;q=0.1, application/json'),
    contentType: fc.oneof(
      { weight: 5, arbitrary: fc.constant('application/x-www-form-urlencoded') },
      { weight: 2, arbitrary: fc.constantFrom(undefined, ...CONTENT_TYPES) },
      { weight: 1, arbitrary: ascii(40) },
    ),
    // A body that is not compressed as it says it is, or in a coding nobody knows.
    contentEncoding: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown') }),
    authorization: authenticated ? fc.constantFrom(...credentials) : fc.oneof(
      { weight: credentials.length ? 4 : 0, arbitrary: fc.constantFrom('', ...credentials) },
      { weight: 1, arbitrary: fc.constantFrom(undefined, w.appBasic, w.notesBasic, w.machineBasic, `Bearer ${w.fuzzTokens.access}`, 'Basic', 'Bearer', 'Bearer  ', 'DPoP x') },
      { weight: 1, arbitrary: ascii(60).map((s) => `Basic ${Buffer.from(s).toString('base64')}`) },
      { weight: 1, arbitrary: ascii(60).map((s) => `Bearer ${s}`) },
      { weight: 1, arbitrary: ascii(80) },
    ).map((value) => (value === '' ? undefined : value)),
    cookie: fc.oneof(
      { weight: cookies.length ? 6 : 0, arbitrary: fc.constantFrom(...(cookies.length ? cookies : [''])) },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: ascii(80) },
      { weight: 1, arbitrary: fc.constantFrom('gh_session=x; gh_session.sig=y', 'gh_interaction=%zz; gh_csrf=;;;=') },
    ),
    origin: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('https://app.example.test', 'https://evil.example', 'null') }),
  });
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

/** Variations of a path from the route list: as is, with a trailing slash, traversal, or a generated segment. */
function pathVariant(path: string) {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(path) },
    { weight: 1, arbitrary: fc.constantFrom(`${path}/`, `${path}/..`, `${path}/%2e%2e/%2e%2e/package.json`, `${path}//`, path.toUpperCase(), `${path};x=1`, `${path}%00`) },
    { weight: 1, arbitrary: fc.tuple(nasty(20), fc.boolean()).map(([segment, raw]) => `${path}/${encode(segment, raw).replace(/[?]/g, '%3F')}`) },
  );
}

interface Route {
  name: string;
  path: (w: World) => string;
  /** The methods the route answers; the generator also tries all the others. */
  methods: string[];
  cookies: (w: World) => string[];
  /** Credentials a real caller of this route presents (Authorization header values). */
  credentials?: (w: World) => string[];
  /** Parameters shaped like a real request to this route, so generated values reach past the first check. */
  plausible?: (w: World) => fc.Arbitrary<Array<[string, string]>>;
  /** For a route that reads JSON: bodies shaped like a real request's, sent as application/json. */
  plausibleJson?: (w: World) => fc.Arbitrary<string>;
  /** Every request presents one of `credentials`: for a route that refuses a network after repeated failures. */
  authenticated?: boolean;
  /** Only `methods`, never the others: with an admin's credentials, a DELETE would take the victims away early. */
  onlyItsMethods?: boolean;
  /** Generated requests, when not RUNS. */
  runs?: number;
}

/** Named parameters, each either a realistic value or generated garbage, some left out. */
function shaped(w: World, fields: Record<string, string[]>): fc.Arbitrary<Array<[string, string]>> {
  const entries = Object.entries(fields).map(([name, realistic]) => fc.option(
    fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...realistic) }, { weight: 2, arbitrary: nasty(40) }, { weight: 1, arbitrary: value(w) }).map((v): [string, string] => [name, v]),
    { freq: 5 },
  ));
  return fc.tuple(fc.tuple(...entries), parameters(w)).map(([named, extra]) => [
    ...named.filter((e): e is [string, string] => e !== null),
    ...extra.slice(0, 2),
  ]);
}

const AUTHORIZATION_FIELDS = (w: World) => ({
  client_id: [w.app.clientId], redirect_uri: [REDIRECT, `${REDIRECT}/`, 'https://evil.example/cb'], response_type: ['code', 'token', 'code id_token'],
  scope: ['openid', SCOPE, 'openid notes:read'], code_challenge: [CHALLENGE], code_challenge_method: ['S256', 'plain'], state: ['s'], nonce: ['n'],
  prompt: ['login', 'consent', 'none', 'login consent'], login_hint: ['someone@example.test'], max_age: ['0', '-1', '99999999999999999999'],
  resource: [NOTES_API, 'https://unknown.example'], response_mode: ['query', 'fragment', 'form_post', 'jwt'], ui_locales: ['en', 'xx'],
});

/**
 * An RFC 8936 poll request, each member either of the right type or not, some left out, now and
 * then an extra one: so generated values reach past the JSON check to the acknowledgements and
 * the limits. (The server here holds no poll: SECURITY_EVENTS_POLL_WAIT is 0.)
 */
function pollRequest(w: World): fc.Arbitrary<string> {
  const anyJson = fc.jsonValue({ maxDepth: 2 });
  const jti = fc.oneof({ weight: 2, arbitrary: fc.uuid() }, { weight: 2, arbitrary: nasty(40) }, { weight: 1, arbitrary: value(w) });
  const member = <T>(right: fc.Arbitrary<T>) => fc.oneof({ weight: 9, arbitrary: right as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anyJson });
  return fc.record({
    maxEvents: member(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 150 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, -0, 1.5, 2 ** 53, 1e308) })),
    returnImmediately: member(fc.boolean()),
    ack: member(fc.array(jti, { maxLength: 120 })),
    setErrs: member(fc.dictionary(jti, fc.record({ err: member(fc.constantFrom('invalid_request', 'invalid_key', 'authentication_failed', 'x')), description: member(nasty(200)) }, { requiredKeys: [] }), { maxKeys: 5 })),
    extra: anyJson,
  }, { requiredKeys: [] }).map(({ extra, ...members }) => JSON.stringify(extra === undefined ? members : { ...members, [JSON.stringify(extra).slice(0, 20)]: extra }));
}

const ROUTES: Route[] = [
  { name: 'discovery', path: () => '/.well-known/openid-configuration', methods: ['GET'], cookies: () => [] },
  { name: 'jwks', path: () => '/jwks', methods: ['GET'], cookies: () => [] },
  { name: 'authorization', path: () => '/auth', methods: ['GET', 'POST'], cookies: (w) => [w.interactions.page.cookie, w.logout.cookie], plausible: (w) => shaped(w, AUTHORIZATION_FIELDS(w)) },
  { name: 'authorization resume', path: (w) => `/auth/${w.interactions.page.uid}`, methods: ['GET'], cookies: (w) => [w.interactions.page.cookie] },
  {
    name: 'token', path: () => '/token', methods: ['POST'], cookies: () => [], credentials: (w) => [w.appBasic, w.machineBasic],
    plausible: (w) => shaped(w, {
      grant_type: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'],
      code: ['x'], redirect_uri: [REDIRECT], code_verifier: ['a'.repeat(43)], refresh_token: [w.fuzzTokens.refresh], scope: ['notes:read', 'openid'],
      resource: [NOTES_API],
    }),
  },
  {
    name: 'introspection', path: () => '/token/introspection', methods: ['POST'], cookies: () => [], credentials: (w) => [w.notesBasic, w.appBasic],
    plausible: (w) => shaped(w, { token: [w.fuzzTokens.access, w.fuzzTokens.refresh, w.fuzzTokens.id], token_type_hint: ['access_token', 'refresh_token'] }),
  },
  {
    name: 'revocation', path: () => '/token/revocation', methods: ['POST'], cookies: () => [], credentials: (w) => [w.appBasic],
    plausible: (w) => shaped(w, { token: [w.fuzzTokens.access, w.fuzzTokens.refresh, w.fuzzTokens.id], token_type_hint: ['access_token', 'refresh_token'] }),
  },
  { name: 'userinfo', path: () => '/me', methods: ['GET', 'POST'], cookies: () => [], credentials: (w) => [`Bearer ${w.fuzzTokens.access}`], plausible: (w) => shaped(w, { access_token: [w.fuzzTokens.access] }) },
  // Authenticated first: the general route's failed authentications close /ssf/poll to this
  // network for a minute (30 a minute), and every request after that would meet only the 429.
  {
    name: 'security-event poll, authenticated', path: () => '/ssf/poll', methods: ['POST'], cookies: () => [], credentials: (w) => [w.notesBasic],
    authenticated: true, plausibleJson: (w) => pollRequest(w),
  },
  {
    name: 'security-event poll', path: () => '/ssf/poll', methods: ['POST'], cookies: () => [], credentials: (w) => [w.notesBasic],
    plausible: (w) => shaped(w, { maxEvents: ['0', '1', '-1', '100000'], returnImmediately: ['true', 'false'], ack: ['jti'] }),
  },
  // Dynamic registration (RFC 7591/7592) without an initial access token: the gate in front of
  // oidc-provider reads the path and the body before anything is authorised.
  {
    name: 'registration', path: () => '/reg', methods: ['POST'], cookies: () => [], credentials: (w) => [`Bearer ${w.fuzzTokens.access}`],
    plausibleJson: () => fc.record({ redirect_uris: fc.array(fc.constantFrom(REDIRECT, 'javascript:alert(1)', 'https://evil.example/cb')), client_name: nasty(40), scope: fc.constantFrom('openid', SCOPE, 'gatehouse:admin') }, { requiredKeys: [] }).map((body) => JSON.stringify(body)),
  },
  { name: 'registration management', path: (w) => `/reg/${w.victim.clientId}`, methods: ['GET', 'PUT', 'DELETE'], cookies: () => [], credentials: (w) => [`Bearer ${w.fuzzTokens.access}`] },
  // The same methods on generated client segments (pathVariant's `/reg/<generated>`).
  { name: 'registration management, any client', path: () => '/reg', methods: ['PUT', 'GET', 'DELETE'], cookies: () => [], credentials: (w) => [`Bearer ${w.fuzzTokens.access}`] },
  { name: 'pushed authorization requests', path: () => '/request', methods: ['POST'], cookies: () => [], credentials: (w) => [w.appBasic], plausible: (w) => shaped(w, AUTHORIZATION_FIELDS(w)) },
  {
    name: 'logout', path: () => '/session/end', methods: ['GET', 'POST'], cookies: (w) => [w.logout.cookie],
    plausible: (w) => shaped(w, { id_token_hint: [w.fuzzTokens.id], post_logout_redirect_uri: [POST_LOGOUT, 'https://evil.example/'], client_id: [w.app.clientId], state: ['s'], ui_locales: ['en'], logout_hint: ['x'] }),
  },
  { name: 'logout confirmation', path: () => '/session/end/confirm', methods: ['POST'], cookies: (w) => [w.logout.cookie], plausible: (w) => shaped(w, { xsrf: [w.logout.xsrf], logout: ['yes', ''] }) },
  { name: 'signed out', path: () => '/session/end/success', methods: ['GET'], cookies: (w) => [w.logout.cookie] },
  {
    name: 'device authorization', path: () => '/device/auth', methods: ['POST'], cookies: () => [],
    plausible: (w) => shaped(w, { client_id: [w.device.clientId, w.app.clientId], scope: ['openid', 'openid notes:read'] }),
  },
  {
    name: 'device code page', path: () => '/device', methods: ['GET', 'POST'], cookies: (w) => [w.device.cookie, w.logout.cookie],
    plausible: (w) => shaped(w, { xsrf: [w.device.xsrf], user_code: [w.device.userCode, 'BCDF-GHJK'], confirm: ['yes'], abort: ['yes'] }),
  },
  { name: 'device flow return', path: () => '/device/a-flow-uid', methods: ['GET'], cookies: (w) => [w.device.cookie] },
  { name: 'sign-in page', path: (w) => `/interaction/${w.interactions.page.uid}`, methods: ['GET'], cookies: (w) => [w.interactions.page.cookie] },
  {
    name: 'sign-in form', path: (w) => `/interaction/${w.interactions.login.uid}/login`, methods: ['POST'], cookies: (w) => [w.interactions.login.cookie],
    plausible: (w) => shaped(w, { csrf: [w.interactions.login.csrf], email: [person.email, 'nobody@example.test'], password: ['not the password'] }),
  },
  {
    name: 'consent form', path: (w) => `/interaction/${w.interactions.confirm.uid}/confirm`, methods: ['POST'], cookies: (w) => [w.interactions.confirm.cookie],
    plausible: (w) => shaped(w, { csrf: [w.interactions.confirm.csrf], decision: ['allow', 'deny'] }),
  },
  {
    name: 'cancel form', path: (w) => `/interaction/${w.interactions.abort.uid}/abort`, methods: ['POST'], cookies: (w) => [w.interactions.abort.cookie],
    plausible: (w) => shaped(w, { csrf: [w.interactions.abort.csrf] }),
  },
  { name: 'health', path: () => '/healthz', methods: ['GET'], cookies: () => [] },
  { name: 'readiness', path: () => '/readyz', methods: ['GET'], cookies: () => [] },
  { name: 'stylesheet', path: () => '/assets/gatehouse.css', methods: ['GET'], cookies: () => [] },
  { name: 'anywhere else', path: () => '/no-such-route', methods: ['GET'], cookies: (w) => [w.interactions.page.cookie] },
  // Before the other admin routes, which may delete the victims these act on.
  ...adminApiJsonRoutes(),
  ...adminApiRoutes(),
  ...pageRoutes('admin console', (w) => [w.admin.cookie], (w) => w.admin.csrf, (w) => [
    '/admin', '/admin/people', `/admin/people/${w.victim.userId}`, `/admin/people/${w.victim.userId}/disable`, `/admin/people/${w.victim.userId}/password`,
    `/admin/people/${w.victim.userId}/sessions/${w.victim.sessionId}/end`, `/admin/people/${w.victim.userId}/grants/${w.victim.grantId}/revoke`,
    `/admin/people/${w.victim.userId}/delete`, '/admin/apps', `/admin/apps/${w.victim.clientId}`, `/admin/apps/${w.victim.clientId}/edit`,
    `/admin/apps/${w.victim.clientId}/rotate-secret`, '/admin/apis', `/admin/apis/${encodeURIComponent(VICTIM_API)}`, '/admin/keys', '/admin/audit',
  ], { search: ['fuzz', "' OR 1=1 --"], cursor: ['x'], redirect_uris: [REDIRECT, 'javascript:alert(1)'], scope: ['openid', 'gatehouse:admin'], password: ['lantern orchard velvet compass'], overlap: ['0', '-1', 'x'], type: ['user.created'] }),
  ...pageRoutes('account pages', (w) => [w.account.cookie], (w) => w.account.csrf, () => [
    '/account', '/account/apps', '/account/apps/revoke', '/account/sessions', '/account/sessions/end', '/account/sessions/end-others', '/account/password',
  ], { client_id: [w => w.victim.clientId], session: [w => w.victim.sessionId], current_password: ['wrong'], new_password: ['lantern orchard velvet compass'], sign_out_others: ['yes'], cursor: ['x'] }),
  // The mailed-link pages (src/recovery): any browser's form token will do, the account one's here.
  ...pageRoutes('mailed-link pages', (w) => [w.account.cookie], (w) => w.account.csrf, () => [
    '/recover', '/recover/new-password', '/recover/done', '/sign-in-link', '/sign-in-link/confirm', '/sign-in-link/done',
  ], { email: ['nobody@example.test', 'not an address'], token: ['x', 'A'.repeat(43)], new_password: ['lantern orchard velvet compass'], sign_out_everywhere: ['yes'], interaction: ['x', 'A'.repeat(21)] }),
];

/** The admin API's paths with the victim's ids, under an admin's token, a non-admin's and none. */
function adminApiRoutes(): Route[] {
  const base = '/admin/api/v1';
  const paths = (w: World) => [
    '/users', `/users/${w.victim.userId}`, `/users/${w.victim.userId}/sessions`, `/users/${w.victim.userId}/sessions/${w.victim.sessionId}`,
    `/users/${w.victim.userId}/grants`, `/grants/${w.victim.grantId}`, `/clients`, `/clients/${w.victim.clientId}`, `/clients/${w.victim.clientId}/grants`,
    `/clients/${w.victim.clientId}/secret`, '/apis', `/apis/${encodeURIComponent(VICTIM_API)}`, '/keys', '/audit-events', '/openapi.json',
  ];
  return paths({ victim: { userId: ':user', clientId: ':client', grantId: ':grant', sessionId: ':session' } } as World).map((_template, index) => ({
    name: `admin API ${paths({ victim: { userId: '{user}', clientId: '{client}', grantId: '{grant}', sessionId: '{session}' } } as World)[index]}`,
    path: (w: World) => `${base}${paths(w)[index]}`,
    // Read-only methods only with the admin token: what an admin may destroy is not loss. Other
    // methods still arrive, one time in five, with any credential.
    methods: ['GET'],
    cookies: (w: World) => [w.admin.cookie],
    credentials: (w: World) => [`Bearer ${w.admin.bearer}`, `Bearer ${w.fuzzTokens.access}`, w.machineBasic],
    plausible: (w: World) => shaped(w, { search: [VICTIM_EMAIL, "%' OR '1'='1"], limit: ['1', '0', '201', '-1', 'x'], cursor: ['x', ''], client_id: [w.victim.clientId], type: ['user.created', 'nope'], since: ['2026-01-01', 'yesterday'] }),
  }));
}

/**
 * Every admin API operation that reads a JSON body, with bodies generated from the schema its
 * OpenAPI document declares, sent with the admin's token: so generated values reach the checks
 * behind the schema, and the stores behind those. Those with a path act on the victims.
 */
function adminApiJsonRoutes(): Route[] {
  // Only the operations' declarations are read here; none of them runs.
  const document = openApiDocument(adminApiOperations({} as AdminOperations), 'https://issuer.invalid') as unknown as {
    paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: JsonSchema } } } }>>;
    components: { schemas: Record<string, JsonSchema> };
  };
  const fill = (template: string, w: World) => template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = { user_id: w.victim.userId, client_id: w.victim.clientId, identifier: encodeURIComponent(VICTIM_API) }[name];
    if (value === undefined) throw new Error(`no victim for {${name}} in ${template}`);
    return value;
  });
  return Object.entries(document.paths).flatMap(([template, operations]) => Object.entries(operations).flatMap(([method, operation]) => {
    const schema = operation.requestBody?.content['application/json'].schema;
    if (!schema) return [];
    return [{
      name: `admin API ${method.toUpperCase()} ${template}, JSON as declared`,
      path: (w: World) => `/admin/api/v1${fill(template, w)}`,
      methods: [method.toUpperCase()],
      cookies: () => [],
      credentials: (w: World) => [`Bearer ${w.admin.bearer}`],
      authenticated: true,
      onlyItsMethods: true,
      // Each request a write (some an argon2 hash): half the usual runs each.
      runs: RUNS / 2,
      plausibleJson: (w: World) => arbitraryFor(schema, { components: document.components.schemas, text: adminText(w) }).map((body) => JSON.stringify(body)),
    }];
  }));
}

/** Strings for an admin API member: a realistic one by its name, or generated ones. */
function adminText(w: World): (member: string) => fc.Arbitrary<string> {
  const uris = [REDIRECT, REDIRECT, 'https://app.example.test/other', 'https://evil.example/cb', 'javascript:alert(1)', 'http://localhost:8080/cb', 'urn:ietf:rfc:8936'];
  const realistic: Record<string, string[]> = {
    email: ['fuzz.new@example.test', VICTIM_EMAIL, person.email], name: ['Fuzz Name'], given_name: ['Fuzz'], family_name: ['Name'],
    password: ['lantern orchard velvet compass', 'short'], scope: ['openid', SCOPE, 'notes:read', 'gatehouse:admin'], scopes: ['victim:read', 'notes:read', 'openid'],
    scope_descriptions: ['victim:read', 'Read the victim\'s things'], localized_scope_descriptions: ['de', 'en', 'victim:read'],
    identifier: ['https://new-api.example.test', NOTES_API, VICTIM_API], may_exchange_for: [NOTES_API, VICTIM_API], redirect_uris: uris, post_logout_redirect_uris: uris,
    client_uri: uris, logo_uri: uris, policy_uri: uris, tos_uri: uris, jwks_uri: uris, backchannel_logout_uri: uris, events_endpoint: uris,
    kty: ['EC', 'RSA'], crv: ['P-256'], kid: ['k1'], contacts: ['ops@example.test'], client_id: [w.victim.clientId, w.app.clientId],
  };
  return (member) => fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...(realistic[member] ?? ['fuzz'])) },
    // A realistic value with one character that text should never hold: only that one is wrong.
    // (In its second half, so a URL's scheme and host stay intact and the checks behind them meet it.)
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...(realistic[member] ?? ['fuzz'])), fc.constantFrom('\u0000', '\ud800', '\udc00'), fc.nat()).map(([good, bad, n]) => {
      const at = good.length - (n % (Math.ceil(good.length / 2) + 1));
      return good.slice(0, at) + bad + good.slice(at);
    }) },
    { weight: 2, arbitrary: nasty(40) },
    { weight: 1, arbitrary: value(w) },
  );
}

type Field = string | ((w: World) => string);

/** Server-rendered pages: GETs and form posts, with the signed-in browser's cookie and its CSRF token. */
function pageRoutes(name: string, cookies: (w: World) => string[], csrf: (w: World) => string, paths: (w: World) => string[], fields: Record<string, Field[]>): Route[] {
  const count = paths({ victim: { userId: 'u', clientId: 'c', grantId: 'g', sessionId: 's' } } as World).length;
  return Array.from({ length: count }, (_, index) => ({
    name: `${name} ${paths({ victim: { userId: '{user}', clientId: '{client}', grantId: '{grant}', sessionId: '{session}' } } as World)[index]}`,
    path: (w: World) => paths(w)[index]!,
    methods: ['GET', 'POST'],
    cookies,
    plausible: (w: World) => shaped(w, {
      csrf: [csrf(w)],
      ...Object.fromEntries(Object.entries(fields).map(([key, values]) => [key, values.map((v) => (typeof v === 'function' ? v(w) : v))])),
    }),
  }));
}

interface GeneratedRequest {
  method: string;
  path: string;
  query: Array<[string, string]>;
  rawQuery: boolean;
  body: Body;
  headers: { accept: string | undefined; contentType: string | undefined; contentEncoding: string | undefined; authorization: string | undefined; cookie: string | undefined; origin: string | undefined };
}

function requests(route: Route, w: World): fc.Arbitrary<GeneratedRequest> {
  const params = route.plausible ? fc.oneof({ weight: 3, arbitrary: route.plausible(w) }, { weight: 1, arbitrary: parameters(w) }) : parameters(w);
  const formBody = route.plausible
    ? fc.oneof({ weight: 3, arbitrary: fc.record({ params, raw: fc.boolean() }).map((b): Body => ({ kind: 'form', ...b })) }, { weight: 2, arbitrary: body(w) })
    : body(w);
  const shapedBody = route.plausibleJson
    ? fc.oneof({ weight: 3, arbitrary: route.plausibleJson(w).map((text): Body => ({ kind: 'json', text, contentType: 'application/json' })) }, { weight: 2, arbitrary: formBody })
    : formBody;
  return fc.record({
    method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...route.methods) }, { weight: route.onlyItsMethods ? 0 : 1, arbitrary: fc.constantFrom(...METHODS) }),
    path: pathVariant(route.path(w)),
    query: params,
    rawQuery: fc.boolean(),
    body: shapedBody,
    headers: headers(w, route.cookies(w), route.credentials?.(w) ?? [], route.authenticated),
  });
}

function toFetch(request: GeneratedRequest, issuer: string): { url: string; init: RequestInit } {
  const query = request.query.map(([k, v]) => `${encode(k, request.rawQuery)}=${encode(v, request.rawQuery)}`).join('&');
  const headerList: Record<string, string> = {};
  const { accept, contentType, contentEncoding, authorization, cookie, origin } = request.headers;
  if (accept !== undefined) headerList.accept = accept;
  if (authorization !== undefined) headerList.authorization = authorization;
  if (cookie !== undefined) headerList.cookie = cookie;
  if (origin !== undefined) headerList.origin = origin;
  let payload: string | Uint8Array | undefined;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    const b = request.body;
    if (b.kind === 'form') payload = b.params.map(([k, v]) => `${encode(k, b.raw)}=${encode(v, b.raw)}`).join('&');
    else if (b.kind === 'json') payload = b.text;
    else if (b.kind === 'bytes') payload = b.bytes;
    const sentType = b.kind === 'json' && b.contentType ? b.contentType : contentType;
    if (sentType !== undefined) headerList['content-type'] = sentType;
    if (contentEncoding !== undefined) headerList['content-encoding'] = contentEncoding;
  }
  return { url: `${issuer}${request.path}${query ? `?${query}` : ''}`, init: { method: request.method, headers: headerList, body: payload, redirect: 'manual' } };
}

const STACK_TRACE = [/\n\s+at \S/, /node_modules/, /\b(TypeError|RangeError|SyntaxError|ReferenceError|URIError):/, /\/src\/\w+\.ts/];

/** Where a redirect may lead: Gatehouse itself, or an address an app registered. */
function allowedDestination(location: string, issuer: string): boolean {
  const target = new URL(location, issuer);
  if (target.origin === issuer) return true;
  return [REDIRECT, POST_LOGOUT].includes(target.origin + target.pathname);
}

/** How requests were answered, per path, method, status and error: FUZZ_STATS=1 prints it, to check the generators still get past the first refusal. */
const STATS = new Map<string, number>();

async function send(request: GeneratedRequest): Promise<void> {
  const { url, init } = toFetch(request, world.issuer);
  const res = await fetch(url, init);
  const text = init.method === 'HEAD' ? '' : await res.text();
  const detail = /"(?:error_)?description":"([^"]{0,60})/.exec(text)?.[1] ?? /"error":"([^"]+)"/.exec(text)?.[1] ?? /<h1[^>]*>([^<]+)</.exec(text)?.[1] ?? '';
  const key = `${request.path.split('?')[0]!.slice(0, 40)}\t${init.method}\t${res.status}\t${detail}`;
  STATS.set(key, (STATS.get(key) ?? 0) + 1);
  const summary = `${init.method} ${url.slice(0, 300)} → ${res.status}: ${text.slice(0, 300)}`;
  expect(res.status, summary).toBeLessThan(500);
  for (const pattern of STACK_TRACE) expect(text, summary).not.toMatch(pattern);
  const location = res.headers.get('location');
  if (location) expect(allowedDestination(location, world.issuer), `${summary}\nLocation: ${location}`).toBe(true);
}

/** An admin (token and console browser) and a victim with a grant, a session and an app of their own. */
async function adminWorld(app: App): Promise<Pick<World, 'admin' | 'account' | 'victim'>> {
  const { client: automation, clientSecret } = await server.stores.clients.create({ name: 'Fuzz automation', clientCredentials: true, admin: true });
  const tokenResponse = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(automation.clientId, clientSecret!) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'gatehouse:admin' }),
  });
  const bearer = String(((await tokenResponse.json()) as { access_token: string }).access_token);
  const adminPerson = await server.stores.users.create({ email: 'fuzz-admin@example.test', name: 'Fuzz Admin', password: person.password, isAdmin: true });
  const { agent: adminBrowser, page: consolePage } = await signInToAccount(server, { email: adminPerson.email, password: person.password }, '/admin/people/new');
  const victimPerson = await server.stores.users.create({ email: VICTIM_EMAIL, name: 'Fuzz Victim', password: person.password });
  const { client: victimApp } = await server.stores.clients.create({ name: VICTIM_APP, redirectUris: [REDIRECT], scope: SCOPE });
  await server.stores.resources.create({ identifier: VICTIM_API, scope: 'victim:read' });
  await obtainTokens(server, app, { email: VICTIM_EMAIL, password: person.password }, { scope: SCOPE });
  const { agent: victimBrowser, page: accountPage } = await signInToAccount(server, { email: VICTIM_EMAIL, password: person.password }, '/account/sessions');
  const grantId = (await server.operations.grants.listGrants({ userId: victimPerson.id })).items[0]!.id;
  const sessionId = (await server.operations.sessions.listSessions(victimPerson.id)).items[0]!.id;
  // The generated posts must be able to get past CSRF, or they would test only its refusal.
  const csrfOf = (html: string) => {
    const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    expect(token, html.slice(0, 300)).toBeTruthy();
    return token!;
  };
  return {
    admin: { bearer, cookie: adminBrowser.cookieHeader(), csrf: csrfOf(consolePage.body) },
    account: { cookie: victimBrowser.cookieHeader(), csrf: csrfOf(accountPage.body) },
    victim: { userId: victimPerson.id, clientId: victimApp.clientId, grantId, sessionId },
  };
}

/** A device waiting for its code to be typed, and a browser (not signed in) on the page to type it. */
async function deviceWorld(): Promise<World['device']> {
  const { client } = await server.stores.clients.create({ name: 'Fuzzed TV', redirectUris: ['https://tv.example.test/cb'], public: true, deviceCode: true, scope: 'openid' });
  const started = await fetch(`${server.issuer}/device/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: client.clientId, scope: 'openid' }) });
  const { user_code: userCode } = (await started.json()) as { user_code: string };
  const browser = new UserAgent(server.issuer);
  const page = await browser.request(`${server.issuer}/device`);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
  return { cookie: browser.cookieHeader(), xsrf, userCode, clientId: client.clientId };
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  // The notes API polls for its security events; a poll answers at once, so none is held for the generator.
  server = await startTestServer({ SECURITY_EVENTS_POLL_WAIT: '0' });
  const notes = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notes:read', isDefault: true, eventsEndpoint: 'urn:ietf:rfc:8936' });
  const app = await registerApp(server, { scope: SCOPE, redirectUri: REDIRECT, postLogoutRedirectUri: POST_LOGOUT });
  const { client: machine, clientSecret: machineSecret } = await server.stores.clients.create({ name: 'Fuzz job', clientCredentials: true, scope: 'notes:read' });
  person = await createPerson(server, { name: 'Frances Fuzzed' });

  // Tokens the fuzzer never sees: they must still work afterwards. The browser they were obtained
  // in is one Gatehouse knows the person by (sign-in throttling trusts it, as it would the
  // person's own computer after an attack from elsewhere).
  const keptFlow = await obtainTokens(server, app, person, { scope: SCOPE });
  kept = { access: keptFlow.tokens.access_token, refresh: keptFlow.tokens.refresh_token! };
  knownBrowser = keptFlow.agent;

  const fuzzFlow = await obtainTokens(server, app, person, { scope: SCOPE });
  const logoutBrowser = fuzzFlow.agent;
  const logoutPage = await logoutBrowser.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: fuzzFlow.tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT })}`);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(logoutPage.body)![1]!;

  world = {
    issuer: server.issuer,
    app,
    appBasic: basic(app.clientId, app.clientSecret!),
    notesBasic: basic(notes.clientId, notes.clientSecret!),
    machineBasic: basic(machine.clientId, machineSecret!),
    fuzzTokens: { access: fuzzFlow.tokens.access_token, refresh: fuzzFlow.tokens.refresh_token!, id: fuzzFlow.tokens.id_token! },
    interactions: {
      page: await openInteraction(app),
      login: await openInteraction(app),
      confirm: await openInteraction(app, { signIn: true }),
      abort: await openInteraction(app),
    },
    logout: { cookie: logoutBrowser.cookieHeader(), xsrf },
    device: await deviceWorld(),
    ...(await adminWorld(app)),
  };
  storedBefore = await storedIds();
});

afterAll(async () => {
  if (process.env.FUZZ_STATS) console.log([...STATS].sort().map(([k, v]) => `${v}\t${k}`).join('\n'));
  await server?.stop();
});

describe('generated requests at every endpoint', () => {
  it.each(ROUTES.map((route, index) => [route.name, route, index] as const))('%s: no 5xx, no stack trace, no redirect off the registered addresses', async (_name, route, index) => {
    await fc.assert(fc.asyncProperty(requests(route, world), send), { seed: SEED + index, numRuns: route.runs ?? RUNS });
    // Still answering after the barrage.
    const health = await fetch(`${world.issuer}/healthz`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
  });

  it('any path at all, with any method: no 5xx', async () => {
    const anyPath = fc.tuple(fc.array(nasty(16), { minLength: 1, maxLength: 4 }), fc.boolean()).map(([segments, raw]) => `/${segments.map((s) => encode(s, raw).replace(/[?]/g, '%3F')).join('/')}`);
    const anyRequest = fc.record({
      method: fc.constantFrom(...METHODS),
      path: anyPath,
      query: parameters(world),
      rawQuery: fc.boolean(),
      body: body(world),
      headers: headers(world, [], []),
    });
    await fc.assert(fc.asyncProperty(anyRequest, send), { seed: SEED - 1, numRuns: RUNS });
  });
});

describe('after the fuzzing', () => {
  it('the server answers: alive and ready', async () => {
    const [health, ready] = await Promise.all([fetch(`${server.issuer}/healthz`), fetch(`${server.issuer}/readyz`)]);
    expect(health.status).toBe(200);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: 'ok' });
  });

  it('logged no server error, and no input that reached the database past a missing check', () => {
    const errors = server.logs.filter((line) => Number(line.level) >= 50 || line.event === 'unhandled_error' || line.event === 'input_reached_database');
    expect(errors.map((line) => JSON.stringify(line).slice(0, 500))).toEqual([]);
    expect(server.logs.filter((line) => line.msg === 'request' && Number(line.status) >= 500)).toEqual([]);
  });

  it('nothing stored was lost, and what was added the admin API created: people, apps, APIs and signing keys', async () => {
    const after = await storedIds();
    for (const [table, ids] of Object.entries(storedBefore)) expect(after[table], table).toEqual(expect.arrayContaining(ids));
    // Each new person, app and API has its creation audited with the admin's token as the actor
    // (an API brings its introspection client): nothing was made through a public route.
    const added = (table: string) => after[table]!.filter((id) => !storedBefore[table]!.includes(id)).length;
    const createdByAdmin = async (type: string) => Number((await server.testDb.db('audit_events').where({ type, actor_type: 'client' }).count<Array<{ count: string | number }>>({ count: '*' }))[0]!.count);
    const apis = await createdByAdmin('api.created');
    expect({ users: added('users'), clients: added('clients'), apis: added('resource_servers'), keys: added('signing_keys') }).toEqual({
      users: await createdByAdmin('user.created'), clients: (await createdByAdmin('client.created')) + apis, apis, keys: 0,
    });
  });

  it('tokens issued before the fuzzing still work', async () => {
    const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${kept.access}` } });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ sub: person.id });
    const refreshed = await client.refreshTokenGrant(world.app.config, kept.refresh);
    expect(refreshed.access_token).toBeTruthy();
  });

  it('the person created before signs in end to end: password, consent, code, tokens, userinfo', async () => {
    const request = await authorizationRequest(world.app, { prompt: 'login consent', scope: SCOPE });
    const callback = await signIn(knownBrowser, request.url, person);
    const tokens = await client.authorizationCodeGrant(world.app.config, callback, {
      pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true,
    });
    expect(tokens.claims()?.sub).toBe(person.id);
    const me = await client.fetchUserInfo(world.app.config, tokens.access_token, person.id);
    expect(me).toMatchObject({ sub: person.id, email: person.email });
  });
});
