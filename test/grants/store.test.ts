import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientStore } from '../../src/clients/store.js';
import { ACCOUNT_CLIENT_ID } from '../../src/vocabulary.js';
import { digest } from '../../src/crypto/digest.js';
import { isGatehouseError } from '../../src/errors.js';
import { listConnectedApps } from '../../src/grants/connected-apps.js';
import { OidcRecords, type GrantSelector } from '../../src/records/index.js';
import { GrantStore } from '../../src/grants/store.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, queriesDuring, type TestDatabase } from '../support/database.js';
import { insertGrant, insertSession, insertToken, modelsOf } from '../support/oidc-records.js';

let testDb: TestDatabase;
let grants: GrantStore;
const revokeGrants = (selector: GrantSelector) => new OidcRecords(testDb.db).revokeGrants(selector);
let app: string;
let other: string;

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

beforeAll(async () => {
  testDb = await createTestDatabase();
  grants = new GrantStore(testDb.db);
  const clients = new ClientStore(testDb.db);
  app = (await clients.create({ name: 'Notes', redirectUris: ['https://notes.example.test/cb'] })).client.clientId;
  other = (await clients.create({ name: 'Photos', redirectUris: ['https://photos.example.test/cb'] })).client.clientId;
  await new ResourceServerStore(testDb.db).create({ identifier: 'https://api.notes.example.test', name: 'Notes API', scope: 'notes:read notes:write' });
});

afterAll(async () => {
  await testDb?.destroy();
});

describe('listing grants', () => {
  it('shows a person\'s live grants newest first, with the app, the scopes, the APIs by name and the last use', async () => {
    const person = 'person-list';
    const older = await insertGrant(testDb.db, { accountId: person, clientId: app, scope: 'openid email', createdAt: minutesAgo(30),
      resources: { 'https://api.notes.example.test': 'notes:read', 'https://gone.example.test': 'x:read' } });
    await insertToken(testDb.db, { model: 'AccessToken', grantId: older, accountId: person, clientId: app, createdAt: minutesAgo(20) });
    await insertToken(testDb.db, { model: 'RefreshToken', grantId: older, accountId: person, clientId: app, createdAt: minutesAgo(5) });
    // A session and an interaction name the grant too, but are not uses of it.
    await insertToken(testDb.db, { model: 'Interaction', grantId: older, accountId: person, clientId: app, createdAt: minutesAgo(1) });
    const newer = await insertGrant(testDb.db, { accountId: person, clientId: other, createdAt: minutesAgo(10) });
    await insertGrant(testDb.db, { accountId: person, clientId: app, createdAt: minutesAgo(15), expiresAt: minutesAgo(1) });
    await insertGrant(testDb.db, { accountId: person, clientId: ACCOUNT_CLIENT_ID, createdAt: minutesAgo(2) });

    const page = await grants.listByUser(person);
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((g) => g.id)).toEqual([newer, older]);
    expect(page.items[1]).toMatchObject({
      id: older, userId: person, clientId: app, clientName: 'Notes', scopes: ['openid', 'email'],
      apis: [
        { identifier: 'https://api.notes.example.test', name: 'Notes API', scopes: ['notes:read'] },
        { identifier: 'https://gone.example.test', name: null, scopes: ['x:read'] },
      ],
    });
    expect(Math.abs(page.items[1]!.lastUsedAt!.getTime() - minutesAgo(5).getTime())).toBeLessThan(5_000);
    expect(page.items[0]!.lastUsedAt).toBeNull();
  });

  it('lists an app\'s grants from everyone, and never the grants of Gatehouse\'s own sign-in', async () => {
    const mine = await insertGrant(testDb.db, { accountId: 'by-client-1', clientId: other });
    const theirs = await insertGrant(testDb.db, { accountId: 'by-client-2', clientId: other });
    const ids = (await grants.listByClient(other, { limit: 200 })).items.map((g) => g.id);
    expect(ids).toEqual(expect.arrayContaining([mine, theirs]));
    expect((await grants.listByClient(ACCOUNT_CLIENT_ID)).items).toEqual([]);
  });

  it('reads a page in two queries, whatever its length: the grants, then the names of their APIs', async () => {
    for (let i = 0; i < 5; i++) {
      await insertGrant(testDb.db, { accountId: 'queries', clientId: app, resources: { 'https://api.notes.example.test': 'notes:read' } });
    }
    const seen = await queriesDuring(testDb.db, () => grants.listByUser('queries'));
    expect(seen).toHaveLength(2);
  });

  it('finds a grant by its id, and refuses a cursor it did not hand out', async () => {
    const grantId = await insertGrant(testDb.db, { accountId: 'find', clientId: app });
    expect(await grants.find(grantId)).toMatchObject({ id: grantId, userId: 'find', clientId: app });
    expect(await grants.find('no such grant')).toBeUndefined();
    await expect(grants.listByUser('find', { cursor: 'bm90IGEgY3Vyc29y' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'cursor');
  });
});

describe('revoking grants', () => {
  it('deletes the Grant and everything issued under it, in one statement, and leaves sessions and other grants alone', async () => {
    const person = 'revoke-one';
    const grantId = await insertGrant(testDb.db, { accountId: person, clientId: app });
    const kept = await insertGrant(testDb.db, { accountId: person, clientId: app });
    for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'Interaction'] as const) {
      await insertToken(testDb.db, { model, grantId, accountId: person, clientId: app });
    }
    await insertToken(testDb.db, { model: 'RefreshToken', grantId: kept, accountId: person, clientId: app });
    await insertSession(testDb.db, { accountId: person, authorizations: { [app]: grantId } });

    const statements = await queriesDuring(testDb.db, async () => expect(await grants.revoke([grantId])).toBe(1));
    expect(statements).toHaveLength(1);
    expect(await modelsOf(testDb.db, { grant_id: grantId })).toEqual(['Interaction']);
    expect(await modelsOf(testDb.db, { grant_id: kept })).toEqual(['Grant', 'RefreshToken']);
    expect(await modelsOf(testDb.db, { account_id: person, model: 'Session' })).toEqual(['Session']);
  });

  it('finds a Grant row by its primary key too, as the adapter always has', async () => {
    const grantId = await insertGrant(testDb.db, { accountId: 'by-key', clientId: app });
    await testDb.db('oidc_records').where({ model: 'Grant', id_digest: digest(grantId) }).update({ grant_id: null });
    expect(await revokeGrants({ grantIds: [grantId] })).toBe(1);
    expect(await modelsOf(testDb.db, { account_id: 'by-key' })).toEqual([]);
  });

  it('revokes every copy one person\'s sessions hold for one app, and counts them', async () => {
    const person = 'revoke-app';
    const copies = [await insertGrant(testDb.db, { accountId: person, clientId: app }), await insertGrant(testDb.db, { accountId: person, clientId: app })];
    const otherApp = await insertGrant(testDb.db, { accountId: person, clientId: other });
    await insertToken(testDb.db, { model: 'AccessToken', grantId: copies[0]!, accountId: person, clientId: app });
    expect(await grants.revokeForUserAndClient(person, app)).toBe(2);
    expect(await modelsOf(testDb.db, { account_id: person })).toEqual(['Grant']);
    expect((await grants.listByUser(person)).items.map((g) => g.id)).toEqual([otherApp]);
  });

  it('revokes all of a person\'s grants, Gatehouse\'s own included, or all of an app\'s', async () => {
    await insertGrant(testDb.db, { accountId: 'everything', clientId: app });
    await insertGrant(testDb.db, { accountId: 'everything', clientId: ACCOUNT_CLIENT_ID });
    expect(await grants.revokeAllOfUser('everything')).toBe(2);
    const clients = new ClientStore(testDb.db);
    const doomed = (await clients.create({ name: 'Doomed', redirectUris: ['https://d.example.test/cb'] })).client.clientId;
    await insertGrant(testDb.db, { accountId: 'a', clientId: doomed });
    await insertGrant(testDb.db, { accountId: 'b', clientId: doomed });
    expect(await grants.revokeAllOfClient(doomed)).toBe(2);
    expect(await modelsOf(testDb.db, { client_id: doomed })).toEqual([]);
  });
});

