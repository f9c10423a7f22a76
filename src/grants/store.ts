// Grants as people and admins see them: which app a person allowed to do what on their behalf,
// read from oidc-provider's Grant rows (src/oidc/adapter.ts writes them), newest first.
import type { Knex } from 'knex';
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import { digest } from '../crypto/digest.js';
import { deletedRows, type Database } from '../db/knex.js';
import { cursorTimestamp, decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { isStorableKey } from '../db/text.js';
import { MAX_HANDLE_LENGTH } from '../lifetimes.js';
import { revokeGrants } from './revoke.js';
import { GRANTABLE_MODELS, type StoredGrantPayload } from '../oidc/internals.js';

/** Access to one API (RFC 8707 resource server) within a grant. */
export interface GrantedApi {
  identifier: string;
  /** The API's name; null when it is no longer registered. */
  name: string | null;
  scopes: string[];
}

export interface GrantInfo {
  /** The grant id: the public handle of a grant (it names a consent; it is not a credential). */
  id: string;
  userId: string;
  clientId: string;
  /** Null when the app is no longer registered. */
  clientName: string | null;
  /** OpenID Connect scopes granted (openid, profile, email, offline_access, ...). */
  scopes: string[];
  apis: GrantedApi[];
  createdAt: Date;
  /** When a token was last issued under the grant (a refresh counts); null if none is left. */
  lastUsedAt: Date | null;
  expiresAt: Date | null;
}

export interface GrantRow {
  grant_id: string;
  account_id: string;
  client_id: string;
  client_name: string | null;
  payload: StoredGrantPayload;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  cursor_at: string;
  id_digest: string;
}

export function scopeList(scope: unknown): string[] {
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
}

/** Live = not expired; the janitor deletes expired rows only eventually. */
export function whereLive(q: Knex.QueryBuilder, alias: string): Knex.QueryBuilder {
  return q.whereRaw(`(${alias}.expires_at is null or ${alias}.expires_at > now())`);
}

/** Grant rows (alias g) joined with their app (c) and the newest token issued under each (u), on oidc_records_grant_idx. */
export function grantsWithUse(db: Database): Knex.QueryBuilder {
  const query = db('oidc_records as g')
    .leftJoin('clients as c', 'c.client_id', 'g.client_id')
    .joinRaw(
      `left join lateral (select max(t.created_at) as last_used_at from oidc_records t
        where t.grant_id = g.grant_id and t.model in (${GRANTABLE_MODELS.map(() => '?').join(', ')})) u on true`,
      [...GRANTABLE_MODELS],
    )
    .where('g.model', 'Grant');
  return whereLive(query, 'g');
}

function grantRows(db: Database): Knex.QueryBuilder {
  return grantsWithUse(db)
    .select('g.grant_id', 'g.account_id', 'g.client_id', 'c.name as client_name', 'g.payload', 'g.created_at', 'g.expires_at', 'u.last_used_at', 'g.id_digest')
    .select(db.raw(`${cursorTimestamp('g.created_at')} as cursor_at`));
}

/** The names of the APIs a page of grants mentions, in one query per page. */
export async function apiNames(db: Database, resources: Array<Record<string, string> | undefined>): Promise<Map<string, string>> {
  const identifiers = [...new Set(resources.flatMap((r) => Object.keys(r ?? {})))];
  if (identifiers.length === 0) return new Map();
  const rows: Array<{ identifier: string; name: string }> = await db('resource_servers').select('identifier', 'name').whereIn('identifier', identifiers);
  return new Map(rows.map((row) => [row.identifier, row.name]));
}

export function grantedApis(resources: Record<string, string> | undefined, names: Map<string, string>): GrantedApi[] {
  // jsonb keeps keys in its own order; identifiers sorted read the same on every page.
  return Object.entries(resources ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([identifier, scope]) => ({ identifier, name: names.get(identifier) ?? null, scopes: scopeList(scope) }));
}

function grantFromRow(row: GrantRow, names: Map<string, string>): GrantInfo {
  return {
    id: row.grant_id,
    userId: row.account_id,
    clientId: row.client_id,
    clientName: row.client_name,
    scopes: scopeList(row.payload.openid?.scope),
    apis: grantedApis(row.payload.resources, names),
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : null,
    expiresAt: row.expires_at ? new Date(row.expires_at) : null,
  };
}

function isHandle(value: unknown): value is string {
  return isStorableKey(value, MAX_HANDLE_LENGTH);
}

export class GrantStore {
  constructor(private readonly db: Database) {}

  /** A person's live grants, newest first, without the sign-in to Gatehouse's own pages. */
  async listByUser(userId: string, page: PageRequest = {}): Promise<Page<GrantInfo>> {
    if (!isHandle(userId)) return { items: [], nextCursor: null };
    return this.page(grantRows(this.db).where('g.account_id', userId).whereNot('g.client_id', ACCOUNT_CLIENT_ID), page);
  }

  /** An app's live grants, newest first. */
  async listByClient(clientId: string, page: PageRequest = {}): Promise<Page<GrantInfo>> {
    if (!isHandle(clientId) || clientId === ACCOUNT_CLIENT_ID) return { items: [], nextCursor: null };
    return this.page(grantRows(this.db).where('g.client_id', clientId), page);
  }

  async find(grantId: string, trx: Database = this.db): Promise<GrantInfo | undefined> {
    if (!isHandle(grantId)) return undefined;
    const row: GrantRow | undefined = await grantRows(trx).where('g.id_digest', digest(grantId)).first();
    if (!row) return undefined;
    return grantFromRow(row, await apiNames(trx, [row.payload.resources]));
  }

  /** Revokes these grants and everything issued under them; returns how many grants there were. */
  revoke(grantIds: readonly string[], trx: Database = this.db): Promise<number> {
    return revokeGrants(trx, { grantIds: grantIds.filter(isHandle) });
  }

  /** Every grant one person gave one app (each sign-in session holds its own copy). */
  // An id no grant can hold (a NUL, which PostgreSQL text refuses) revokes nothing.
  async revokeForUserAndClient(userId: string, clientId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(userId) || !isHandle(clientId)) return 0;
    return revokeGrants(trx, { accountId: userId, clientId });
  }

  async revokeAllOfClient(clientId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(clientId)) return 0;
    return revokeGrants(trx, { clientId });
  }

  /**
   * Every grant of a person that can outlive their sign-ins: one holding a live refresh token, or
   * one whose consent includes offline_access (a code not yet redeemed would bring one). Signing
   * out at Gatehouse leaves these standing by design (oidc-provider's persistsLogout), so ending
   * sessions alone never reaches them. `keep` names grants to spare (the current browser's).
   * The consent is read from oidc-provider's Grant payload (`openid.scope`), as grantFromRow does.
   */
  async revokeOfflineOfUser(userId: string, keep: readonly string[] = [], trx: Database = this.db): Promise<number> {
    if (!isHandle(userId)) return 0;
    const query = trx('oidc_records')
      .distinct('grant_id')
      .where('account_id', userId)
      .whereIn('model', ['RefreshToken', 'Grant'])
      .whereNotNull('grant_id')
      .where((q) => q.where('model', 'RefreshToken').orWhereRaw(`payload->'openid'->>'scope' ~ '(^| )offline_access( |$)'`));
    if (keep.length > 0) query.whereRaw('not (grant_id = any(?::text[]))', [[...keep]]);
    const rows: Array<{ grant_id: string }> = await whereLive(query, 'oidc_records');
    return rows.length === 0 ? 0 : revokeGrants(trx, { grantIds: rows.map((row) => row.grant_id) });
  }

  /** Every grant of a person, Gatehouse's own sign-ins included. */
  async revokeAllOfUser(userId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(userId)) return 0;
    return revokeGrants(trx, { accountId: userId });
  }

  /**
   * Deletes every oidc-provider record naming the person (grants, tokens, sessions, interactions),
   * for deleting the person; returns how many rows went. Walks the account index.
   */
  async forgetUser(userId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(userId)) return 0;
    return deletedRows(await trx('oidc_records').where('account_id', userId).delete());
  }

  private async page(query: Knex.QueryBuilder, page: PageRequest): Promise<Page<GrantInfo>> {
    const limit = pageSize(page.limit);
    if (page.cursor !== undefined) {
      const [at, idDigest] = decodeCursor(page.cursor, ['timestamp', 'text']);
      query.whereRaw('(g.created_at, g.id_digest) < (?::timestamptz, ?)', [at!, idDigest!]);
    }
    const rows: GrantRow[] = await query.orderBy([{ column: 'g.created_at', order: 'desc' }, { column: 'g.id_digest', order: 'desc' }]).limit(limit + 1);
    const names = await apiNames(this.db, rows.slice(0, limit).map((row) => row.payload.resources));
    return pageOf(rows, limit, (row) => grantFromRow(row, names), (row) => [row.cursor_at, row.id_digest]);
  }
}
