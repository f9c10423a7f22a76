// SQL injection in every text input of the admin API: the ids in its paths, its search and audit
// filters, and every JSON field. Each answer is a 4xx or a correct result, never a 5xx, never a
// database error, never part of the SQL text sent to PostgreSQL (so an injected pg_sleep never
// runs); nothing stored is lost, and what is stored is the text as typed. The payloads are in
// ./target.ts, with a few aimed at LIKE and at timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi, type AdminApiClient, type ApiResponse } from '../../admin/api/support.js';
import { DATABASE_ERROR, INJECTED_SQL, rowCounts, SQL_INJECTION, sqlTextsSentBy, startAttackTarget, type AttackTarget } from './target.js';

const PAYLOADS = [
  ...SQL_INJECTION,
  "%' OR '1'='1",
  '1; SELECT pg_sleep(5)',
  "'; SELECT pg_sleep(5); --",
  '1) OR pg_sleep(5)--',
];
const INDEXED = PAYLOADS.map((payload, index) => [payload, index] as const);
const STRONG = 'a long and unguessable passphrase 7f3k';

let target: AttackTarget;
let api: AdminApiClient;
let before: Record<string, number>;
const stored = { users: 0, clients: 0, resource_servers: 0 };
let someone: string;
/** Every SQL text the server sent while the attacks ran. */
let sqlSent: string[] = [];
let someApp: string;
const SOME_API = 'https://attacked.example.test';

beforeAll(async () => {
  target = await startAttackTarget();
  api = await adminApi(target.server);
  someone = target.person.id;
  someApp = target.app.clientId;
  expect((await api.post('/apis', { identifier: SOME_API, scopes: ['attacked:read'] })).status).toBe(201);
  before = await rowCounts();
  sqlSent = sqlTextsSentBy(target.server);
});
afterAll(async () => { await target?.stop(); });

