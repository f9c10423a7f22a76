// Acts on one person take the person's row first. Disabling them, changing or resetting their
// password and recovering the account lock it before their sessions and grants; deleting them and
// an admin's reset of their factors did it the other way round. Two such acts on one person at
// once (an admin deleting someone while they change their password) could each hold what the
// other waits for, and PostgreSQL would fail one of them. Seen here as what an act holds while it
// waits for the person's row, which another transaction has.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { rowsHeldElsewhere, untilWaitingOnALock, usingPostgres } from '../support/database.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const postgres = await usingPostgres();
const ADMIN: Actor = { type: 'client', id: 'automation' };

describe.skipIf(!postgres)('acts on a person, with the person\'s row held elsewhere, on PostgreSQL', () => {
  let server: TestServer;
  let app: App;
  beforeAll(async () => {
    server = await startTestServer();
    app = await registerApp(server, { scope: 'openid offline_access' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A signed-in person with offline access and recovery codes: sessions, grants and a factor to take. */
  async function signedInPerson(): Promise<string> {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: 'openid offline_access' });
    const at = new Date();
    await server.testDb.db('factors').insert({ id: randomUUID(), user_id: person.id, kind: 'recovery_codes', name: 'Recovery codes', confirmed_at: at, created_at: at });
    return person.id;
  }

  /** The person's session, grant, token and factor rows the act has taken by the time it waits for the person's row. */
  async function takenWhileWaiting(userId: string, act: () => Promise<unknown>): Promise<number> {
    const { db } = server.testDb;
    const holder = await db.transaction();
    try {
      await holder('users').where({ id: userId }).forUpdate();
      const acting = act();
      await untilWaitingOnALock(db, acting);
      const taken = await rowsHeldElsewhere(db, 'oidc_records', 'account_id', userId) + await rowsHeldElsewhere(db, 'factors', 'user_id', userId);
      await holder.commit();
      await acting;
      return taken;
    } finally {
      if (!holder.isCompleted()) await holder.rollback();
    }
  }

  it('deleting the person takes nothing of theirs before their row', async () => {
    const userId = await signedInPerson();
    expect(await takenWhileWaiting(userId, () => server.operations.people.deleteUser(ADMIN, userId))).toBe(0);
    expect(await server.stores.users.findById(userId)).toBeUndefined();
  });

  it('an admin resetting their factors takes nothing of theirs before their row', async () => {
    const userId = await signedInPerson();
    expect(await takenWhileWaiting(userId, () => server.operations.factors!.reset(ADMIN, userId))).toBe(0);
    expect(await server.testDb.db('factors').where({ user_id: userId })).toEqual([]);
  });
});
