// The address change a person asked for and has not confirmed yet (migration 011): one per
// account, replaced when they ask again. A link to an address that is not the account's may change
// the account only while a row here asks for exactly that change from the address it still has.
import type { Database } from '../db/knex.js';
import type { OneTimeLinks } from '../links/store.js';

const TABLE = 'email_changes';

export interface PendingChange {
  from: string;
  to: string;
  requestedAt: Date;
}

interface Row {
  from_email: string;
  to_email: string;
  requested_at: Date;
}

/** Records (or replaces) the change the person asked for. */
export async function recordPendingChange(trx: Database, userId: string, change: PendingChange): Promise<void> {
  await trx(TABLE)
    .insert({ user_id: userId, from_email: change.from, to_email: change.to, requested_at: change.requestedAt })
    .onConflict('user_id')
    .merge();
}

export async function pendingChangeOf(db: Database, userId: string): Promise<PendingChange | undefined> {
  const row: Row | undefined = await db(TABLE).first('from_email', 'to_email', 'requested_at').where({ user_id: userId });
  return row && { from: row.from_email, to: row.to_email, requestedAt: new Date(row.requested_at) };
}

export async function forgetPendingChange(trx: Database, userId: string): Promise<void> {
  await trx(TABLE).where({ user_id: userId }).delete();
}

/**
 * For every act that secures an account (a new password however it was set, disabling it): the
 * address change it was waiting on is dropped, with the verification links that would have made
 * it. Someone who asked to move a stolen account to their own address must not complete the move
 * after the owner has taken the account back.
 */
export async function abandonAddressChange(trx: Database, links: OneTimeLinks, userId: string): Promise<void> {
  await forgetPendingChange(trx, userId);
  await links.revokeAll(trx, userId, 'verification');
}
