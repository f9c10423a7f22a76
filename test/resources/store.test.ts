import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../src/errors.js';
import { translator } from '../../src/i18n/catalogs.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
let apis: ResourceServerStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  apis = new ResourceServerStore(testDb.db);
});

afterAll(async () => {
  await testDb?.destroy();
});

describe('registering APIs', () => {
  it('gives each API introspection credentials whose secret is stored only as a digest', async () => {
    const { resourceServer, clientId, clientSecret } = await apis.create({ identifier: 'https://notes.example.test', scope: 'notes:read notes:write' });
    expect(resourceServer.scopes).toEqual(['notes:read', 'notes:write']);
    const row = await testDb.db('clients').where({ client_id: clientId }).first();
    expect(row.secret_digest).toBeTruthy();
    expect(JSON.stringify(row)).not.toContain(clientSecret);
  });

  it('refuses a scope name another API already uses, since apps are registered by scope name', async () => {
    await expect(apis.create({ identifier: 'https://other.example.test', scope: 'notes:read' }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'conflict') && /notes:read/.test(e.message));
    expect(await apis.find('https://other.example.test')).toBeUndefined();
  });

  it('refuses OIDC scopes, identifiers that are not absolute URIs, and descriptions of unknown scopes', async () => {
    await expect(apis.create({ identifier: 'https://a.example.test', scope: 'openid' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    await expect(apis.create({ identifier: 'api', scope: 'x:read' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    await expect(apis.create({ identifier: 'https://a.example.test#frag', scope: 'x:read' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    await expect(apis.create({ identifier: 'https://a.example.test', scope: 'x:read', scopeDescriptions: { 'y:read': 'Y' } }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
  });

  it('refuses in English for the CLI and the admin API, and in the console\'s language for its pages', async () => {
    const said = async (attempt: Promise<unknown>) => {
      const error = await attempt.then(() => { throw new Error('accepted'); }, (e: unknown) => e);
      if (!isGatehouseError(error) || !error.words) throw error;
      return { message: error.message, de: translator('de').t(error.words) };
    };
    expect(await said(apis.create({ identifier: 'https://a.example.test', scope: '' }))).toEqual({
      message: 'An API needs at least one scope, e.g. --scope "read write".',
      de: 'Eine API braucht mindestens einen Scope.',
    });
    expect(await said(apis.create({ identifier: 'https://a.example.test', scope: 'x:read', accessTokenTtl: 10 }))).toEqual({
      message: 'Too small: expected number to be >=30',
      de: '„Lebensdauer der Access-Tokens in Sekunden“ muss mindestens 30 sein.',
    });
    expect(await said(apis.create({ identifier: 'https://a.example.test', scope: 'x:read', scopeDescriptions: { 'x:read': 'X'.repeat(201) } }))).toMatchObject({
      de: 'Ein Eintrag in „Scopes, einer pro Zeile“ ist zu lang: höchstens 200 Zeichen je Eintrag.',
    });
    expect(await said(apis.create({ identifier: 'https://a.example.test', scope: 'x:read', eventsEndpoint: 'https://user:pw@a.example.test/events' }))).toEqual({
      message: 'The events endpoint must not carry credentials.',
      de: 'Der Ereignis-Endpunkt darf keine Zugangsdaten enthalten.',
    });
    await apis.create({ identifier: 'https://owner.example.test', scope: 'owned:read' });
    expect(await said(apis.create({ identifier: 'https://a.example.test', scope: 'owned:read' }))).toMatchObject({
      de: 'Der Scope „owned:read“ gehört bereits zu https://owner.example.test, und Scope-Namen sind über alle APIs hinweg eindeutig: Geben Sie dieser API eigene Scope-Namen, z. B. mit ihrem Namen als Präfix.',
    });
    expect(await said(apis.create({ identifier: 'https://owner.example.test', scope: 'other:read' }))).toEqual({
      message: 'An API with the identifier https://owner.example.test already exists.',
      de: 'Eine API mit der Kennung https://owner.example.test gibt es bereits.',
    });
  });

  it('refuses an identifier on Gatehouse\'s own origin, where its userinfo and admin API audiences are', async () => {
    const ours = new ResourceServerStore(testDb.db, { issuer: 'https://id.example.test' });
    for (const identifier of ['https://id.example.test/me', 'https://id.example.test/admin/api/v1', 'https://id.example.test', 'https://ID.example.test:443/x']) {
      await expect(ours.create({ identifier, scope: 'own:read' }), identifier).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && /own address/.test(e.message));
    }
    expect((await ours.create({ identifier: 'https://api.id.example.test', scope: 'own:read' })).resourceServer.identifier).toBe('https://api.id.example.test');
  });

  it('keeps at most one default API', async () => {
    await apis.create({ identifier: 'https://first.example.test', scope: 'first:read', isDefault: true });
    await apis.create({ identifier: 'https://second.example.test', scope: 'second:read', isDefault: true });
    expect((await apis.findDefault())?.identifier).toBe('https://second.example.test');
    expect((await apis.find('https://first.example.test'))?.isDefault).toBe(false);
  });
});

describe('administering APIs', () => {
  it('refuses scopes under gatehouse:, which are Gatehouse\'s own', async () => {
    await expect(apis.create({ identifier: 'https://g.example.test', scope: 'gatehouse:admin' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    await expect(apis.create({ identifier: 'https://g.example.test', scope: 'g:read gatehouse:anything' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    const { resourceServer } = await apis.create({ identifier: 'https://g.example.test', scope: 'g:read' });
    await expect(apis.update(resourceServer.identifier, { scopes: ['gatehouse:admin'] })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'scopes');
  });

  it('takes a name as long as its introspection client\'s can be (184 characters), and refuses a longer one by the name', async () => {
    const longest = 'N'.repeat(184);
    const { clientId } = await apis.create({ identifier: 'https://long-name.example.test', name: longest, scope: 'long:read' });
    expect((await testDb.db('clients').where({ client_id: clientId }).first()).name).toBe(`${longest} (introspection)`);
    await expect(apis.create({ identifier: 'https://longer-name.example.test', name: `${longest}N`, scope: 'longer:read' }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'name');
    await expect(apis.update('https://long-name.example.test', { name: `${longest}N` })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'name');
    // Named only by a long identifier: the client's name is the identifier cut short.
    const identifier = `https://long-identifier.example.test/${'p'.repeat(300)}`;
    const unnamed = await apis.create({ identifier, scope: 'unnamed:read' });
    const clientName = (await testDb.db('clients').where({ client_id: unnamed.clientId }).first()).name as string;
    expect(clientName).toHaveLength(200);
    expect(clientName).toBe(`${identifier.slice(0, 183)}… (introspection)`);
  });

  it('updates the name (and its client\'s), the scopes with their descriptions, and the token lifetime', async () => {
    const { resourceServer, clientId } = await apis.create({
      identifier: 'https://tasks.example.test', scope: 'tasks:read tasks:write', scopeDescriptions: { 'tasks:read': 'Read tasks', 'tasks:write': 'Change tasks' }, accessTokenTtl: 600,
    });
    const renamed = await apis.update(resourceServer.identifier, { name: 'Tasks', scopes: ['tasks:read', 'tasks:delete'] });
    expect(renamed).toMatchObject({ name: 'Tasks', scopes: ['tasks:read', 'tasks:delete'], scopeDescriptions: { 'tasks:read': 'Read tasks' }, accessTokenTtl: 600 });
    expect((await testDb.db('clients').where({ client_id: clientId }).first()).name).toBe('Tasks (introspection)');
    expect((await apis.update(resourceServer.identifier, { accessTokenTtl: null }))?.accessTokenTtl).toBeNull();
    expect((await apis.update(resourceServer.identifier, { scopeDescriptions: { 'tasks:delete': 'Delete tasks' } }))?.scopeDescriptions).toEqual({ 'tasks:delete': 'Delete tasks' });
    await expect(apis.update(resourceServer.identifier, { scopeDescriptions: { 'tasks:write': 'Gone' } })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'scopeDescriptions');
    await expect(apis.update(resourceServer.identifier, { scopes: ['tasks:read', 'notes:read'] })).rejects.toSatisfy((e) => isGatehouseError(e, 'conflict'));
    await expect(apis.update(resourceServer.identifier, { scopes: [] })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    await expect(apis.update(resourceServer.identifier, { accessTokenTtl: 10 })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    expect(await apis.update('https://nowhere.example.test', { name: 'X' })).toBeUndefined();
  });

  it('disables and enables an API together with its introspection client', async () => {
    const { resourceServer, clientId } = await apis.create({ identifier: 'https://toggle.example.test', scope: 'toggle:read' });
    const clientDisabled = async () => (await testDb.db('clients').where({ client_id: clientId }).first()).disabled_at;
    expect((await apis.setDisabled(resourceServer.identifier, true))?.disabledAt).toBeInstanceOf(Date);
    expect(await clientDisabled()).toBeInstanceOf(Date);
    expect((await apis.setDisabled(resourceServer.identifier, false))?.disabledAt).toBeNull();
    expect(await clientDisabled()).toBeNull();
    expect(await apis.setDisabled('https://nowhere.example.test', true)).toBeUndefined();
  });

  it('deletes an API with its introspection client', async () => {
    const { resourceServer, clientId } = await apis.create({ identifier: 'https://doomed.example.test', scope: 'doomed:read' });
    expect(await apis.delete(resourceServer.identifier)).toBe(true);
    expect(await apis.find(resourceServer.identifier)).toBeUndefined();
    expect(await testDb.db('clients').where({ client_id: clientId }).first()).toBeUndefined();
    expect(await apis.delete(resourceServer.identifier)).toBe(false);
  });

  it('lists every API once, oldest first', async () => {
    const first = await apis.list({ limit: 2 });
    const rest = await apis.list({ limit: 200, cursor: first.nextCursor! });
    const all = await testDb.db('resource_servers').select('identifier').orderBy([{ column: 'created_at' }, { column: 'identifier' }]);
    expect([...first.items, ...rest.items].map((api) => api.identifier)).toEqual(all.map((row: { identifier: string }) => row.identifier));
  });
});
