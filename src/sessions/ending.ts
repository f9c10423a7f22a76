// What ending a person's sessions means, for an administrator acting on someone and for a person
// acting on their own account alike: the sessions go, with the grants of the apps signed in
// through them, and each way of ending them is described the same way in the audit log. These run
// inside an audited act's transaction (src/audit/audited.ts), on its `trx`.
import type { Database } from '../db/knex.js';
import { found } from '../errors.js';
import type { GrantStore } from '../grants/store.js';
import type { EndedSessions, SessionStore } from './store.js';

/** What ending sessions did: sessions ended and the grants of the apps signed in through them. */
export interface EndedSessionsResult {
  sessionsEnded: number;
  grantsRevoked: number;
}

export interface SessionEndingStores {
  sessions: SessionStore;
  grants: GrantStore;
}

export function endedResult(ended: EndedSessions, moreGrants = 0): EndedSessionsResult {
  return { sessionsEnded: ended.sessions, grantsRevoked: ended.grants + moreGrants };
}

/** Ends one session of the person, and the grants of the apps signed in through it. */
export async function endOneSession(stores: SessionEndingStores, trx: Database, userId: string, handle: string) {
  const ended = endedResult(found(await stores.sessions.end(userId, handle, trx), 'session'));
  return { result: ended, event: { type: 'session.ended' as const, userId, details: { session: handle, how: 'ended', ...ended } } };
}

/** Ends every session of the person, or every one but `except` (the browser asking). */
export async function endSessionsBut(stores: SessionEndingStores, trx: Database, userId: string, except: string | undefined) {
  const ended = endedResult(await stores.sessions.endAll(userId, except === undefined ? {} : { except }, trx));
  return { result: ended, event: { type: 'session.ended' as const, userId, details: { how: except === undefined ? 'ended_all' : 'ended_others', ...ended } } };
}

/**
 * Revokes every grant of the person that holds (or may be given) a refresh token: the access an
 * app keeps after every sign-in has ended, where a thief's copy would be. The grants of the apps
 * signed in through `keepSession` (the person's own browser) are spared.
 */
export async function endOfflineAccess(stores: SessionEndingStores, trx: Database, userId: string, keepSession?: string): Promise<number> {
  const keep = keepSession === undefined ? [] : await stores.sessions.grantIdsOf(userId, keepSession, trx);
  return stores.grants.revokeOfflineOfUser(userId, keep, trx);
}

/**
 * Signs the person out of everything: every session ends, every app signed in through one or
 * holding a grant of theirs gets a back-channel logout token (src/logout/), and every grant that
 * outlives sign-ins (offline access) is revoked. One call for any act that must put the account
 * back in its owner's hands alone (a reset of their sign-in factors); run it in the act's
 * transaction.
 */
export async function signOutEverywhere(stores: SessionEndingStores, trx: Database, userId: string): Promise<EndedSessionsResult> {
  const ended = await stores.sessions.endAll(userId, { everyApp: true }, trx);
  return endedResult(ended, await endOfflineAccess(stores, trx, userId));
}
