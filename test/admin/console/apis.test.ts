// APIs, signing keys and the audit log in the console, over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import type { UserAgent } from '../../support/user-agent.js';
import { createAdmin, locationOf, openForm, signInToConsole, submit, textOf } from './support.js';

let server: TestServer;
let agent: UserAgent;
let admin: Awaited<ReturnType<typeof createAdmin>>;

beforeAll(async () => {
  server = await startTestServer();
  admin = await createAdmin(server);
  ({ agent } = await signInToConsole(server, admin));
});
afterAll(async () => { await server?.stop(); });

async function introspects(clientId: string, secret: string): Promise<boolean> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: new URLSearchParams({ token: 'nothing' }),
  });
  await res.arrayBuffer();
  return res.status === 200;
}

function apiPage(identifier: string): string {
  return `${server.issuer}/admin/apis/${encodeURIComponent(identifier)}`;
}

async function registerApi(identifier: string, scopes = 'notes:read Read your notes\nnotes:write Change your notes') {
  const res = await submit(agent, `${server.issuer}/admin/apis/new`, /\/admin\/apis$/, { identifier, name: 'Notes', scopes });
  expect(res.status, res.body.slice(0, 400)).toBe(200);
  return {
    clientId: /<code id="client-id">([^<]+)<\/code>/.exec(res.body)![1]!,
    clientSecret: /<code id="client-secret" class="admin-secret">([^<]+)<\/code>/.exec(res.body)![1]!,
    page: res,
  };
}

