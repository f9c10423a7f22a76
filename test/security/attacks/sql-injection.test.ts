// SQL injection in the sign-in pages, the protocol endpoints' parameters and the stores the CLI calls.
// The payloads (SQL_INJECTION) and what a leaked database error looks like (DATABASE_ERROR) are in ./target.ts.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../../src/errors.js';
import { createPerson, obtainTokens, signIn, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent, type Response as AgentResponse } from '../../support/user-agent.js';
import {
  asJson, basic, creds, DATABASE_ERROR, expectErrorPage, FORM, post, REDIRECT, rowCounts,
  SQL_INJECTION, startAttackTarget, userinfoStatus, type AttackTarget, type Credentials,
  type JsonResponse, type Person,
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

describe('SQL injection', () => {
  describe('in every text input of the sign-in pages', () => {
    let agent: UserAgent;
    let login: { action: string; csrf: string };
    let before: Record<string, number>;
    /** One account per payload, so sign-in throttling (a 429 after a few failures) does not hide the password check. */
    const victims: string[] = [];
    // 429 is sign-in throttling (test/security/throttling*): a 4xx as good as any other here.
    const REFUSED = [400, 401, 429];

    beforeAll(async () => {
      for (const _payload of SQL_INJECTION) victims.push((await createPerson(server)).email);
      before = await rowCounts();
      // The person signs in once from this browser (a browser Gatehouse knows), then comes back
      // to a sign-in page with prompt=login: the page the attacks below are typed into.
      agent = new UserAgent(server.issuer);
      const url = (prompt: string) => client.buildAuthorizationUrl(app.config, {
        redirect_uri: REDIRECT, scope: 'openid', prompt, state: 'sqli',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      });
      await signIn(agent, url('consent'), person);
      const page = await agent.follow(url('login').href);
      login = formOf(page.body, /\/login$/);
      login.action = new URL(login.action, page.url).href;
    });

    it.each(SQL_INJECTION)('email %j: 4xx, no redirect', async (payload) => {
      const res = await agent.request(login.action, { form: { csrf: login.csrf, email: payload, password: 'anything' } });
      expectErrorPageOrLogin(res, REFUSED);
    });

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('password %j for an existing account: 4xx, no redirect', async (payload, index) => {
      const res = await agent.request(login.action, { form: { csrf: login.csrf, email: victims[index]!, password: payload } });
      expectErrorPageOrLogin(res, REFUSED);
    });

    it.each(SQL_INJECTION)('the real email followed by %j: 4xx, no redirect', async (payload) => {
      const res = await agent.request(login.action, { form: { csrf: login.csrf, email: `${person.email}${payload}`, password: payload } });
      expectErrorPageOrLogin(res, REFUSED);
    });

    it.each(SQL_INJECTION)('csrf %j: 403', async (payload) => {
      const res = await agent.request(login.action, { form: { csrf: payload, email: person.email, password: person.password } });
      expectErrorPage(res, 403);
    });

    it.each(SQL_INJECTION)('the interaction id in the address %j: 4xx', async (payload) => {
      const uid = encodeURIComponent(payload);
      expectErrorPage(await agent.request(`${server.issuer}/interaction/${uid}`), [400, 404]);
      expectErrorPage(await agent.request(`${server.issuer}/interaction/${uid}/login`, { form: { csrf: login.csrf, email: person.email, password: person.password } }), [400, 404]);
      expectErrorPage(await agent.request(`${server.issuer}/interaction/${uid}/confirm`, { form: { csrf: login.csrf, decision: payload } }), [400, 404]);
    });

    it('nothing stored was touched, and the person still signs in on the page that took the attacks', async () => {
      expect(await rowCounts()).toEqual(before);
      const done = await agent.follow(login.action, { form: { csrf: login.csrf, email: person.email, password: person.password } });
      expect(done.leftTo ?? done.body).toMatch(/code=|name="decision"/);
    });

    function expectErrorPageOrLogin(res: AgentResponse, status: number[]) {
      // The login page again, with its one message for every failure: a 4xx, never a redirect.
      expect(status, `${res.status}: ${res.body.slice(0, 300)}`).toContain(res.status);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.body).not.toMatch(DATABASE_ERROR);
    }
  });

  describe('in the protocol endpoints\' parameters', () => {
    const grants = (res: JsonResponse) => res.body.access_token === undefined && res.body.refresh_token === undefined && res.body.request_uri === undefined;

    it.each(SQL_INJECTION)('%j as client_id, code, refresh_token, token, hint and scope: never a 5xx, nothing granted', async (payload) => {
      const attempts: Array<[string, JsonResponse]> = [
        ['/token client_id (post)', await post('/token', undefined, { grant_type: 'client_credentials', client_id: payload, client_secret: payload })],
        ['/token client_id (basic)', await asJson(await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic(payload, payload) }, body: 'grant_type=client_credentials' }))],
        ['/token code', await post('/token', creds(app), { grant_type: 'authorization_code', code: payload, redirect_uri: REDIRECT, code_verifier: 'a'.repeat(43) })],
        ['/token redirect_uri and code_verifier', await post('/token', creds(app), { grant_type: 'authorization_code', code: 'x', redirect_uri: payload, code_verifier: payload })],
        ['/token refresh_token', await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: payload })],
        ['/token scope', await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: 'x', scope: payload })],
        ['/token grant_type', await post('/token', creds(app), { grant_type: payload })],
        ['/token/introspection token', await post('/token/introspection', notes, { token: payload, token_type_hint: payload })],
        ['/token/revocation token', await post('/token/revocation', creds(app), { token: payload, token_type_hint: payload })],
        ['/request client_id and scope', await post('/request', creds(app), { client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: payload, state: payload, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', login_hint: payload, resource: payload })],
        ['/me bearer', await asJson(await fetch(`${server.issuer}/me`, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams({ access_token: payload }) }))],
      ];
      for (const [name, res] of attempts) {
        expect(res.status, `${name}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
        expect(grants(res), `${name}: ${res.text.slice(0, 200)}`).toBe(true);
        if (name.startsWith('/token/introspection')) expect(res.body).toEqual({ active: false });
        else if (!name.startsWith('/token/revocation')) expect(res.status, name).toBeGreaterThanOrEqual(400);
        expect(res.text, name).not.toMatch(DATABASE_ERROR);
      }
    });

    it.each(SQL_INJECTION)('%j in the authorization and logout requests: a page or an error for the app, never a 5xx', async (payload) => {
      const browser = new UserAgent(server.issuer);
      const auth = (extra: Record<string, string>) => `${server.issuer}/auth?${new URLSearchParams({
        client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra,
      })}`;
      const responses: Array<[string, AgentResponse]> = [
        ['/auth client_id', await browser.request(auth({ client_id: payload }))],
        ['/auth redirect_uri', await browser.request(auth({ redirect_uri: payload }))],
        ['/auth scope', await browser.request(auth({ scope: `openid ${payload}` }))],
        ['/auth resource', await browser.request(auth({ resource: payload }))],
        ['/auth login_hint, state, nonce', await browser.request(auth({ login_hint: payload, state: payload, nonce: payload }))],
        ['/session/end client_id', await browser.request(`${server.issuer}/session/end?${new URLSearchParams({ client_id: payload })}`)],
        ['/session/end id_token_hint', await browser.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: payload })}`)],
        ['/session/end/confirm xsrf', await browser.request(`${server.issuer}/session/end/confirm`, { form: { xsrf: payload, logout: 'yes' } })],
      ];
      for (const [name, res] of responses) {
        expect(res.status, `${name}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
        const location = res.headers.get('location');
        if (location) {
          // Only on to Gatehouse's own sign-in page or back to the registered address.
          const target = new URL(location, server.issuer);
          expect([server.issuer, new URL(REDIRECT).origin], `${name}: ${location}`).toContain(target.origin);
          if (target.origin !== server.issuer) expect(target.searchParams.get('code'), name).toBeNull();
        } else {
          expect(res.status, name).toBeGreaterThanOrEqual(400);
        }
        expect(res.body, name).not.toMatch(DATABASE_ERROR);
      }
    });
  });

  describe('in the stores the CLI calls: invalid_input, or stored verbatim as data', () => {
    let before: Record<string, number>;
    let stored: Record<string, number>;
    const STRONG = 'a long and unguessable passphrase 7f3k';

    beforeAll(async () => {
      before = await rowCounts();
      stored = { users: 0, clients: 0, resource_servers: 0 };
    });

    /** Runs a store call: it either succeeds or throws Gatehouse's own error, never a database error. */
    async function attempt<T>(what: string, call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
      try {
        return { ok: true, value: await call() };
      } catch (error) {
        expect(isGatehouseError(error), `${what} threw ${String(error)}`).toBe(true);
        return { ok: false, code: (error as { code: string }).code };
      }
    }

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('users: %j', async (payload, index) => {
      const users = server.stores.users;
      // As an email: not an address at all, or (with an apostrophe) a valid one stored as typed.
      for (const email of [payload, `x${index}${payload.replace(/[^'a-z-]/gi, '')}@example.test`]) {
        const result = await attempt('users.create(email)', () => users.create({ email, name: 'Injected', password: STRONG }));
        if (result.ok) {
          stored.users! += 1;
          expect(result.value.email).toBe(email);
          expect((await server.testDb.db('users').where({ id: result.value.id }).first()).email).toBe(email);
        } else {
          expect(result.code).toBe('invalid_input');
        }
      }
      // As names: data, stored verbatim (a NUL is refused before it reaches the database).
      const named = await attempt('users.create(name)', () => users.create({
        email: `named${index}.${Date.now()}@example.test`, name: payload, givenName: payload, familyName: payload, password: STRONG,
      }));
      if (payload.includes('\u0000')) {
        expect(named).toEqual({ ok: false, code: 'invalid_input' });
      } else {
        expect(named.ok).toBe(true);
        stored.users! += 1;
        const row = await server.testDb.db('users').where({ id: (named as { value: { id: string } }).value.id }).first();
        expect([row.name, row.given_name, row.family_name]).toEqual([payload, payload, payload]);
      }
      // As a password: hashed, and it signs in like any other.
      const email = `pw${index}.${Date.now()}@example.test`;
      const withPassword = await attempt('users.create(password)', () => users.create({ email, name: 'Password Person', password: `${payload} ${STRONG}` }));
      expect(withPassword.ok).toBe(true);
      stored.users! += 1;
      expect((await users.authenticate(email, `${payload} ${STRONG}`)).ok).toBe(true);
      expect((await users.authenticate(email, payload)).ok).toBe(false);

      // As lookups: nothing found, nothing thrown.
      expect(await users.findByEmail(payload)).toBeUndefined();
      expect(await users.findById(payload)).toBeUndefined();
      expect(await users.authenticate(payload, payload)).toEqual({ ok: false, reason: 'unknown_email' });
    });

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('clients: %j', async (payload, index) => {
      const clients = server.stores.clients;
      const named = await attempt('clients.create(name)', () => clients.create({ name: payload, redirectUris: ['https://app.example.test/cb'] }));
      if (payload.includes('\u0000')) {
        expect(named).toEqual({ ok: false, code: 'invalid_input' });
      } else {
        expect(named.ok).toBe(true);
        stored.clients! += 1;
        const { client: created } = (named as { value: { client: { clientId: string } } }).value;
        expect((await server.testDb.db('clients').where({ client_id: created.clientId }).first()).name).toBe(payload);
        expect((await clients.find(created.clientId))?.name).toBe(payload);
      }
      // In a redirect URI: refused when it is no URI (spaces, quotes where they cannot be), else stored as typed.
      const uri = `https://app.example.test/cb?q=${payload}`;
      const withUri = await attempt('clients.create(redirectUris)', () => clients.create({ name: `Uri ${index}`, redirectUris: [uri] }));
      if (withUri.ok) {
        stored.clients! += 1;
        expect(withUri.value.client.redirectUris).toEqual([uri]);
      } else {
        expect(withUri.code).toBe('invalid_input');
      }
      // As a scope word (scope words cannot hold spaces, quotes or backslashes).
      const word = `x${index}:${payload.replace(/[\s"\\]/g, '')}`;
      const withScope = await attempt('clients.create(scope)', () => clients.create({ name: `Scope ${index}`, redirectUris: ['https://app.example.test/cb'], scope: `openid ${word}` }));
      if (withScope.ok) {
        stored.clients! += 1;
        expect(withScope.value.client.scope.split(' ')).toContain(word);
      } else {
        expect(withScope.code).toBe('invalid_input');
      }
      expect(await clients.find(payload)).toBeUndefined();
    });

    it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('resource servers: %j', async (payload, index) => {
      const resources = server.stores.resources;
      const identifier = `https://api${index}.example.test/${payload}`;
      const scope = `sqli${index}:read`;
      const created = await attempt('resources.create', () => resources.create({ identifier, name: payload, scope, scopeDescriptions: { [scope]: payload } }));
      if (created.ok) {
        stored.resource_servers! += 1;
        stored.clients! += 1; // every API comes with its introspection client
        const found = await resources.find(identifier);
        expect(found).toMatchObject({ identifier, name: payload, scopeDescriptions: { [scope]: payload } });
      } else {
        expect(created.code).toBe('invalid_input');
        expect(await resources.find(identifier)).toBeUndefined();
      }
      // As a name and a description only, under a plain identifier: always data.
      const plain = await attempt('resources.create(name)', () => resources.create({
        identifier: `https://plain${index}.example.test`, name: payload, scope: `plain${index}:read`, scopeDescriptions: { [`plain${index}:read`]: payload },
      }));
      if (payload.includes('\u0000')) {
        expect(plain).toEqual({ ok: false, code: 'invalid_input' });
      } else {
        expect(plain.ok).toBe(true);
        stored.resource_servers! += 1;
        stored.clients! += 1;
        expect(await resources.find(`https://plain${index}.example.test`)).toMatchObject({ name: payload });
      }
      // As a scope: not a scope word, or stored as one.
      const asScope = await attempt('resources.create(scope)', () => resources.create({ identifier: `https://scope${index}.example.test`, scope: payload }));
      if (asScope.ok) {
        stored.resource_servers! += 1;
        stored.clients! += 1;
        expect(asScope.value.resourceServer.scopes.join(' ')).toBe(payload.trim().split(/\s+/).join(' '));
      } else {
        expect(['invalid_input', 'conflict']).toContain(asScope.code);
      }
      expect(await resources.find(payload)).toBeUndefined();
    });

    it('every table still holds every row it had, plus exactly what was stored', async () => {
      const after = await rowCounts();
      expect(after).toEqual({
        users: before.users! + stored.users!,
        clients: before.clients! + stored.clients!,
        resource_servers: before.resource_servers! + stored.resource_servers!,
      });
      // And the person from before still signs in end to end.
      const { tokens } = await obtainTokens(server, app, person);
      expect(await userinfoStatus(tokens.access_token)).toBe(200);
    });
  });
});
