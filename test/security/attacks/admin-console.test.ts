// CSRF and SQL injection in the admin console: every form it renders, posted without its token,
// with another browser's token, or with a token but no session; injection strings in every
// search, filter, address and form field. The target and the helpers are in ./target.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConsoleRoutes } from '../../../src/admin/console/routes.js';
import type { SurfaceDependencies } from '../../../src/http/surfaces.js';
import { createAdmin, signInToConsole } from '../../admin/console/support.js';
import { authenticatorFor } from '../../factors/support.js';
import { createPerson, obtainTokens, PASSWORD } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent, type Response } from '../../support/user-agent.js';
import { DATABASE_ERROR, expectErrorPage, FORM, INJECTED_SQL, NOTES_API, rowCounts, SQL_INJECTION, sqlTextsSentBy, startAttackTarget, type AttackTarget } from './target.js';
import { written } from '../../support/changes.js';

let target: AttackTarget;
let server: TestServer;
let admin: UserAgent; // an administrator's browser, signed in
let adminCsrf: string;
let other: UserAgent; // another administrator's browser, signed in
let otherCsrf: string;
let victimId: string;
let victimEmail: string;
const STRONG = 'a long and unguessable passphrase 7f3k';
const decode = (v: string) => v.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

beforeAll(async () => {
  // Invitations on, so the console shows every form it has (adding by invitation, inviting again).
  target = await startAttackTarget({ SIGNUP: 'invite' });
  ({ server } = target);
  ({ agent: admin, csrf: adminCsrf } = await signInToConsole(server, await createAdmin(server)));
  ({ agent: other, csrf: otherCsrf } = await signInToConsole(server, await createAdmin(server)));
  const victim = await createPerson(server, { name: 'Victor Victim' });
  victimId = victim.id;
  victimEmail = victim.email;
  await obtainTokens(server, target.app, victim);
}, 60_000);

afterAll(async () => { await target?.stop(); });

/** Everything an action could change, as digests: equal before and after means nothing changed. */
async function snapshot(): Promise<Record<string, unknown>> {
  const digest = (table: string, columns: string, order: string, where = 'true') =>
    `(select md5(coalesce(string_agg(t::text, '|' order by ${order}), '')) from (select ${columns} from ${table} where ${where}) t)`;
  const { rows } = await server.db.raw(`select
    ${digest('users', 'id, email, name, is_admin, disabled_at, password_hash', 'id')} as users,
    ${digest('clients', 'client_id, name, secret_digest, previous_secret_digest, redirect_uris, scope, disabled_at', 'client_id')} as clients,
    ${digest('resource_servers', 'identifier, name, scope, scope_descriptions, access_token_ttl, disabled_at', 'identifier')} as apis,
    ${digest('signing_keys', '*', '1')} as keys,
    ${digest('oidc_records', 'model, id_digest, consumed_at', 'model, id_digest', `model in ('Session', 'Grant', 'AccessToken', 'RefreshToken')`)} as records,
    (select count(*) from audit_events) as audit`);
  return rows[0];
}

interface Form { page: string; action: string; fields: Record<string, string> }

