// Grants outside oidc-provider's own lookups. A Grant row carries its id in grant_id (a grant id is
// not a credential: it names a consent, it cannot be exchanged for anything).
import type { Database } from '../db/knex.js';

/**
 * The newest live grant this person gave this app, so consent is remembered across sessions and
 * devices rather than only within the session that gave it.
 */
export async function findLatestGrantId(db: Database, accountId: string, clientId: string, now = Date.now()): Promise<string | undefined> {
  const row = await db('oidc_records')
    .select('grant_id')
    .where({ account_id: accountId, model: 'Grant', client_id: clientId })
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date(now)))
    .orderBy('created_at', 'desc')
    .first();
  return (row?.grant_id as string | undefined) ?? undefined;
}
