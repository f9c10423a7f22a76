// Revoking grants: the one place that knows what "revoke" deletes, used by oidc-provider's adapter
// (refresh-token reuse, token revocation) and by administration alike.
import type { Knex } from 'knex';
import { digest } from '../crypto/digest.js';
import { isStorableKey } from '../db/text.js';
import { MAX_HANDLE_LENGTH } from '../lifetimes.js';
// Models whose records hang off a grant, as oidc-provider sees them: a detected replay kills
// these, and only these.
import { GRANTABLE_MODELS } from '../oidc/internals.js';

/** Which grants to revoke: by id, or every grant a person gave (to one app), or every grant of an app. */
export type GrantSelector =
  | { grantIds: readonly string[] }
  | { accountId: string; clientId?: string }
  | { clientId: string };

/**
 * Deletes the selected Grant rows and everything issued under them, in one statement, and returns
 * how many grants went. Without the Grant row, tokens a racing request saves after this point are
 * still refused by refresh, userinfo and introspection (src/tokens/jwt-truth.ts), and every deleted
 * Grant row is announced on the change feed (migration 003) so every instance's caches drop it.
 */
export async function revokeGrants(db: Knex, selector: GrantSelector): Promise<number> {
  // An id no row can hold (NUL, absurd length) selects nothing; it must not reach a query.
  const named = 'grantIds' in selector ? selector.grantIds : [('accountId' in selector ? selector.accountId : ''), selector.clientId ?? ''];
  if (!named.every((value) => value === '' || isStorableKey(value, MAX_HANDLE_LENGTH))) return 0;
  const models = ['Grant', ...GRANTABLE_MODELS];
  const query = db('oidc_records');
  if ('grantIds' in selector) {
    const ids = selector.grantIds.filter((id) => typeof id === 'string' && id.length > 0);
    if (ids.length === 0) return 0;
    // A Grant row is found by its primary key too, which holds whatever grant_id says.
    query
      .where((q) => q.whereRaw('grant_id = any(?::text[])', [ids]).whereIn('model', models))
      .orWhere((q) => q.where('model', 'Grant').whereRaw('id_digest = any(?::text[])', [ids.map(digest)]));
  } else {
    const grants = db('oidc_records').select('grant_id').where('model', 'Grant').whereNotNull('grant_id');
    if ('accountId' in selector) grants.where('account_id', selector.accountId);
    if (selector.clientId !== undefined) grants.where('client_id', selector.clientId);
    query.whereIn('grant_id', grants).whereIn('model', models);
  }
  const deleted: Array<{ model: string }> = await query.delete().returning('model');
  return deleted.filter((row) => row.model === 'Grant').length;
}