describe('connected apps', () => {
  it('shows one entry per app, with the union of scopes and APIs, the first grant and the last use', async () => {
    const person = 'connected';
    const first = await insertGrant(testDb.db, { accountId: person, clientId: app, scope: 'openid email', createdAt: minutesAgo(60), resources: { 'https://api.notes.example.test': 'notes:read' } });
    const second = await insertGrant(testDb.db, { accountId: person, clientId: app, scope: 'openid profile', createdAt: minutesAgo(30), resources: { 'https://api.notes.example.test': 'notes:write' } });
    await insertToken(testDb.db, { model: 'AccessToken', grantId: first, accountId: person, clientId: app, createdAt: minutesAgo(3) });
    await insertToken(testDb.db, { model: 'AccessToken', grantId: second, accountId: person, clientId: app, createdAt: minutesAgo(40) });
    await insertGrant(testDb.db, { accountId: person, clientId: other });
    await insertGrant(testDb.db, { accountId: person, clientId: ACCOUNT_CLIENT_ID });

    const page = await listConnectedApps(testDb.db, person, { limit: 1 });
    expect(page.items).toHaveLength(1);
    const [notes] = page.items;
    expect(notes).toMatchObject({ clientId: app, clientName: 'Notes', scopes: ['openid', 'email', 'profile'], grantCount: 2 });
    expect(notes!.apis).toEqual([{ identifier: 'https://api.notes.example.test', name: 'Notes API', scopes: ['notes:read', 'notes:write'] }]);
    expect(Math.abs(notes!.createdAt.getTime() - minutesAgo(60).getTime())).toBeLessThan(5_000);
    expect(Math.abs(notes!.lastUsedAt!.getTime() - minutesAgo(3).getTime())).toBeLessThan(5_000);
    const rest = await listConnectedApps(testDb.db, person, { limit: 1, cursor: page.nextCursor! });
    expect(rest.items.map((a) => a.clientName)).toEqual(['Photos']);
    expect(rest.nextCursor).toBeNull();
  });
});

describe('revoking with ids no row can hold', () => {
  it('selects nothing instead of failing in the database', async () => {
    await expect(revokeGrants({ accountId: '00000000-0000-0000-0000-000000000000', clientId: 'a\u0000b' })).resolves.toBe(0);
    await expect(revokeGrants({ grantIds: ['x\u0000'] })).resolves.toBe(0);
    await expect(revokeGrants({ clientId: 'c'.repeat(5000) })).resolves.toBe(0);
  });
});
