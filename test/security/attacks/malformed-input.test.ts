// Oversized and malformed input (invalid UTF-8, deep nesting, 100 KB fields): a clear 4xx, never a 5xx.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { obtainTokens, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent } from '../../support/user-agent.js';
import {
  basic, expectErrorPage, FORM, KB, REDIRECT, SCOPE, startAttackTarget, type AttackTarget,
  type Credentials, type Person,
} from './target.js';

let target: AttackTarget;
let server: TestServer;
let notes: Credentials;
let app: App;
let twoUris: Credentials;
let person: Person;
let api: AttackTarget['api'];

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server, notes, app, twoUris, person, api } = target);
});

afterAll(async () => {
  await target?.stop();
});

describe('oversized and malformed input: a clear 4xx, never a 5xx', () => {
  let interaction: { loginAction: string; confirmAction: string; csrf: string; cookie: string };
  let accessToken: string;

  beforeAll(async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    accessToken = tokens.access_token;
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'm',
    })).href);
    const login = formOf(page.body, /\/login$/);
    const loginAction = new URL(login.action, page.url).href;
    interaction = { loginAction, confirmAction: loginAction.replace(/\/login$/, '/confirm'), csrf: login.csrf, cookie: agent.cookieHeader() };
  });

  const INVALID_UTF8 = ['%FF%FE', '%C0%AF', '%ED%A0%80', '%C3%28', '%F8%88%80%80%80', '%E2%82'];
  const deepJson = (depth: number) => `{"a":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
  const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

  interface Case {
    name: string;
    method?: string;
    path: () => string;
    headers?: () => Record<string, string>;
    body?: () => string | Uint8Array;
    status: number[];
    /** 'json': OAuth-style { error }; 'page': an HTML page with a heading; 'any': any 4xx body. */
    shape: 'json' | 'page' | 'any';
  }

  const browserForm = () => ({ cookie: interaction.cookie, 'content-type': FORM, accept: 'text/html' });
  const appForm = () => ({ authorization: basic(app.clientId, app.clientSecret!), 'content-type': FORM });
  const notesForm = () => ({ authorization: basic(notes.clientId, notes.clientSecret!), 'content-type': FORM });
  const raw = (...bytes: number[]) => () => Uint8Array.from(bytes);
  const prefixed = (text: string, ...bytes: number[]) => () => Uint8Array.from([...Buffer.from(text), ...bytes]);

  const cases: Case[] = [
    // Invalid UTF-8, percent-encoded, in the fields each endpoint must read.
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token grant_type ${bytes}`, method: 'POST', path: () => '/token', headers: appForm, body: () => `grant_type=${bytes}`, status: [400], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token code ${bytes}`, method: 'POST', path: () => '/token', headers: appForm, body: () => `grant_type=authorization_code&code=${bytes}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${'a'.repeat(43)}`, status: [400], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token client_id ${bytes}`, method: 'POST', path: () => '/token', headers: () => ({ 'content-type': FORM }), body: () => `grant_type=client_credentials&client_id=${bytes}&client_secret=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token/introspection client_id ${bytes}`, method: 'POST', path: () => '/token/introspection', headers: () => ({ 'content-type': FORM }), body: () => `token=x&client_id=${bytes}&client_secret=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/token/revocation client_id ${bytes}`, method: 'POST', path: () => '/token/revocation', headers: () => ({ 'content-type': FORM }), body: () => `token=x&client_id=${bytes}&client_secret=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/request client_id ${bytes}`, method: 'POST', path: () => '/request', headers: () => ({ 'content-type': FORM }), body: () => `client_id=${bytes}&client_secret=x&response_type=code`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/me access_token ${bytes}`, method: 'POST', path: () => '/me', headers: () => ({ 'content-type': FORM }), body: () => `access_token=${bytes}`, status: [400, 401], shape: 'json' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `login email and password ${bytes}`, method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => `csrf=${encodeURIComponent(interaction.csrf)}&email=${bytes}&password=${bytes}`, status: [400, 401, 429], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `login csrf ${bytes}`, method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => `csrf=${bytes}&email=a%40example.test&password=x`, status: [400, 403], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/session/end/confirm xsrf ${bytes}`, method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': FORM, accept: 'text/html' }), body: () => `xsrf=${bytes}&logout=yes`, status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/auth client_id ${bytes}`, path: () => `/auth?client_id=${bytes}&response_type=code&scope=openid`, headers: () => ({ accept: 'text/html' }), status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/auth redirect_uri ${bytes}`, path: () => `/auth?client_id=${app.clientId}&redirect_uri=https%3A%2F%2Fapp.example.test%2F${bytes}&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`, headers: () => ({ accept: 'text/html' }), status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/session/end client_id ${bytes}`, path: () => `/session/end?client_id=${bytes}`, headers: () => ({ accept: 'text/html' }), status: [400], shape: 'page' })),
    ...INVALID_UTF8.map((bytes): Case => ({ name: `/interaction/${bytes}`, path: () => `/interaction/${bytes}`, headers: () => ({ accept: 'text/html' }), status: [400, 404], shape: 'page' })),

    // Invalid UTF-8 as raw bytes in the body.
    { name: '/token with raw invalid bytes', method: 'POST', path: () => '/token', headers: appForm, body: prefixed('grant_type=', 0xff, 0xfe, 0xc0, 0xaf), status: [400], shape: 'json' },
    { name: '/token/introspection with raw invalid bytes', method: 'POST', path: () => '/token/introspection', headers: () => ({ 'content-type': FORM }), body: prefixed('token=x&client_id=', 0xff, 0xfe, 0xed, 0xa0, 0x80), status: [400, 401], shape: 'json' },
    { name: 'login with a body of raw invalid bytes', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: raw(0xff, 0xfe, 0x3d, 0xc0, 0xaf, 0x26, 0xed, 0xa0, 0x80), status: [400, 403], shape: 'page' },
    { name: 'login with raw invalid bytes in the password', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => Uint8Array.from([...Buffer.from(`csrf=${encodeURIComponent(interaction.csrf)}&email=${encodeURIComponent(person.email)}&password=`), 0xff, 0xfe, 0xc3, 0x28]), status: [400, 401, 429], shape: 'page' },

    // Deeply nested JSON where a form is expected.
    { name: '/token with deeply nested JSON', method: 'POST', path: () => '/token', headers: () => ({ ...appForm(), 'content-type': 'application/json' }), body: () => deepJson(20_000), status: [400, 413, 415], shape: 'json' },
    { name: '/token/introspection with JSON', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'application/json' }), body: () => JSON.stringify({ token: accessToken }), status: [400, 415], shape: 'json' },
    { name: '/token/introspection with deeply nested JSON', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'application/json' }), body: () => deepObject(5_000), status: [400, 413, 415], shape: 'json' },
    { name: '/token/revocation with deeply nested JSON', method: 'POST', path: () => '/token/revocation', headers: () => ({ ...appForm(), 'content-type': 'application/json' }), body: () => deepJson(20_000), status: [400, 413, 415], shape: 'json' },
    { name: '/request with deeply nested JSON', method: 'POST', path: () => '/request', headers: () => ({ ...appForm(), 'content-type': 'application/json' }), body: () => deepObject(5_000), status: [400, 413, 415], shape: 'json' },
    { name: '/me with deeply nested JSON', method: 'POST', path: () => '/me', headers: () => ({ 'content-type': 'application/json' }), body: () => deepJson(20_000), status: [400, 401, 413, 415], shape: 'json' },
    { name: 'login with deeply nested JSON', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: () => ({ ...browserForm(), 'content-type': 'application/json' }), body: () => deepObject(5_000), status: [400, 403, 413, 415], shape: 'page' },
    { name: '/session/end/confirm with deeply nested JSON', method: 'POST', path: () => '/session/end/confirm', headers: () => ({ 'content-type': 'application/json', accept: 'text/html' }), body: () => deepJson(20_000), status: [400, 413, 415], shape: 'page' },

    // Deeply nested form fields (qs-style brackets).
    { name: 'login with deeply nested form fields', method: 'POST', path: () => new URL(interaction.loginAction).pathname, headers: browserForm, body: () => `csrf=${encodeURIComponent(interaction.csrf)}&email${'[a]'.repeat(1_000)}=x&password${'[b]'.repeat(1_000)}=y`, status: [400, 413], shape: 'page' },
    { name: 'consent with deeply nested form fields', method: 'POST', path: () => new URL(interaction.confirmAction).pathname, headers: browserForm, body: () => `csrf${'[0]'.repeat(1_000)}=x&decision=allow`, status: [400, 403, 413], shape: 'page' },
    { name: '/token with deeply nested form fields', method: 'POST', path: () => '/token', headers: appForm, body: () => `grant_type${'[x]'.repeat(1_000)}=client_credentials`, status: [400], shape: 'json' },

    // Oversized input not covered by bad-input.test.ts.
    { name: '/me by POST with a 100 KB access_token', method: 'POST', path: () => '/me', headers: () => ({ 'content-type': FORM }), body: () => `access_token=${'A'.repeat(100 * KB)}`, status: [400, 401, 413], shape: 'any' },
    { name: 'consent with a 100 KB form', method: 'POST', path: () => new URL(interaction.confirmAction).pathname, headers: browserForm, body: () => `csrf=${encodeURIComponent(interaction.csrf)}&decision=${'A'.repeat(100 * KB)}`, status: [413], shape: 'page' },
    { name: '/token/introspection with a 100 KB token_type_hint', method: 'POST', path: () => '/token/introspection', headers: notesForm, body: () => `token=x&token_type_hint=${'A'.repeat(100 * KB)}`, status: [400, 413], shape: 'json' },
    { name: '/me with a 100 KB Authorization header', path: () => '/me', headers: () => ({ authorization: `Bearer ${'A'.repeat(100 * KB)}` }), status: [431], shape: 'any' },
    { name: '/token with a 100 KB Authorization header', method: 'POST', path: () => '/token', headers: () => ({ authorization: `Basic ${'A'.repeat(100 * KB)}`, 'content-type': FORM }), body: () => 'grant_type=client_credentials', status: [431], shape: 'any' },

    // Duplicates and the wrong content type at introspection (not in bad-input.test.ts).
    { name: '/token/introspection with duplicate tokens', method: 'POST', path: () => '/token/introspection', headers: notesForm, body: () => `token=${accessToken}&token=x`, status: [400], shape: 'json' },
    { name: '/token/introspection with a text/plain body', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'text/plain' }), body: () => `token=${accessToken}`, status: [400, 415], shape: 'json' },
    { name: '/token/introspection with a multipart body', method: 'POST', path: () => '/token/introspection', headers: () => ({ ...notesForm(), 'content-type': 'multipart/form-data; boundary=xyz' }), body: () => `--xyz\r\nContent-Disposition: form-data; name="token"\r\n\r\n${accessToken}\r\n--xyz--\r\n`, status: [400, 415], shape: 'json' },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await fetch(`${server.issuer}${c.path()}`, { method: c.method ?? 'GET', headers: c.headers?.() ?? {}, body: c.body?.(), redirect: 'manual' });
    const text = await res.text();
    expect(c.status, `${res.status}: ${text.slice(0, 300)}`).toContain(res.status);
    expect(res.headers.get('location')).toBeNull();
    expect(text).not.toMatch(/\n\s+at \S|node_modules|\b(TypeError|RangeError|SyntaxError|URIError):/);
    if (c.shape === 'json') {
      expect(res.headers.get('content-type'), text.slice(0, 200)).toMatch(/^application\/json/);
      const body = JSON.parse(text) as { error?: unknown; error_description?: unknown };
      expect(typeof body.error, text.slice(0, 200)).toBe('string');
    } else if (c.shape === 'page') {
      expect(res.headers.get('content-type'), text.slice(0, 200)).toMatch(/^text\/html/);
      expect(text).toMatch(/<h1[^>]*>[^<]+<\/h1>/);
    }
  });

  it('the resume address of an unknown sign-in, with a client_id in the query: a 4xx or an error for the app, not a 500', async () => {
    // Found by test/security/fuzz.test.ts. Client ids are public, so anyone can send this.
    for (const path of [`/auth/no-such-uid?client_id=${app.clientId}`, `/auth/%20?client_id=${app.clientId}`, `/auth/x?client_id=${twoUris.clientId}`]) {
      const res = await fetch(`${server.issuer}${path}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      const text = await res.text();
      expect(res.status, `${path}: ${res.status} ${text.slice(0, 200)}`).toBeLessThan(500);
      const location = res.headers.get('location');
      if (location) {
        const back = new URL(location);
        expect(back.origin + back.pathname).toBe(REDIRECT);
        expect(back.searchParams.get('error')).toBeTruthy();
        expect(back.searchParams.get('code')).toBeNull();
      } else {
        expectErrorPage({ status: res.status, headers: res.headers, body: text }, [400, 404]);
      }
    }
  });

  describe('at the example API', () => {
    async function postNote(body: string | Uint8Array, contentType = 'application/json') {
      const res = await fetch(`${api.url}/notes`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': contentType }, body });
      return { status: res.status, body: await res.text() };
    }

    const apiCases: Array<{ name: string; body: () => string; contentType: string; statuses: number[] }> = [
      { name: 'deeply nested JSON', body: () => `{"text":${'['.repeat(5_000)}${']'.repeat(5_000)}}`, contentType: 'application/json', statuses: [400] },
      { name: 'deeply nested JSON past the size limit', body: () => deepObject(20_000), contentType: 'application/json', statuses: [400, 413] },
      { name: 'a 100 KB note', body: () => JSON.stringify({ text: 'A'.repeat(100 * KB) }), contentType: 'application/json', statuses: [413] },
      { name: 'JSON that is not JSON', body: () => '{"text":', contentType: 'application/json', statuses: [400] },
      { name: 'a form where JSON is expected', body: () => 'text=hello', contentType: FORM, statuses: [400, 415] },
    ];

    it.each(apiCases.map((c) => [c.name, c] as const))('%s: a 4xx', async (_name, c) => {
      const res = await postNote(c.body(), c.contentType);
      expect(c.statuses, `${res.status}: ${res.body.slice(0, 200)}`).toContain(res.status);
    });

    it('a 100 KB Authorization header: 431', async () => {
      const res = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${'A'.repeat(100 * KB)}` } });
      await res.arrayBuffer();
      expect(res.status).toBe(431);
    });
  });
});
