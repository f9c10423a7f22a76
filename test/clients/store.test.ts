import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientStore } from '../../src/clients/store.js';
import { isGatehouseError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
let clients: ClientStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  clients = new ClientStore(testDb.db);
});

afterAll(async () => {
  await testDb?.destroy();
});

const invalid = (field: string) => (e: unknown) => isGatehouseError(e, 'invalid_input') && e.field === field;

describe('registering apps', () => {
  it('requires the openid scope of an app that signs people in', async () => {
    await expect(clients.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], scope: 'notes:read' })).rejects.toSatisfy(invalid('scope'));
  });

  it('accepts https, loopback http and private-use schemes only, without fragments, credentials or control characters', async () => {
    for (const uri of ['http://a.example.test/cb', 'https://a.example.test/cb#x', 'https://user:pw@a.example.test/cb', 'https://a.example.test/c\u0000b', 'javascript:alert(1)', 'not a url']) {
      await expect(clients.create({ name: 'A', redirectUris: [uri] }), uri).rejects.toSatisfy(invalid('redirectUris'));
    }
    for (const uri of ['https://a.example.test/cb', 'http://localhost:8080/cb', 'http://127.0.0.1/cb']) {
      await expect(clients.create({ name: 'A', redirectUris: [uri] }), uri).resolves.toBeDefined();
    }
  });

  it('gives confidential apps a secret stored only as a digest, public apps none', async () => {
    const confidential = await clients.create({ name: 'C', redirectUris: ['https://c.example.test/cb'] });
    expect(confidential.clientSecret).toMatch(/^[\w-]{43}$/);
    const row = await testDb.db('clients').where({ client_id: confidential.client.clientId }).first();
    expect(JSON.stringify(row)).not.toContain(confidential.clientSecret);
    const pub = await clients.create({ name: 'P', redirectUris: ['https://p.example.test/cb'], public: true });
    expect(pub.clientSecret).toBeUndefined();
    expect(pub.client.tokenEndpointAuthMethod).toBe('none');
  });

  it('refuses private key material in a private_key_jwt client\'s key set', async () => {
    await expect(clients.create({
      name: 'K', clientCredentials: true, scope: 'x:read', tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'secret' }] },
    })).rejects.toSatisfy(invalid('jwks'));
  });

  it('answers a lookup by a client_id no database could hold with nothing', async () => {
    expect(await clients.find('a\u0000b')).toBeUndefined();
    expect(await clients.find('x'.repeat(1000))).toBeUndefined();
  });
});
