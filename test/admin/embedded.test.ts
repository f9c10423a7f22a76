// Every admin action that reads inside its audited transaction, on the embedded PGlite that
// `npm start` runs on: there the transaction holds the only connection, so a read outside it
// would wait for ever (the console and the account pages hung on these before). The rest of the
// admin suite runs on the suite's database, which has a pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { insertGrant, insertSession } from '../support/oidc-records.js';
import { ADMIN, adminFixture, type AdminFixture } from './fixture.js';

const PASSWORD = 'correct horse battery staple';

let f: AdminFixture;

beforeAll(async () => {
  f = await adminFixture({ engine: 'pglite' });
});

afterAll(async () => {
  await f?.testDb.destroy();
});

describe('admin actions on the embedded database', () => {
  it('runs on PGlite', () => {
    expect(f.testDb.kind).toBe('pglite');
  });

  it('manages an app: update, rotate its secret, disable, enable, revoke a grant, delete', async () => {
    const person = await f.ops.people.createUser(ADMIN, { email: 'embedded-app@example.test', name: 'Ada', password: PASSWORD });
    const { client } = await f.ops.apps.createClient(ADMIN, { name: 'Photos', redirectUris: ['https://photos.example.test/cb'] });
    const grantId = await insertGrant(f.testDb.db, { accountId: person.id, clientId: client.clientId });

    await f.ops.apps.updateClient(ADMIN, client.clientId, { name: 'Photos 2' });
    await f.ops.apps.rotateClientSecret(ADMIN, client.clientId);
    await f.ops.grants.revokeGrant(ADMIN, grantId);
    await f.ops.apps.disableClient(ADMIN, client.clientId);
    await f.ops.apps.enableClient(ADMIN, client.clientId);
    await f.ops.apps.deleteClient(ADMIN, client.clientId);

    expect((await f.events('client.deleted')).map((e) => e.clientId)).toContain(client.clientId);
  });

  it('manages an API: rotate its secret, delete it', async () => {
    await f.ops.apis.createResource(ADMIN, { identifier: 'https://embedded.example.test', scope: 'embedded:read' });
    await f.ops.apis.rotateResourceSecret(ADMIN, 'https://embedded.example.test');
    await f.ops.apis.deleteResource(ADMIN, 'https://embedded.example.test');
    expect(await f.events('api.deleted')).toHaveLength(1);
  });

  it('resets a person\'s password, and deletes the person', async () => {
    const person = await f.ops.people.createUser(ADMIN, { email: 'embedded-person@example.test', name: 'Grace', password: PASSWORD });
    await insertSession(f.testDb.db, { accountId: person.id });
    expect(await f.ops.people.resetPassword(ADMIN, person.id, 'a perfectly good passphrase')).toMatchObject({ sessionsEnded: 1 });
    await f.ops.people.deleteUser(ADMIN, person.id);
    expect(await f.users.findById(person.id)).toBeUndefined();
  });

  it('lets a person change their own password', async () => {
    const person = await f.ops.people.createUser(ADMIN, { email: 'embedded-self@example.test', name: 'Alan', password: PASSWORD });
    const actor: Actor = { type: 'user', id: person.id, ip: null };
    const { client } = await f.ops.apps.createClient(ADMIN, { name: 'Mail', redirectUris: ['https://mail.example.test/cb'] });
    const grantId = await insertGrant(f.testDb.db, { accountId: person.id, clientId: client.clientId, scope: 'openid offline_access' });
    const current = await insertSession(f.testDb.db, { accountId: person.id, authorizations: { [client.clientId]: grantId } });
    await f.self.changeOwnPassword(actor, PASSWORD, 'a perfectly good passphrase', { endOtherSessions: true, revokeOfflineAccess: true, currentHandle: current.handle });
    expect(await f.users.verifyPassword(person.id, 'a perfectly good passphrase')).toBe(true);
  });

  it('rotates the signing keys', async () => {
    await f.ops.keys.listKeys();
    expect(await f.ops.keys.rotateKeys(ADMIN)).not.toHaveLength(0);
  });
});
