// Administration of apps, APIs and signing keys, through AdminOperations. No secret, nor its
// digest, ever reaches the audit log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_CLIENT_ID, ADMIN_SCOPE } from '../../src/vocabulary.js';
import { digest } from '../../src/crypto/digest.js';
import { isGatehouseError } from '../../src/errors.js';
import { insertGrant, modelsOf } from '../support/oidc-records.js';
import { ADMIN, adminFixture, type AdminFixture } from './fixture.js';

let f: AdminFixture;
const secrets: string[] = [];

const notFound = (e: unknown) => isGatehouseError(e, 'not_found');
const conflict = (e: unknown) => isGatehouseError(e, 'conflict');
const AUTOMATION = { type: 'client' as const, id: 'automation-client' };

beforeAll(async () => {
  f = await adminFixture();
});

afterAll(async () => {
  await f?.testDb.destroy();
});

function keep<T extends { clientSecret: string | undefined }>(result: T): T {
  if (result.clientSecret) secrets.push(result.clientSecret);
  return result;
}

describe('apps', () => {
  it('registers an app and an admin client, returning each secret once', async () => {
    const { client } = keep(await f.ops.apps.createClient(AUTOMATION, { name: 'Notes', redirectUris: ['https://notes.example.test/cb'] }));
    const [event] = (await f.events('client.created')).filter((e) => e.clientId === client.clientId);
    expect(event).toMatchObject({ actor: { type: 'client', id: 'automation-client' }, details: { name: 'Notes', admin: false } });
    const admin = keep(await f.ops.apps.createClient(ADMIN, { name: 'Ops', clientCredentials: true, admin: true }));
    expect(admin.client.scope).toBe(ADMIN_SCOPE);
    await expect(f.ops.apps.createClient(ADMIN, { name: 'X', introspectionOnly: true })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
  });

  it('updates, rotates, disables, enables and deletes an app, each audited', async () => {
    const { client } = keep(await f.ops.apps.createClient(ADMIN, { name: 'Photos', redirectUris: ['https://photos.example.test/cb'] }));
    expect((await f.ops.apps.updateClient(ADMIN, client.clientId, { name: 'Pictures' })).name).toBe('Pictures');
    const rotated = keep(await f.ops.apps.rotateClientSecret(ADMIN, client.clientId, { overlapSeconds: 0 }));
    expect(rotated.previousSecretExpiresAt).toBeNull();
    expect((await f.ops.apps.rotateClientSecret(ADMIN, client.clientId)).previousSecretExpiresAt).toBeInstanceOf(Date);

    await insertGrant(f.testDb.db, { accountId: 'someone', clientId: client.clientId });
    expect((await f.ops.apps.disableClient(ADMIN, client.clientId)).disabledAt).toBeInstanceOf(Date);
    expect(await modelsOf(f.testDb.db, { client_id: client.clientId })).toEqual([]);
    expect((await f.ops.apps.enableClient(ADMIN, client.clientId)).disabledAt).toBeNull();

    await insertGrant(f.testDb.db, { accountId: 'someone', clientId: client.clientId });
    await f.ops.apps.deleteClient(ADMIN, client.clientId);
    expect(await modelsOf(f.testDb.db, { client_id: client.clientId })).toEqual([]);
    await expect(f.ops.apps.getClient(client.clientId)).rejects.toSatisfy(notFound);
    await expect(f.ops.apps.deleteClient(ADMIN, client.clientId)).rejects.toSatisfy(notFound);

    const types = (await f.ops.audit.listAudit({ clientId: client.clientId })).items.map((e) => e.type).reverse();
    expect(types).toEqual(['client.created', 'client.updated', 'client.secret_rotated', 'client.secret_rotated', 'client.disabled', 'client.enabled', 'client.deleted']);
  });

  it('refuses to manage an API\'s credentials as an app, or Gatehouse\'s own sign-in client', async () => {
    const { clientId } = keep(await f.ops.apis.createResource(ADMIN, { identifier: 'https://managed.example.test', scope: 'managed:read' }));
    await expect(f.ops.apps.updateClient(ADMIN, clientId, { name: 'X' })).rejects.toSatisfy(conflict);
    await expect(f.ops.apps.rotateClientSecret(ADMIN, clientId)).rejects.toSatisfy(conflict);
    await expect(f.ops.apps.disableClient(ADMIN, clientId)).rejects.toSatisfy(conflict);
    await expect(f.ops.apps.deleteClient(ADMIN, clientId)).rejects.toSatisfy(conflict);
    await f.testDb.db('clients').insert({ client_id: ACCOUNT_CLIENT_ID, name: 'Gatehouse', token_endpoint_auth_method: 'none', grant_types: '[]', scope: 'openid' });
    await expect(f.ops.apps.disableClient(ADMIN, ACCOUNT_CLIENT_ID)).rejects.toSatisfy(conflict);
    await f.testDb.db('clients').where({ client_id: ACCOUNT_CLIENT_ID }).delete();
  });

  it('lists apps a page at a time', async () => {
    const first = await f.ops.apps.listClients({ limit: 1 });
    expect(first.items).toHaveLength(1);
    expect((await f.ops.apps.listClients({ cursor: first.nextCursor! })).items.map((c) => c.clientId)).not.toContain(first.items[0]!.clientId);
  });
});

describe('APIs', () => {
  it('registers, updates, rotates, disables, enables and deletes an API, each audited', async () => {
    const created = keep(await f.ops.apis.createResource(ADMIN, { identifier: 'https://tasks.example.test', scope: 'tasks:read' }));
    const id = created.resourceServer.identifier;
    expect((await f.ops.apis.updateResource(ADMIN, id, { name: 'Tasks', scopes: ['tasks:read', 'tasks:write'] })).scopes).toEqual(['tasks:read', 'tasks:write']);
    const rotated = keep(await f.ops.apis.rotateResourceSecret(ADMIN, id, { overlapSeconds: 60 }));
    expect((await f.clients.find(created.clientId))?.secretDigest).toBe(digest(rotated.clientSecret));
    expect((await f.ops.apis.disableResource(ADMIN, id)).disabledAt).toBeInstanceOf(Date);
    expect((await f.clients.find(created.clientId))?.disabledAt).toBeInstanceOf(Date);
    expect((await f.ops.apis.enableResource(ADMIN, id)).disabledAt).toBeNull();
    await f.ops.apis.deleteResource(ADMIN, id);
    await expect(f.ops.apis.getResource(id)).rejects.toSatisfy(notFound);
    expect(await f.clients.find(created.clientId)).toBeUndefined();
    for (const action of [() => f.ops.apis.updateResource(ADMIN, id, { name: 'X' }), () => f.ops.apis.rotateResourceSecret(ADMIN, id), () => f.ops.apis.disableResource(ADMIN, id), () => f.ops.apis.deleteResource(ADMIN, id)]) {
      await expect(action()).rejects.toSatisfy(notFound);
    }
    const types = (await f.ops.audit.listAudit({ clientId: created.clientId })).items.map((e) => e.type).reverse();
    expect(types).toEqual(['api.created', 'api.updated', 'api.secret_rotated', 'api.disabled', 'api.enabled', 'api.deleted']);
  });

  it('leaves no client behind when an API is refused', async () => {
    const before = (await f.testDb.db('clients').count<{ count: number }[]>('* as count'))[0]!.count;
    await expect(f.ops.apis.createResource(ADMIN, { identifier: 'https://managed.example.test', scope: 'other:read' })).rejects.toSatisfy(conflict);
    expect((await f.testDb.db('clients').count<{ count: number }[]>('* as count'))[0]!.count).toBe(before);
  });
});

describe('signing keys', () => {
  it('rotates the signing keys and says so in the audit log', async () => {
    await f.ops.keys.listKeys();
    const added = await f.ops.keys.rotateKeys(ADMIN);
    expect(added.length).toBeGreaterThan(0);
    const [event] = await f.events('keys.rotated');
    expect(event?.details.added).toEqual(added.map((k) => ({ kid: k.kid, alg: k.alg, activatesAt: k.activatesAt.toISOString() })));
    expect((await f.ops.keys.listKeys()).map((k) => k.kid)).toEqual(expect.arrayContaining(added.map((k) => k.kid)));
  });
});

describe('the audit log', () => {
  it('holds no secret and no digest of one', async () => {
    expect(secrets.length).toBeGreaterThan(5);
    const all = JSON.stringify(await f.testDb.db('audit_events').select('*'));
    for (const secret of secrets) {
      expect(all).not.toContain(secret);
      expect(all).not.toContain(digest(secret));
    }
  });
});