describe('APIs', () => {
  it('registers an API with scope descriptions; its introspection secret is shown once and works', async () => {
    const { clientId, clientSecret, page } = await registerApi('https://notes.example.test');
    expect(textOf(page.body)).toContain('Copy the secret of Notes now');
    expect(await introspects(clientId, clientSecret)).toBe(true);
    expect(await server.stores.resources.find('https://notes.example.test')).toMatchObject({
      name: 'Notes', scopes: ['notes:read', 'notes:write'], scopeDescriptions: { 'notes:read': 'Read your notes', 'notes:write': 'Change your notes' },
    });
    const list = await agent.request(`${server.issuer}/admin/apis`);
    expect(list.body).toContain(`href="/admin/apis/${encodeURIComponent('https://notes.example.test')}"`);
    const one = await agent.request(apiPage('https://notes.example.test'));
    expect(textOf(one.body)).toContain('notes:write Change your notes');
    expect(one.body).not.toContain(clientSecret);
  });

  it.each([
    ['an identifier that is not a URI', 'not a uri', 'notes2:read', 400, 'absolute http(s) URI'],
    ['no scopes', 'https://empty.example.test', '', 400, 'at least one scope'],
    ['an OpenID Connect scope', 'https://oidc.example.test', 'email', 400, 'OpenID Connect scopes'],
    ['a scope of Gatehouse\'s own', 'https://own.example.test', 'gatehouse:admin', 400, 'Gatehouse\'s own'],
    ['an identifier already registered', 'https://notes.example.test', 'other:read', 409, 'already exists'],
  ])('refuses %s with the reason, keeping what was typed', async (_name, identifier, scopes, status, message) => {
    const res = await submit(agent, `${server.issuer}/admin/apis/new`, /\/admin\/apis$/, { identifier, name: 'Refused', scopes });
    expect(res.status).toBe(status);
    expect(textOf(res.body)).toContain(message);
    expect(res.body).toContain('value="Refused"');
  });

  it('edits name, scopes, descriptions and token lifetime; a refused edit keeps what was typed', async () => {
    await registerApi('https://edit.example.test', 'edit:read');
    const page = apiPage('https://edit.example.test');
    const saved = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Edited', scopes: 'edit:read Read things\nedit:write', accessTokenTtl: '600' });
    expect(locationOf(saved)).toBe(`/admin/apis/${encodeURIComponent('https://edit.example.test')}?done=api-updated`);
    expect(await server.stores.resources.find('https://edit.example.test')).toMatchObject({ name: 'Edited', scopes: ['edit:read', 'edit:write'], scopeDescriptions: { 'edit:read': 'Read things' }, accessTokenTtl: 600 });

    for (const [accessTokenTtl, message] of [['ten', 'number'], ['5', '30'], ['999999', '86400']] as const) {
      const refused = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Edited Again', scopes: 'edit:read', accessTokenTtl });
      expect(refused.status).toBe(400);
      expect(textOf(refused.body)).toContain(message);
      expect(refused.body).toContain('value="Edited Again"');
    }
    expect(locationOf(await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Edited', scopes: 'edit:read', accessTokenTtl: '' }))).toContain('done=api-updated');
    expect((await server.stores.resources.find('https://edit.example.test'))?.accessTokenTtl).toBeNull();
  });

  it('sets which APIs an API may exchange people\'s tokens for; an unknown one is refused, keeping what was typed', async () => {
    await registerApi('https://upstream.example.test', 'upstream:read');
    await registerApi('https://downstream.example.test', 'downstream:read');
    const page = apiPage('https://upstream.example.test');
    const edit = { form: 'edit', name: 'Upstream', scopes: 'upstream:read', accessTokenTtl: '' };
    expect(locationOf(await submit(agent, page, /\/edit$/, { ...edit, mayExchangeFor: 'https://downstream.example.test\n' }))).toContain('done=api-updated');
    expect((await server.stores.resources.find('https://upstream.example.test'))?.mayExchangeFor).toEqual(['https://downstream.example.test']);
    const shown = await agent.request(page);
    expect(textOf(shown.body)).toContain('May exchange people\'s tokens for https://downstream.example.test');

    const refused = await submit(agent, page, /\/edit$/, { ...edit, mayExchangeFor: 'https://nowhere.example.test' });
    expect(refused.status).toBe(400);
    expect(textOf(refused.body)).toContain('https://nowhere.example.test is not a registered API');
    expect(refused.body).toContain('https://nowhere.example.test</textarea>');

    expect(locationOf(await submit(agent, page, /\/edit$/, { ...edit, mayExchangeFor: '' }))).toContain('done=api-updated');
    expect((await server.stores.resources.find('https://upstream.example.test'))?.mayExchangeFor).toEqual([]);
  });

  it('describes scopes in another language, shown again in the form and kept by the API', async () => {
    await registerApi('https://german.example.test', 'german:read Read things\ngerman:write Change things');
    const page = apiPage('https://german.example.test');
    const form = await agent.request(page);
    expect(form.body).toContain('In German (de), one per line');
    const saved = await submit(agent, page, /\/edit$/, {
      form: 'edit', name: 'German', scopes: 'german:read Read things\ngerman:write Change things', accessTokenTtl: '', descriptions_de: 'german:read Dinge lesen',
    });
    expect(locationOf(saved)).toContain('done=api-updated');
    expect((await server.stores.resources.find('https://german.example.test'))?.localizedScopeDescriptions).toEqual({ de: { 'german:read': 'Dinge lesen' } });
    expect((await agent.request(page)).body).toContain('german:read Dinge lesen</textarea>');
    const refused = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'German', scopes: 'german:read', accessTokenTtl: '', descriptions_de: 'german:unknown Unbekannt' });
    expect(refused.status).toBe(400);
    expect(textOf(refused.body)).toContain('"german:unknown" is described but is not one of the API\'s scopes.');
    // A refusal about them names them as the form does, not by the field's name in the code.
    const tooLong = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'German', scopes: 'german:read', accessTokenTtl: '', descriptions_de: `german:read ${'x'.repeat(201)}` });
    expect(tooLong.status).toBe(400);
    expect(textOf(tooLong.body)).toContain('Descriptions in other languages');
    expect(textOf(tooLong.body)).not.toContain('localizedScopeDescriptions');
  });

  it('rotates the introspection secret with no overlap: the old one stops now', async () => {
    const { clientId, clientSecret } = await registerApi('https://rotate.example.test', 'rotate:read');
    const res = await submit(agent, apiPage('https://rotate.example.test'), /\/rotate-secret$/, { overlap: '0' });
    const fresh = /<code id="client-secret" class="admin-secret">([^<]+)<\/code>/.exec(res.body)![1]!;
    expect(await introspects(clientId, fresh)).toBe(true);
    expect(await introspects(clientId, clientSecret)).toBe(false);
  });

  it('disabling stops its introspection; enabling restores it; deleting asks first and removes its credentials', async () => {
    const { clientId, clientSecret } = await registerApi('https://stop.example.test', 'stop:read');
    const page = apiPage('https://stop.example.test');
    expect(locationOf(await submit(agent, page, /\/disable$/))).toContain('done=api-disabled');
    expect(await introspects(clientId, clientSecret)).toBe(false);
    expect(textOf((await agent.request(page)).body)).toMatch(/Disabled since/);
    expect(locationOf(await submit(agent, page, /\/enable$/))).toContain('done=api-enabled');
    expect(await introspects(clientId, clientSecret)).toBe(true);

    const confirm = await openForm(agent, `${page}/delete`, /\/delete$/);
    expect(textOf(confirm.page.body)).toContain('This cannot be undone.');
    expect(locationOf(await agent.request(confirm.action, { form: { csrf: confirm.csrf } }))).toBe('/admin/apis?done=api-deleted');
    expect(await server.stores.resources.find('https://stop.example.test')).toBeUndefined();
    expect(await server.stores.clients.find(clientId)).toBeUndefined();
  });
});

