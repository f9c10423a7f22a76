// What "revoke" and "forget" delete: the one place that knows, used by a detected replay
// (model-records.ts), token revocation, people ending sessions, and administration alike. Every
// function takes the connection or transaction it runs on: admin acts run in one transaction with
// their audit entry, and on PGlite that transaction holds the only connection.
import { digest } from '../crypto/digest.js';
import { deletedRows, type Database } from '../db/knex.js';
import { GRANTABLE_MODELS, isLookupKey, liveSql, TABLE, type GrantPayload } from './rows.js';
import { inTransaction } from '../db/transactions.js';
import { revokedInThisRequest } from '../db/change-barrier.js';

/** A grant revoked: who gave it to which app, and the APIs (RFC 8707 resources) its tokens were for. */
export interface RevokedGrant {
  grantId: string;
  accountId: string;
  clientId: string;
  resources: string[];
}

/**
 * Why oidc-provider revoked a grant, when no audited act is behind it: a replayed code or refresh
 * token, the person signing out of the app, or the app revoking its token.
 */
export type RevocationCause = 'replay' | 'sign_out' | 'token_revoked';

/**
 * Told of the grants a revocation deleted, inside its transaction, before it commits: what it
 * writes (the security events to push, src/security-events/) commits or rolls back with them.
 * `cause` is set when no act with an actor is behind the revocation.
 */
export type RevocationObserver = (trx: Database, grants: RevokedGrant[], cause?: RevocationCause) => Promise<void>;

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
export async function revokeGrants(db: Database, selector: GrantSelector, observe?: RevocationObserver, cause?: RevocationCause): Promise<number> {
  // The observer writes in the revocation's transaction; a revocation on its own gets one.
  if (observe && !db.isTransaction) return inTransaction(db, (trx) => revokeGrants(trx, selector, observe, cause));
  // An id no row can hold (NUL, absurd length) selects nothing; it must not reach a query.
  const named = 'grantIds' in selector ? selector.grantIds : [('accountId' in selector ? selector.accountId : ''), selector.clientId ?? ''];
  if (!named.every((value) => value === '' || isLookupKey(value))) return 0;
  const models = ['Grant', ...GRANTABLE_MODELS];
  const query = db(TABLE);
  if ('grantIds' in selector) {
    const ids = selector.grantIds.filter((id) => typeof id === 'string' && id.length > 0);
    if (ids.length === 0) return 0;
    // A Grant row is found by its primary key too, which holds whatever grant_id says.
    query
      .where((q) => q.whereRaw('grant_id = any(?::text[])', [ids]).whereIn('model', models))
      .orWhere((q) => q.where('model', 'Grant').whereRaw('id_digest = any(?::text[])', [ids.map(digest)]));
  } else {
    const grants = db(TABLE).select('grant_id').where('model', 'Grant').whereNotNull('grant_id');
    if ('accountId' in selector) grants.where('account_id', selector.accountId);
    if (selector.clientId !== undefined) grants.where('client_id', selector.clientId);
    query.whereIn('grant_id', grants).whereIn('model', models);
  }
  const deleted: DeletedRow[] = await query.delete().returning(observe ? DELETED_GRANT_FACTS(db) : ['model']);
  const grants = deleted.filter((row) => row.model === 'Grant');
  if (grants.length) revokedInThisRequest();
  if (observe && grants.length) await observe(db, revokedGrants(grants), cause);
  return grants.length;
}

interface DeletedRow { model: string; grant_id: string | null; account_id: string | null; client_id: string | null; resources?: Record<string, unknown> | null }

/** What a deleted row says of itself for an observer; only a Grant row's payload is read (its APIs). */
export const DELETED_GRANT_FACTS = (db: Database) => ['model', 'grant_id', 'account_id', 'client_id', db.raw(`case when model = 'Grant' then payload->'resources' end as resources`) as never];

export function revokedGrants(rows: readonly DeletedRow[]): RevokedGrant[] {
  return rows.filter((row) => row.model === 'Grant' && row.grant_id && row.account_id && row.client_id).map((row) => ({
    grantId: row.grant_id!,
    accountId: row.account_id!,
    clientId: row.client_id!,
    resources: Object.keys(row.resources ?? {}),
  }));
}

/**
 * A live grant, with what the person let its app know about them: the OpenID scopes and the
 * claims asked for one by one (the Grant payload's `openid.scope` and `openid.claims`).
 */
export interface LiveGrant extends RevokedGrant {
  openid: { scopes: string[]; claims: string[] };
}

/** What a person's live grants reach: the app and the APIs of each (who hears of an account's news). */
export async function liveGrantsOf(db: Database, now: Date, accountId: string): Promise<LiveGrant[]> {
  const rows: Array<{ grant_id: string; client_id: string; resources: Record<string, unknown> | null; openid: GrantPayload['openid'] | null }> = await db(TABLE)
    .select('grant_id', 'client_id', db.raw(`payload->'resources' as resources`), db.raw(`payload->'openid' as openid`))
    .where({ model: 'Grant', account_id: accountId })
    .whereNotNull('grant_id')
    .whereRaw(liveSql(TABLE), [now]);
  return rows.map((row) => ({
    grantId: row.grant_id, accountId, clientId: row.client_id, resources: Object.keys(row.resources ?? {}),
    openid: {
      scopes: typeof row.openid?.scope === 'string' ? row.openid.scope.split(' ').filter(Boolean) : [],
      claims: Array.isArray(row.openid?.claims) ? row.openid.claims.filter((claim): claim is string => typeof claim === 'string') : [],
    },
  }));
}

/**
 * Every live grant of a person that can outlive their sign-ins: one holding a live refresh token,
 * or one whose consent includes offline_access (`openid.scope` of the Grant payload: a code not yet
 * redeemed would bring one). `keep` names grants to spare.
 */
export async function offlineGrantIds(db: Database, now: Date, accountId: string, keep: readonly string[]): Promise<string[]> {
  const query = db(TABLE)
    .distinct('grant_id')
    .where('account_id', accountId)
    .whereIn('model', ['RefreshToken', 'Grant'])
    .whereNotNull('grant_id')
    .where((q) => q.where('model', 'RefreshToken').orWhereRaw(`payload->'openid'->>'scope' ~ '(^| )offline_access( |$)'`))
    .whereRaw(liveSql(TABLE), [now]);
  if (keep.length > 0) query.whereRaw('not (grant_id = any(?::text[]))', [[...keep]]);
  const rows: Array<{ grant_id: string }> = await query;
  return rows.map((row) => row.grant_id);
}

/** Deletes every record naming the person (grants, tokens, sessions, interactions); walks the account index. */
export async function forgetAccount(db: Database, accountId: string): Promise<number> {
  return deletedRows(await db(TABLE).where('account_id', accountId).delete());
}

/** Deletes every record issued to the app, its grants included. */
export async function forgetClient(db: Database, clientId: string): Promise<number> {
  return deletedRows(await db(TABLE).where('client_id', clientId).delete());
}
