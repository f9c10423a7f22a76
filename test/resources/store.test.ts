import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../src/errors.js';
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

  it('keeps at most one default API', async () => {
    await apis.create({ identifier: 'https://first.example.test', scope: 'first:read', isDefault: true });
    await apis.create({ identifier: 'https://second.example.test', scope: 'second:read', isDefault: true });
    expect((await apis.findDefault())?.identifier).toBe('https://second.example.test');
    expect((await apis.find('https://first.example.test'))?.isDefault).toBe(false);
  });
});