describe('signing keys', () => {
  it('lists the keys without key material, and rotating adds the next key of each algorithm', async () => {
    const before = await agent.request(`${server.issuer}/admin/keys`);
    const kids = (html: string) => [...html.matchAll(/<th scope="row"><code>([^<]+)<\/code><\/th>/g)].map((m) => m[1]!);
    expect(kids(before.body)).toHaveLength(2);
    expect(before.body).not.toMatch(/"d"|privateKey|BEGIN/);
    expect(locationOf(await submit(agent, `${server.issuer}/admin/keys`, /\/admin\/keys\/rotate$/))).toBe('/admin/keys?done=keys-rotated');
    const after = await agent.request(`${server.issuer}/admin/keys?done=keys-rotated`);
    expect(kids(after.body)).toHaveLength(4);
    expect(kids(after.body)).toEqual(expect.arrayContaining(kids(before.body)));
    // Tests publish new keys at once, so the old ones retire straight away.
    expect(textOf(after.body).match(/Retired: verifies tokens it signed/g)).toHaveLength(2);
    expect(textOf(after.body)).toContain('New signing keys were added.');
    const [event] = (await server.audit.list({ type: 'keys.rotated' })).items;
    expect(event).toMatchObject({ actor: { type: 'user', id: admin.id } });
  });
});

describe('the audit log', () => {
  it('shows who did what to whom, with the admin as the actor, and filters by each field', async () => {
    const person = await createPerson(server);
    const page = `${server.issuer}/admin/people/${person.id}`;
    await submit(agent, page, /\/disable$/);
    await submit(agent, page, /\/enable$/);

    const log = await agent.request(`${server.issuer}/admin/audit?user=${person.id}`);
    const rows = [...log.body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => textOf(m[1]!).trim()).filter((row) => row.includes('UTC'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain(`${admin.name} (${admin.email}) Enabled a person user.enabled ${person.name} (${person.email})`);
    expect(rows[1]).toContain(`${admin.name} (${admin.email}) Disabled a person user.disabled ${person.name} (${person.email})`);

    const count = async (query: string) => {
      const res = await agent.request(`${server.issuer}/admin/audit?${query}`);
      expect(res.status, query).toBe(200);
      return [...res.body.matchAll(/<td class="admin-details">/g)].length;
    };
    expect(await count(`type=user.disabled&user=${person.id}`)).toBe(1);
    expect(await count(`actor=${admin.id}&user=${person.id}`)).toBe(2);
    expect(await count(`actor=someone-else&user=${person.id}`)).toBe(0);
    const today = new Date().toISOString().slice(0, 10);
    expect(await count(`since=${today}&until=${today}&user=${person.id}`)).toBe(2);
    expect(await count(`until=2000-01-01&user=${person.id}`)).toBe(0);
    expect(await count(`since=2999-01-01`)).toBe(0);
    expect(await count(`client=gatehouse&type=sign_in.succeeded&user=${admin.id}`)).toBe(1);
  });

  it.each([
    ['type=nonsense', 'Choose an event type from the list.'],
    ['since=yesterday', 'Enter dates as year-month-day'],
    ['until=2026-02-30', 'Enter dates as year-month-day'],
    [`actor=${'x'.repeat(201)}`, 'at most 200 characters'],
    ['user=%00', 'at most 200 characters'],
  ])('a filter it cannot use (%s) is a 400 page that says why, with the filters kept', async (query, message) => {
    const res = await agent.request(`${server.issuer}/admin/audit?${query}`);
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain(message);
    expect(res.body).toContain('<form method="get" action="/admin/audit"');
  });
});
