// What a signed-in person may do about their own account: their apps, sessions and password.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { ACCOUNT_CLIENT_ID } from '../../src/vocabulary.js';
import { isGatehouseError } from '../../src/errors.js';
import { insertGrant, insertSession, insertToken, modelsOf } from '../support/oidc-records.js';
import { adminFixture, type AdminFixture } from '../admin/fixture.js';

let f: AdminFixture;
let notes: string;
let photos: string;
let people = 0;

const notFound = (e: unknown) => isGatehouseError(e, 'not_found');
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  f = await adminFixture();
  notes = (await f.clients.create({ name: 'Notes', redirectUris: ['https://notes.example.test/cb'] })).client.clientId;
  photos = (await f.clients.create({ name: 'Photos', redirectUris: ['https://photos.example.test/cb'] })).client.clientId;
});

afterAll(async () => {
  await f?.testDb.destroy();
});

async function me(): Promise<Actor> {
  const user = await f.users.create({ email: `me-${++people}@example.test`, name: `Me ${people}`, password: PASSWORD });
  return { type: 'user', id: user.id, ip: '198.51.100.4' };
}

describe('connected apps', () => {
  it('lists one entry per app and withdraws consent from one, every session\'s copy at once', async () => {
    const actor = await me();
    const userId = actor.id!;
    for (let i = 0; i < 2; i++) {
      const grantId = await insertGrant(f.testDb.db, { accountId: userId, clientId: notes });
      await insertSession(f.testDb.db, { accountId: userId, authorizations: { [notes]: grantId } });
    }
    await insertGrant(f.testDb.db, { accountId: userId, clientId: photos });
    await insertGrant(f.testDb.db, { accountId: userId, clientId: ACCOUNT_CLIENT_ID });

    expect((await f.self.listConnectedApps(userId)).items.map((a) => [a.clientName, a.grantCount])).toEqual([['Notes', 2], ['Photos', 1]]);
    expect(await f.self.revokeConnectedApp(actor, notes)).toEqual({ grantsRevoked: 2 });
    expect((await f.self.listConnectedApps(userId)).items.map((a) => a.clientName)).toEqual(['Photos']);
    const [event] = (await f.events('consent.revoked')).filter((e) => e.userId === userId);
    expect(event).toMatchObject({ actor: { type: 'user', id: userId }, clientId: notes, ip: '198.51.100.4', details: { grantsRevoked: 2 } });

    await expect(f.self.revokeConnectedApp(actor, notes)).rejects.toSatisfy(notFound);
    // Signing in to Gatehouse itself is not an app one can disconnect from.
    await expect(f.self.revokeConnectedApp(actor, ACCOUNT_CLIENT_ID)).rejects.toSatisfy(notFound);
    expect(await modelsOf(f.testDb.db, { account_id: userId, client_id: ACCOUNT_CLIENT_ID })).toEqual(['Grant']);
    await expect(f.self.revokeConnectedApp({ type: 'client', id: notes }, photos)).rejects.toThrow(TypeError);
  });
});

describe('own sessions', () => {
  it('ends one\'s own sessions, never someone else\'s', async () => {
    const actor = await me();
    const stranger = await me();
    const theirs = await insertSession(f.testDb.db, { accountId: stranger.id! });
    const current = await insertSession(f.testDb.db, { accountId: actor.id! });
    const laptop = await insertSession(f.testDb.db, { accountId: actor.id! });
    await insertSession(f.testDb.db, { accountId: actor.id! });

    await expect(f.self.endOwnSession(actor, theirs.handle)).rejects.toSatisfy(notFound);
    expect(await f.self.endOwnSession(actor, laptop.handle)).toEqual({ sessionsEnded: 1, grantsRevoked: 0 });
    expect(await f.self.endOtherSessions(actor, current.handle)).toEqual({ sessionsEnded: 1, grantsRevoked: 0 });
    expect((await f.ops.sessions.listSessions(actor.id!)).items.map((s) => s.id)).toEqual([current.handle]);
    expect((await f.ops.sessions.listSessions(stranger.id!)).items.map((s) => s.id)).toEqual([theirs.handle]);
  });
});

describe('own password', () => {
  it('refuses a wrong current password, changing and auditing nothing', async () => {
    const actor = await me();
    const before = await f.auditCount();
    await expect(f.self.changeOwnPassword(actor, 'not my password', 'a perfectly good passphrase'))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'currentPassword');
    await expect(f.self.changeOwnPassword(actor, PASSWORD, 'password1')).rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password'));
    expect(await f.users.verifyPassword(actor.id!, PASSWORD)).toBe(true);
    expect(await f.auditCount()).toBe(before);
  });

  it('changes the password, and signs out the other sessions when asked', async () => {
    const actor = await me();
    const current = await insertSession(f.testDb.db, { accountId: actor.id! });
    await insertSession(f.testDb.db, { accountId: actor.id! });
    expect(await f.self.changeOwnPassword(actor, PASSWORD, 'a perfectly good passphrase')).toEqual({ sessionsEnded: 0, grantsRevoked: 0 });
    expect(await f.self.changeOwnPassword(actor, 'a perfectly good passphrase', 'an even better passphrase', { endOtherSessions: true, currentHandle: current.handle }))
      .toEqual({ sessionsEnded: 1, grantsRevoked: 0 });
    expect(await f.users.verifyPassword(actor.id!, 'an even better passphrase')).toBe(true);
    expect((await f.ops.sessions.listSessions(actor.id!)).items.map((s) => s.id)).toEqual([current.handle]);
    const events = (await f.events('user.password_changed')).filter((e) => e.userId === actor.id);
    expect(events.map((e) => e.actor)).toEqual([{ type: 'user', id: actor.id }, { type: 'user', id: actor.id }]);
    expect(JSON.stringify(events)).not.toContain('passphrase');
  });

  it("ends every app's offline access when asked, but the apps signed in through the current session", async () => {
    const actor = await me();
    const userId = actor.id!;
    const offline = async (clientId: string) => {
      const grantId = await insertGrant(f.testDb.db, { accountId: userId, clientId, scope: 'openid offline_access' });
      await insertToken(f.testDb.db, { model: 'RefreshToken', grantId, accountId: userId, clientId });
      return grantId;
    };
    const mine = await offline(notes);
    const current = await insertSession(f.testDb.db, { accountId: userId, authorizations: { [notes]: mine } });
    const elsewhere = await offline(photos);
    await insertSession(f.testDb.db, { accountId: userId, authorizations: { [photos]: elsewhere } });
    await offline(photos); // signed out: no session names it

    expect(await f.self.changeOwnPassword(actor, PASSWORD, 'a perfectly good passphrase', { currentHandle: current.handle })).toEqual({ sessionsEnded: 0, grantsRevoked: 0 });
    expect(await f.self.changeOwnPassword(actor, 'a perfectly good passphrase', 'an even better passphrase', { revokeOfflineAccess: true, currentHandle: current.handle }))
      .toEqual({ sessionsEnded: 0, grantsRevoked: 2 });
    expect(await f.testDb.db('oidc_records').where({ model: 'Grant', account_id: userId }).pluck('grant_id')).toEqual([mine]);
    expect((await f.ops.sessions.listSessions(userId)).items).toHaveLength(2);
    const [, changed] = (await f.events('user.password_changed')).filter((e) => e.userId === userId);
    expect(changed!.details).toEqual({ sessionsEnded: 0, grantsRevoked: 2, offlineAccessRevoked: true });
  });
});
