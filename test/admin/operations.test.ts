// Administration of people, their sessions and their grants, through AdminOperations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../src/errors.js';
import { insertGrant, insertSession, insertToken, modelsOf } from '../support/oidc-records.js';
import { ADMIN, adminFixture, type AdminFixture } from './fixture.js';

let f: AdminFixture;
let app: string;

const notFound = (e: unknown) => isGatehouseError(e, 'not_found');
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  f = await adminFixture();
  app = (await f.clients.create({ name: 'Notes', redirectUris: ['https://notes.example.test/cb'] })).client.clientId;
});

afterAll(async () => {
  await f?.testDb.destroy();
});

let people = 0;
async function person(): Promise<string> {
  const user = await f.ops.people.createUser(ADMIN, { email: `person-${++people}@example.test`, name: `Person ${people}`, password: PASSWORD });
  return user.id;
}

/** A person signed in to the app through a session, plus a grant no live session names. */
async function signedIn(userId: string) {
  const grantId = await insertGrant(f.testDb.db, { accountId: userId, clientId: app });
  await insertToken(f.testDb.db, { model: 'RefreshToken', grantId, accountId: userId, clientId: app });
  const session = await insertSession(f.testDb.db, { accountId: userId, authorizations: { [app]: grantId } });
  const orphan = await insertGrant(f.testDb.db, { accountId: userId, clientId: app });
  return { grantId, session, orphan };
}

describe('people', () => {
  it('creates a person and records who did it, from where, without the password', async () => {
    const id = await person();
    const [created] = (await f.events('user.created')).filter((e) => e.userId === id);
    expect(created).toMatchObject({ actor: { type: 'user', id: ADMIN.id }, ip: ADMIN.ip, userId: id });
    expect(JSON.stringify(created)).not.toContain(PASSWORD);
    expect((await f.ops.people.getUser(id)).email).toBe(`person-${people}@example.test`);
    await expect(f.ops.people.getUser('00000000-0000-4000-8000-000000000000')).rejects.toSatisfy(notFound);
  });

  it('disables a person by signing them out everywhere; enabling brings nothing back', async () => {
    const id = await person();
    await signedIn(id);
    const disabled = await f.ops.people.disableUser(ADMIN, id);
    expect(disabled.disabledAt).toBeInstanceOf(Date);
    expect(await modelsOf(f.testDb.db, { account_id: id })).toEqual([]);
    const [event] = (await f.events('user.disabled')).filter((e) => e.userId === id);
    expect(event?.details).toEqual({ sessionsEnded: 1, grantsRevoked: 2 });

    expect((await f.ops.people.enableUser(ADMIN, id)).disabledAt).toBeNull();
    expect((await f.ops.sessions.listSessions(id)).items).toEqual([]);
    await expect(f.ops.people.disableUser(ADMIN, '00000000-0000-4000-8000-000000000000')).rejects.toSatisfy(notFound);
  });

  it('changes nothing when the audit entry cannot be written: the change and its entry are one transaction', async () => {
    const id = await person();
    await signedIn(id);
    await f.testDb.db.raw(`create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit refused'; end $$`);
    await f.testDb.db.raw(`create trigger refuse_audit before insert on audit_events for each row
      when (new.type = 'user.disabled' and new.user_id = '${id}') execute function refuse_audit()`);
    try {
      await expect(f.ops.people.disableUser(ADMIN, id)).rejects.toThrow(/audit refused/);
    } finally {
      await f.testDb.db.raw('drop trigger refuse_audit on audit_events');
    }
    expect((await f.ops.people.getUser(id)).disabledAt).toBeNull();
    expect(await modelsOf(f.testDb.db, { account_id: id })).toEqual(['Grant', 'Grant', 'RefreshToken', 'Session']);
  });

  it('resets a password, ending every session and offline access unless told not to', async () => {
    const id = await person();
    await signedIn(id);
    expect(await f.ops.people.resetPassword(ADMIN, id, 'a brand new passphrase', { endSessions: false, revokeOfflineAccess: false }))
      .toEqual({ sessionsEnded: 0, grantsRevoked: 0 });
    expect((await f.ops.sessions.listSessions(id)).items).toHaveLength(1);
    expect(await f.ops.people.resetPassword(ADMIN, id, 'another brand new passphrase')).toEqual({ sessionsEnded: 1, grantsRevoked: 1 });
    expect(await f.users.verifyPassword(id, 'another brand new passphrase')).toBe(true);
    await expect(f.ops.people.resetPassword(ADMIN, id, 'password1')).rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password'));
    await expect(f.ops.people.resetPassword(ADMIN, '00000000-0000-4000-8000-000000000000', 'yet another passphrase')).rejects.toSatisfy(notFound);
    const resets = (await f.events('user.password_reset')).filter((e) => e.userId === id);
    expect(resets).toHaveLength(2);
    expect(JSON.stringify(resets)).not.toContain('passphrase');
  });

  it("a reset ends every app's offline access: grants holding a refresh token or offline_access consent, sessions or not", async () => {
    const id = await person();
    const { grantId: inSession, session, orphan } = await signedIn(id);
    const signedOut = await insertGrant(f.testDb.db, { accountId: id, clientId: app });
    await insertToken(f.testDb.db, { model: 'RefreshToken', grantId: signedOut, accountId: id, clientId: app });
    // Consented to offline_access, its code not redeemed yet: the refresh token would come after the reset.
    const pending = await insertGrant(f.testDb.db, { accountId: id, clientId: app, scope: 'openid offline_access' });
    await insertToken(f.testDb.db, { model: 'AuthorizationCode', grantId: pending, accountId: id, clientId: app });

    expect(await f.ops.people.resetPassword(ADMIN, id, 'a brand new passphrase', { endSessions: false })).toEqual({ sessionsEnded: 0, grantsRevoked: 3 });
    expect(await f.testDb.db('oidc_records').where({ model: 'Grant', account_id: id }).pluck('grant_id')).toEqual([orphan]);
    expect((await f.ops.sessions.listSessions(id)).items.map((s) => s.id)).toEqual([session.handle]);
    expect(inSession).not.toBe(orphan);
    const [reset] = (await f.events('user.password_reset')).filter((e) => e.userId === id);
    expect(reset!.details).toEqual({ sessionsEnded: 0, grantsRevoked: 3, offlineAccessRevoked: true });
  });

  it('deletes a person with every record naming them', async () => {
    const id = await person();
    const { grantId } = await signedIn(id);
    await insertToken(f.testDb.db, { model: 'Interaction', grantId, accountId: id, clientId: app });
    await f.ops.people.deleteUser(ADMIN, id);
    expect(await modelsOf(f.testDb.db, { account_id: id })).toEqual([]);
    await expect(f.ops.people.getUser(id)).rejects.toSatisfy(notFound);
    expect((await f.events('user.deleted')).filter((e) => e.userId === id)).toHaveLength(1);
    const before = await f.auditCount();
    await expect(f.ops.people.deleteUser(ADMIN, id)).rejects.toSatisfy(notFound);
    expect(await f.auditCount()).toBe(before);
  });

  it('lists people with a search', async () => {
    await person();
    const page = await f.ops.people.listUsers({ search: 'PERSON ', limit: 2 });
    expect(page.items).toHaveLength(2);
    expect(page.nextCursor).not.toBeNull();
  });
});

