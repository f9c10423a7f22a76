// Grants outside oidc-provider's own lookups. A Grant row carries its id in grant_id (a grant id is
// not a credential: it names a consent, it cannot be exchanged for anything).
import type { AdapterPayload } from 'oidc-provider';
import type { Database } from '../db/knex.js';
import { fromRow, type FoundRow } from './adapter.js';

/**
 * The newest live grant this person gave this app, so consent is remembered across sessions and
 * devices rather than only within the session that gave it. It comes back as the payload the Grant
 * adapter's find(grant id) would return, read in the statement that finds it: remembering consent
 * costs one round trip, not one for the id and another for Grant.find. "Live" is what find() asks
 * of a row: not expired by the same clock (revoked grants have no row left).
 */
export async function findLatestGrant(db: Database, accountId: string, clientId: string, now = Date.now()): Promise<AdapterPayload | undefined> {
  const row = await db('oidc_records')
    .first<(FoundRow & { grant_id: string | null }) | undefined>('grant_id', 'payload', 'consumed_at')
    .where({ account_id: accountId, model: 'Grant', client_id: clientId })
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date(now)))
    .orderBy('created_at', 'desc');
  return row?.grant_id ? fromRow(row, { jti: row.grant_id }) : undefined;
}