/** The POST forms of a console page with what they would submit, empty required fields filled in validly. */
function formsOf(page: string, html: string): Form[] {
  let n = 0;
  const fill: Record<string, () => string> = {
    email: () => `mallory${n += 1}.${Date.now()}@example.test`, name: () => 'Mallory', password: () => STRONG,
    identifier: () => `https://evil${n += 1}.${Date.now()}.example.test`, scopes: () => `evil${n += 1}${Date.now()}:read`,
    redirectUris: () => 'https://evil.example.test/cb',
  };
  return [...html.matchAll(/<form method="post" action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)].map(([, action, inner]) => {
    const fields: Record<string, string> = {};
    for (const [, attrs] of inner!.matchAll(/<input ([^>]*)>/g)) {
      const attr = (name: string) => new RegExp(`\\b${name}(?:="([^"]*)")?`).exec(attrs!);
      const name = attr('name')?.[1];
      if (!name || (/type="(checkbox|radio)"/.test(attrs!) && !attr('checked'))) continue;
      fields[name] = decode(attr('value')?.[1] ?? '');
    }
    for (const [, name, text] of inner!.matchAll(/<textarea [^>]*name="([^"]+)"[^>]*>([\s\S]*?)<\/textarea>/g)) fields[name!] = decode(text!);
    for (const [, name, options] of inner!.matchAll(/<select [^>]*name="([^"]+)"[^>]*>([\s\S]*?)<\/select>/g)) fields[name!] = /<option value="([^"]*)" selected>/.exec(options!)?.[1] ?? '';
    for (const [name, value] of Object.entries(fields)) if (!value && fill[name]) fields[name] = fill[name]!();
    return { page, action: new URL(decode(action!), server.issuer).href, fields };
  });
}

describe('CSRF on every console form', () => {
  let forms: Form[];
  let before: Record<string, unknown>;

  beforeAll(async () => {
    const person = await createPerson(server);
    await written(server, () => server.stores.users.setDisabled(person.id, true));
    // Someone whose address is unverified: their page has the "send a verification link" form.
    const unverified = await server.stores.users.create({ email: `unverified.${Date.now()}@example.test`, name: 'Unverified', password: PASSWORD });
    const app = (await server.stores.clients.create({ name: 'Disabled App', redirectUris: ['https://d.example.test/cb'] })).client;
    await written(server, () => server.stores.clients.setDisabled(app.clientId, true));
    await written(server, () => server.stores.resources.setDisabled(NOTES_API, true));
    await server.stores.resources.create({ identifier: 'https://ledger.example.test', scope: 'ledger:read' });
    const { user: invited } = await server.operations.people.inviteUser({ type: 'system', id: 'test' }, { email: `invited.${Date.now()}@example.test`, name: 'Ivy Invited' });
    // Someone with an authenticator app: their page has the "remove every sign-in method" form.
    const secured = await createPerson(server);
    const begun = await server.factors.store.beginTotp(secured.id, secured.email, 'Gatehouse');
    await server.db.transaction((trx) => server.factors.store.confirmTotp(trx, secured.id, begun.id, authenticatorFor(begun.base32).code(Date.now()), 'Phone'));
    // An initial access token: the registration tokens page has its "revoke" form.
    await server.operations.registration.create({ type: 'system', id: null }, { description: 'crawled' });
    const api = `/admin/apis/${encodeURIComponent(NOTES_API)}`;
    const pages = [
      '/admin/people/new', `/admin/people/${victimId}`, `/admin/people/${victimId}/delete`, `/admin/people/${person.id}`, `/admin/people/${invited.id}`, `/admin/people/${unverified.id}`, `/admin/people/${secured.id}`,
      '/admin/apps/new', `/admin/apps/${target.app.clientId}`, `/admin/apps/${target.app.clientId}/delete`, `/admin/apps/${app.clientId}`,
      '/admin/apis/new', api, `${api}/delete`, `/admin/apis/${encodeURIComponent('https://ledger.example.test')}`, '/admin/keys', '/admin/registration-tokens',
    ];
    forms = [];
    for (const page of pages) {
      const res = await admin.request(`${server.issuer}${page}`);
      expect(res.status, page).toBe(200);
      forms.push(...formsOf(page, res.body));
    }
    before = await snapshot();
  });

  it('the pages crawled hold a form for every POST route of the console', () => {
    const router = adminConsoleRoutes({ operations: {} } as SurfaceDependencies);
    const routes = router.stack.filter((layer) => layer.methods.includes('POST')).map((layer) => String(layer.path));
    expect(routes.length).toBeGreaterThan(20);
    for (const route of routes) {
      const pattern = new RegExp(`^${server.issuer}${route.replace(/:[a-zA-Z]+/g, '[^/]+')}$`);
      expect(forms.some((form) => pattern.test(form.action)), route).toBe(true);
    }
  });

  const attacks: Array<[string, (form: Form) => Promise<Response>]> = [
    ['without a token', (form) => admin.request(form.action, { form: { ...form.fields, csrf: '' } })],
    ['with the token left out entirely', (form) => { const { csrf: _csrf, ...fields } = form.fields; return admin.request(form.action, { form: fields }); }],
    ['with another browser\'s token', (form) => admin.request(form.action, { form: { ...form.fields, csrf: otherCsrf } })],
    ['with a token but no session', async (form) => {
      const stranger = new UserAgent(server.issuer);
      const { csrf } = formOf((await stranger.follow(`${server.issuer}${form.page}`)).body, /\/login$/);
      return stranger.request(form.action, { form: { ...form.fields, csrf } });
    }],
    ['from another site (no cookies), with the admin\'s token', async (form) => {
      const res = await fetch(form.action, { method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, accept: 'text/html', origin: 'https://evil.example.test' }, body: new URLSearchParams({ ...form.fields, csrf: adminCsrf }) });
      return { url: form.action, status: res.status, headers: res.headers, body: await res.text() };
    }],
  ];

  it.each(attacks)('every form posted %s is refused with 403, and nothing changes', async (_name, attack) => {
    for (const form of forms) {
      const res = await attack(form);
      expectErrorPage(res, 403);
      expect(res.headers.get('location'), form.action).toBeNull();
    }
    expect(await snapshot()).toEqual(before);
  });

  it('the same forms with the right token do act (so the refusals above are the defence at work)', async () => {
    const disable = forms.find((form) => form.action.endsWith(`/admin/people/${victimId}/disable`))!;
    expect((await admin.request(disable.action, { form: disable.fields })).status).toBe(303);
    expect((await server.stores.users.findById(victimId))?.disabledAt).toBeInstanceOf(Date);
    await written(server, () => server.stores.users.setDisabled(victimId, false));
    // Another administrator's own token is good in their own browser.
    const rotate = forms.find((form) => form.action.endsWith('/admin/keys/rotate'))!;
    expect((await other.request(rotate.action, { form: { csrf: otherCsrf } })).status).toBe(303);
  });
});

describe('SQL injection in the console', () => {
  let counts: Record<string, number>;
  const created = { users: 0, clients: 0, resource_servers: 0 };

  let sqlSent: string[] = [];

  beforeAll(async () => {
    counts = await rowCounts();
    sqlSent = sqlTextsSentBy(server);
  });

  /** A 4xx page or an answer that shows the input as data: never a 5xx, a database error or SQL. */
  async function expectSafe(label: string, send: () => Promise<Response>, allowed: number[]): Promise<Response> {
    const res = await send();
    expect(sqlSent.filter((sql) => INJECTED_SQL.test(sql)), `${label}: a payload became SQL`).toEqual([]);
    expect(allowed, `${label}: ${res.status} ${res.body.slice(0, 300)}`).toContain(res.status);
    expect(res.body, label).not.toMatch(DATABASE_ERROR);
    return res;
  }

  it.each(SQL_INJECTION)('%j in the search, the audit filters and the page cursors', async (payload) => {
    const q = encodeURIComponent(payload);
    const people = await expectSafe('search', () => admin.request(`${server.issuer}/admin/people?search=${q}`), [200]);
    expect([...people.body.matchAll(/<th scope="row"><a href="\/admin\/people\//g)], 'search found people').toHaveLength(0);
    for (const name of ['actor', 'user', 'client']) {
      const log = await expectSafe(name, () => admin.request(`${server.issuer}/admin/audit?${name}=${q}`), [200, 400]);
      if (log.status === 200) expect(log.body, name).toContain('Nothing in the log matches.');
    }
    for (const name of ['type', 'since', 'until']) await expectSafe(name, () => admin.request(`${server.issuer}/admin/audit?${name}=${q}`), [400]);
    for (const path of ['/admin/people?cursor=', '/admin/apps?cursor=', '/admin/apis?cursor=', '/admin/audit?cursor=', `/admin/people/${victimId}?sessions=`, `/admin/people/${victimId}?grants=`, `/admin/apps/${target.app.clientId}?grants=`]) {
      await expectSafe(path, () => admin.request(`${server.issuer}${path}${q}`), [400]);
    }
  });

  it.each(SQL_INJECTION)('%j in every address naming a person, app, API, session or grant: 404', async (payload) => {
    const id = encodeURIComponent(payload);
    for (const path of [`/admin/people/${id}`, `/admin/apps/${id}`, `/admin/apis/${id}`, `/admin/people/${id}/delete`]) {
      await expectSafe(path, () => admin.request(`${server.issuer}${path}`), [404]);
    }
    for (const path of [`/admin/people/${id}/disable`, `/admin/people/${victimId}/sessions/${id}/end`, `/admin/people/${victimId}/grants/${id}/revoke`, `/admin/people/${victimId}/apps/${id}/revoke`, `/admin/apps/${id}/revoke-grants`, `/admin/apps/${target.app.clientId}/grants/${id}/revoke`, `/admin/apis/${id}/disable`]) {
      await expectSafe(path, () => admin.request(`${server.issuer}${path}`, { form: { csrf: adminCsrf } }), [404]);
    }
  });

  it.each(SQL_INJECTION.map((payload, index) => [payload, index] as const))('%j in every form field: refused, or stored as typed', async (payload, index) => {
    const post = (path: string, fields: Record<string, string>, allowed: number[]) =>
      expectSafe(`${path} ${JSON.stringify(fields)}`, () => admin.request(`${server.issuer}${path}`, { form: { csrf: adminCsrf, ...fields } }), allowed);
    const nul = payload.includes('\u0000');
    // People: an email that is none is refused; a name is data.
    await post('/admin/people', { email: payload, name: 'X', password: STRONG }, [400]);
    const named = await post('/admin/people', { email: `sqli${index}.${Date.now()}@example.test`, name: payload, password: STRONG }, nul ? [400] : [303]);
    if (named.status === 303) {
      created.users += 1;
      const id = /\/admin\/people\/([^?]+)/.exec(named.headers.get('location')!)![1]!;
      expect((await server.stores.users.findById(id))?.name).toBe(payload.trim());
    }
    // A password is data too: refused as guessable, or (long enough) hashed and usable.
    const password = await post(`/admin/people/${victimId}/password`, { password: payload }, [303, 400]);
    if (password.status === 303) expect((await server.stores.users.authenticate(victimEmail, payload)).ok).toBe(true);
    // Apps: a name is data; redirect URIs and scopes that are none are refused.
    const app = await post('/admin/apps', { name: payload, kind: 'confidential', redirectUris: 'https://sqli.example.test/cb' }, nul ? [400] : [200]);
    if (app.status === 200) {
      created.clients += 1;
      const clientId = /<code id="client-id">([^<]+)<\/code>/.exec(app.body)![1]!;
      expect((await server.stores.clients.find(clientId))?.name).toBe(payload.trim());
    }
    await post('/admin/apps', { name: 'Injected', kind: payload, redirectUris: 'https://sqli.example.test/cb' }, [400]);
    await post('/admin/apps', { name: 'Injected', kind: 'confidential', redirectUris: payload }, [400]);
    await post('/admin/apps', { name: 'Injected', kind: 'confidential', redirectUris: 'https://sqli.example.test/cb', scope: payload }, [400]);
    await post(`/admin/apps/${target.app.clientId}/edit`, { name: 'Example App', redirectUris: payload, scope: 'openid' }, [400]);
    await post(`/admin/apps/${target.app.clientId}/rotate-secret`, { overlap: payload }, [400]);
    // APIs: an identifier that is none is refused; scopes are refused or stored as words.
    await post('/admin/apis', { identifier: payload, name: 'Injected', scopes: 'sqli:read' }, [400]);
    const api = await post('/admin/apis', { identifier: `https://sqli${index}.example.test`, name: payload, scopes: `${payload}` }, [200, 400, 409]);
    if (api.status === 200) {
      created.resource_servers += 1;
      created.clients += 1; // its introspection client
    }
    const notes = `/admin/apis/${encodeURIComponent(NOTES_API)}/edit`;
    await post(notes, { name: 'Notes', scopes: 'notebook:read notebook:write', accessTokenTtl: payload }, [400]);
  });

  it('nothing stored was touched but what the forms created, and everyone still signs in', async () => {
    expect(await rowCounts()).toEqual({ users: counts.users! + created.users, clients: counts.clients! + created.clients, resource_servers: counts.resource_servers! + created.resource_servers });
    expect((await server.stores.users.authenticate(target.person.email, PASSWORD)).ok).toBe(true);
    expect(await server.stores.resources.find(NOTES_API)).toMatchObject({ scopes: ['notebook:read', 'notebook:write'] });
  });
});