function expectSafe(name: string, res: ApiResponse): void {
  expect(res.status, `${name}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
  expect(res.text, name).not.toMatch(DATABASE_ERROR);
}

describe('SQL injection in the admin API', () => {
  it.each(PAYLOADS)('%j as every id in a path: not found, and nothing changes', async (payload) => {
    const id = encodeURIComponent(payload);
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', `/users/${id}`], ['DELETE', `/users/${id}`], ['POST', `/users/${id}/disable`], ['POST', `/users/${id}/enable`],
      ['POST', `/users/${id}/password`, { password: STRONG }],
      ['GET', `/users/${id}/sessions`], ['DELETE', `/users/${id}/sessions`], ['DELETE', `/users/${someone}/sessions/${id}`],
      ['GET', `/users/${id}/grants`], ['DELETE', `/users/${id}/grants?client_id=${someApp}`], ['DELETE', `/users/${someone}/grants?client_id=${id}`],
      ['GET', `/grants/${id}`], ['DELETE', `/grants/${id}`],
      ['GET', `/clients/${id}`], ['PATCH', `/clients/${id}`, { name: 'Renamed' }], ['DELETE', `/clients/${id}`],
      ['POST', `/clients/${id}/secret`, {}], ['POST', `/clients/${id}/disable`], ['POST', `/clients/${id}/enable`],
      ['GET', `/clients/${id}/grants`], ['DELETE', `/clients/${id}/grants`],
      ['GET', `/apis/${id}`], ['PATCH', `/apis/${id}`, { name: 'Renamed' }], ['DELETE', `/apis/${id}`],
      ['POST', `/apis/${id}/secret`, {}], ['POST', `/apis/${id}/disable`], ['POST', `/apis/${id}/enable`],
    ];
    for (const [method, path, json] of attempts) {
      const res = await api.call(method, path, json === undefined ? {} : { json });
      expectSafe(`${method} ${path}`, res);
      // A NUL in the query string is refused as input before anything is looked up.
      const refused = path.endsWith(`?client_id=${id}`) && payload.includes('\u0000') ? 400 : 404;
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(refused);
    }
    expect(await rowCounts()).toEqual(before);
  });

  it.each(PAYLOADS)('%j in the search, the audit filters and the paging: a correct result or 400', async (payload) => {
    const q = encodeURIComponent(payload);
    const search = await api.get(`/users?search=${q}`);
    expectSafe('search', search);
    if (search.status === 200) {
      // Only people whose email or name really starts with the text, taken literally.
      const prefix = payload.trim().toLowerCase();
      for (const user of search.body.items) {
        expect(user.email.toLowerCase().startsWith(prefix) || user.name.toLowerCase().startsWith(prefix), user.email).toBe(true);
      }
    } else {
      expect(search.status).toBe(400);
    }
    for (const filter of ['actor_id', 'user_id', 'client_id']) {
      const res = await api.get(`/audit-events?${filter}=${q}`);
      expectSafe(filter, res);
      if (res.status === 200) expect(res.body.items, filter).toEqual([]);
      else expect(res.status, filter).toBe(400);
    }
    for (const path of [
      `/audit-events?type=${q}`, `/audit-events?since=${q}`, `/audit-events?until=${q}`, `/audit-events?cursor=${q}`,
      `/users?cursor=${q}`, `/users?limit=${q}`, `/clients?cursor=${q}`, `/apis?cursor=${q}`,
      `/users/${someone}/sessions?cursor=${q}`, `/users/${someone}/grants?cursor=${q}`, `/clients/${someApp}/grants?cursor=${q}`,
    ]) {
      const res = await api.get(path);
      expectSafe(path, res);
      expect(res.status, `${path}: ${res.text}`).toBe(400);
    }
  });

  it.each(INDEXED)('%j in every JSON field: 400, or stored as the very text sent', async (payload, index) => {
    const hasNul = payload.includes('\u0000');
    // People: as names, stored verbatim; as an email, refused or verbatim; as a password, hashed.
    const named = await api.post('/users', { email: `named${index}@example.test`, name: payload, given_name: payload, family_name: payload, password: STRONG });
    expectSafe('POST /users names', named);
    if (hasNul) expect(named.status).toBe(400);
    else {
      expect(named.status, named.text).toBe(201);
      stored.users += 1;
      expect((await api.get(`/users/${named.body.id}`)).body).toMatchObject({ name: payload, given_name: payload, family_name: payload });
    }
    for (const email of [payload, `x${index}${payload.replace(/[^'a-z-]/gi, '')}@example.test`]) {
      const res = await api.post('/users', { email, name: 'Injected', password: STRONG });
      expectSafe('POST /users email', res);
      if (res.status === 201) {
        stored.users += 1;
        expect(res.body.email).toBe(email);
      } else expect(res.status).toBe(400);
    }
    const withPassword = await api.post('/users', { email: `pw${index}@example.test`, name: 'Password', password: `${payload} ${STRONG}`.slice(0, 128) });
    expectSafe('POST /users password', withPassword);
    expect(withPassword.status).toBe(201);
    stored.users += 1;
    expect((await target.server.stores.users.authenticate(`pw${index}@example.test`, `${payload} ${STRONG}`.slice(0, 128))).ok).toBe(true);
    expectSafe('reset password', await api.post(`/users/${withPassword.body.id}/password`, { password: payload, end_sessions: payload }));

    // Clients: the name is data; redirect URIs and scopes are refused or kept as sent.
    const client = await api.post('/clients', { name: payload, redirect_uris: [`https://app.example.test/cb?q=${payload}`], post_logout_redirect_uris: [`https://app.example.test/bye?q=${payload}`], scope: `openid x${index}:${payload.replace(/[\s"\\]/g, '')}` });
    expectSafe('POST /clients', client);
    if (client.status === 201) {
      stored.clients += 1;
      expect((await api.get(`/clients/${client.body.client_id}`)).body).toMatchObject({ name: payload, redirect_uris: [`https://app.example.test/cb?q=${payload}`] });
    } else expect(client.status).toBe(400);
    const machine = await api.post('/clients', { name: `Machine ${index}`, client_credentials: true, scope: payload, token_endpoint_auth_method: payload });
    expectSafe('POST /clients machine', machine);
    expect(machine.status).toBe(400);
    const renamed = await api.patch(`/clients/${target.otherApp.clientId}`, { name: payload, scope: payload, redirect_uris: [payload] });
    expectSafe('PATCH /clients', renamed);
    expect(renamed.status).toBe(400);
    const onlyName = await api.patch(`/clients/${target.otherApp.clientId}`, { name: payload });
    expectSafe('PATCH /clients name', onlyName);
    if (hasNul) expect(onlyName.status).toBe(400);
    else expect((await api.get(`/clients/${target.otherApp.clientId}`)).body.name).toBe(payload);
    expectSafe('POST secret', await api.post(`/clients/${someApp}/secret`, { overlap_seconds: payload }));

    // APIs: identifier, name, scopes and descriptions.
    const scope = `sqli${index}:read`;
    const created = await api.post('/apis', { identifier: `https://api${index}.example.test/${payload}`, name: payload, scopes: [scope], scope_descriptions: { [scope]: payload } });
    expectSafe('POST /apis', created);
    if (created.status === 201) {
      stored.resource_servers += 1;
      stored.clients += 1; // every API comes with its introspection client
      const read = await api.get(`/apis/${encodeURIComponent(created.body.identifier)}`);
      expect(read.body).toMatchObject({ name: payload, scope_descriptions: { [scope]: payload } });
    } else expect(created.status).toBe(400);
    const asScope = await api.post('/apis', { identifier: `https://scope${index}.example.test`, scopes: [payload] });
    expectSafe('POST /apis scopes', asScope);
    if (asScope.status === 201) {
      stored.resource_servers += 1;
      stored.clients += 1;
      expect(asScope.body.scopes).toEqual([payload]);
    } else expect([400, 409]).toContain(asScope.status);
    const changed = await api.patch(`/apis/${encodeURIComponent(SOME_API)}`, { name: payload, scope_descriptions: { 'attacked:read': payload } });
    expectSafe('PATCH /apis', changed);
    if (!hasNul) expect(changed.body).toMatchObject({ name: payload, scope_descriptions: { 'attacked:read': payload } });
    const rescoped = await api.patch(`/apis/${encodeURIComponent(SOME_API)}`, { scopes: [payload], access_token_ttl: payload });
    expectSafe('PATCH /apis scopes', rescoped);
    expect(rescoped.status).toBe(400);
  });

  it('every table still holds every row it had, plus exactly what was stored, and Gatehouse still works', async () => {
    expect(await rowCounts()).toEqual({
      users: before.users! + stored.users,
      clients: before.clients! + stored.clients,
      resource_servers: before.resource_servers! + stored.resource_servers,
    });
    expect((await api.get(`/users/${someone}`)).body.email).toBe(target.person.email);
    expect((await api.get(`/apis/${encodeURIComponent(SOME_API)}`)).body.scopes).toEqual(['attacked:read']);
    expect((await target.server.stores.users.authenticate(target.person.email, target.person.password)).ok).toBe(true);
    // No payload got past validation to be refused by PostgreSQL itself, or broke anything.
    expect(target.server.logs.filter((line) => /^admin_api\./.test(String(line.event)))).toEqual([]);
    expect(stored.users).toBeGreaterThan(PAYLOADS.length);
    expect(stored.clients).toBeGreaterThan(0);
  });

  it('no payload ever became SQL text: pg_sleep, DROP and the rest went as bound values', () => {
    expect(sqlSent.length).toBeGreaterThan(PAYLOADS.length);
    expect(sqlSent.filter((sql) => INJECTED_SQL.test(sql))).toEqual([]);
  });
});