describe('sessions', () => {
  it('ends one session of a person and the grants of the apps signed in through it', async () => {
    const id = await person();
    const { session, grantId, orphan } = await signedIn(id);
    await expect(f.ops.sessions.listSessions('00000000-0000-4000-8000-000000000000')).rejects.toSatisfy(notFound);
    expect((await f.ops.sessions.listSessions(id)).items.map((s) => s.id)).toEqual([session.handle]);
    await expect(f.ops.sessions.endSession(ADMIN, id, 'no-such-handle')).rejects.toSatisfy(notFound);
    expect(await f.ops.sessions.endSession(ADMIN, id, session.handle)).toEqual({ sessionsEnded: 1, grantsRevoked: 1 });
    expect(await modelsOf(f.testDb.db, { grant_id: grantId })).toEqual([]);
    expect(await modelsOf(f.testDb.db, { grant_id: orphan })).toEqual(['Grant']);
    const [event] = (await f.events('session.ended')).filter((e) => e.userId === id);
    expect(event?.details).toMatchObject({ session: session.handle, sessionsEnded: 1 });
  });

  it('ends all of a person\'s sessions, or all but one', async () => {
    const id = await person();
    const keep = await insertSession(f.testDb.db, { accountId: id });
    await insertSession(f.testDb.db, { accountId: id });
    await insertSession(f.testDb.db, { accountId: id });
    expect(await f.ops.sessions.endAllSessions(ADMIN, id, { except: keep.handle })).toEqual({ sessionsEnded: 2, grantsRevoked: 0 });
    expect(await f.ops.sessions.endAllSessions(ADMIN, id)).toEqual({ sessionsEnded: 1, grantsRevoked: 0 });
    await expect(f.ops.sessions.endAllSessions(ADMIN, '00000000-0000-4000-8000-000000000000')).rejects.toSatisfy(notFound);
  });
});

describe('grants', () => {
  it('lists the grants of a person or of an app, not both, not neither', async () => {
    const id = await person();
    const { grantId, orphan } = await signedIn(id);
    expect((await f.ops.grants.listGrants({ userId: id })).items.map((g) => g.id)).toEqual([orphan, grantId]);
    expect((await f.ops.grants.listGrants({ clientId: app }, { limit: 200 })).items.map((g) => g.id)).toEqual(expect.arrayContaining([grantId, orphan]));
    await expect(f.ops.grants.listGrants({} as never)).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    await expect(f.ops.grants.listGrants({ userId: id, clientId: app } as never)).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    await expect(f.ops.grants.listGrants({ clientId: 'no-such-app' })).rejects.toSatisfy(notFound);
  });

  it('revokes one grant, a person\'s grants for an app, or every grant of an app', async () => {
    const id = await person();
    const { grantId, orphan } = await signedIn(id);
    await f.ops.grants.revokeGrant(ADMIN, grantId);
    await expect(f.ops.grants.getGrant(grantId)).rejects.toSatisfy(notFound);
    await expect(f.ops.grants.revokeGrant(ADMIN, grantId)).rejects.toSatisfy(notFound);
    const [event] = (await f.events('grant.revoked')).filter((e) => e.details.grantId === grantId);
    expect(event).toMatchObject({ userId: id, clientId: app, details: { scopes: ['openid', 'profile'] } });

    expect(await f.ops.grants.revokeUserClientGrants(ADMIN, id, app)).toEqual({ grantsRevoked: 1 });
    expect(await modelsOf(f.testDb.db, { grant_id: orphan })).toEqual([]);
    await expect(f.ops.grants.revokeUserClientGrants(ADMIN, id, app)).rejects.toSatisfy(notFound);

    const other = await person();
    await signedIn(other);
    expect((await f.ops.grants.revokeClientGrants(ADMIN, app)).grantsRevoked).toBeGreaterThanOrEqual(2);
    expect((await f.ops.grants.listGrants({ clientId: app })).items).toEqual([]);
  });
});
