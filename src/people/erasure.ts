// Deleting a person, whoever asks for it (an administrator, or the person on their account pages),
// inside the asking act's transaction: every session ended (the apps signed in through them get
// back-channel logout tokens), every grant revoked (the apps and APIs get session-revoked; the
// act's audit entry then tells them the account is purged), every record naming the person
// forgotten, then the person. Audit entries about them stay: they are the account of what happened.
import type { Database } from '../db/knex.js';
import type { GrantStore } from '../grants/store.js';
import { endedResult, type EndedSessionsResult } from '../sessions/ending.js';
import type { SessionStore } from '../sessions/store.js';
import type { UserStore } from './users.js';

export interface ErasureStores {
  users: Pick<UserStore, 'delete' | 'findForUpdate'>;
  sessions: Pick<SessionStore, 'endAll'>;
  grants: Pick<GrantStore, 'revokeAllOfUser' | 'forgetUser'>;
}

/** What the deletion ended; undefined when there was no such person (nothing else was touched then either, once the transaction rolls back). */
export async function eraseAccount(stores: ErasureStores, trx: Database, userId: string): Promise<EndedSessionsResult | undefined> {
  // The person's row first, as disabling them or changing their password takes it before their
  // sessions and grants: taking those first, this could deadlock with such an act.
  if (!(await stores.users.findForUpdate(userId, trx))) return undefined;
  const ended = endedResult(await stores.sessions.endAll(userId, {}, trx), await stores.grants.revokeAllOfUser(userId, trx));
  await stores.grants.forgetUser(userId, trx);
  return (await stores.users.delete(userId, trx)) ? ended : undefined;
}
