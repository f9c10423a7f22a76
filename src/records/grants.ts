// Grant rows as people and admins list them (src/grants/ shapes them for display), and the grant
// that remembered consent reuses. Every listing asks liveness of the repository's clock. Each read
// takes the connection or transaction to run on: admin acts read inside theirs.
import type { Knex } from 'knex';
import type { AdapterPayload } from 'oidc-provider';
import { digest } from '../crypto/digest.js';
import type { Database } from '../db/knex.js';
import { cursorTimestamp, decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { fromRow, GRANTABLE_MODELS, liveSql, TABLE, type FoundRow, type GrantPayload } from './rows.js';

/** A live grant as listed: its row, its app's name, and when a token was last issued under it. */
export interface GrantRecord {
  grantId: string;
  accountId: string;
  clientId: string;
  /** Null when the app is no longer registered. */
  clientName: string | null;
  payload: GrantPayload;
  createdAt: Date;
  /** When a token was last issued under the grant (a refresh counts); null if none is left. */
  lastUsedAt: Date | null;
  expiresAt: Date | null;
}

/** Which grants a listing reads: a person's (optionally without one app's), or an app's. */
export type GrantListing = { accountId: string; exceptClientId?: string } | { clientId: string };

interface GrantRow {
  grant_id: string;
  account_id: string;
  client_id: string;
  client_name: string | null;
  payload: GrantPayload;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  cursor_at: string;
  id_digest: string;
}

function grantRecord(row: GrantRow): GrantRecord {
  return {
    grantId: row.grant_id,
    accountId: row.account_id,
    clientId: row.client_id,
    clientName: row.client_name,
    payload: row.payload,
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : null,
    expiresAt: row.expires_at ? new Date(row.expires_at) : null,
  };
}

const LAST_USED = `left join lateral (select max(t.created_at) as last_used_at from ${TABLE} t
        where t.grant_id = g.grant_id and t.model in (${GRANTABLE_MODELS.map(() => '?').join(', ')})) u on true`;

/** Live Grant rows (alias g) with their app (c) and the newest token issued under each (u), on oidc_records_grant_idx. */
function grantRows(db: Database, now: Date): Knex.QueryBuilder {
  return db(`${TABLE} as g`)
    .leftJoin('clients as c', 'c.client_id', 'g.client_id')
    .joinRaw(LAST_USED, [...GRANTABLE_MODELS])
    .where('g.model', 'Grant')
    .whereRaw(liveSql('g'), [now])
    .select('g.grant_id', 'g.account_id', 'g.client_id', 'c.name as client_name', 'g.payload', 'g.created_at', 'g.expires_at', 'u.last_used_at', 'g.id_digest')
    .select(db.raw(`${cursorTimestamp('g.created_at')} as cursor_at`));
}

/** A page of live grants, newest first. */
export async function listGrants(db: Database, now: Date, listing: GrantListing, page: PageRequest): Promise<Page<GrantRecord>> {
  const limit = pageSize(page.limit);
  const query = grantRows(db, now);
  if ('accountId' in listing) {
    query.where('g.account_id', listing.accountId);
    if (listing.exceptClientId !== undefined) query.whereNot('g.client_id', listing.exceptClientId);
  } else {
    query.where('g.client_id', listing.clientId);
  }
  if (page.cursor !== undefined) {
    const [at, idDigest] = decodeCursor(page.cursor, ['timestamp', 'text']);
    query.whereRaw('(g.created_at, g.id_digest) < (?::timestamptz, ?)', [at!, idDigest!]);
  }
  const rows: GrantRow[] = await query.orderBy([{ column: 'g.created_at', order: 'desc' }, { column: 'g.id_digest', order: 'desc' }]).limit(limit + 1);
  return pageOf(rows, limit, grantRecord, (row) => [row.cursor_at, row.id_digest]);
}

/** One live grant by its id. */
export async function findGrant(db: Database, now: Date, grantId: string): Promise<GrantRecord | undefined> {
  const row: GrantRow | undefined = await grantRows(db, now).where('g.id_digest', digest(grantId)).first();
  return row && grantRecord(row);
}

/**
 * The newest live grant this person gave this app, so consent is remembered across sessions and
 * devices rather than only within the session that gave it. It comes back as the payload a Grant
 * find(grant id) would return, read in the statement that finds it: remembering consent costs one
 * round trip, not one for the id and another for Grant.find.
 */
export async function latestGrant(db: Database, now: Date, accountId: string, clientId: string): Promise<AdapterPayload | undefined> {
  const row = await db(TABLE)
    .first<(FoundRow & { grant_id: string | null }) | undefined>('grant_id', 'payload', 'consumed_at')
    .where({ account_id: accountId, model: 'Grant', client_id: clientId })
    .whereRaw(liveSql(TABLE), [now])
    .orderBy('created_at', 'desc');
  return row?.grant_id ? fromRow(row, row.grant_id) : undefined;
}

/** The apps holding a live grant of the person, each once (who to tell when they are signed out of everything). */
export async function clientIdsWithGrantsOf(db: Database, now: Date, accountId: string): Promise<string[]> {
  const rows: Array<{ client_id: string }> = await db(TABLE)
    .distinct('client_id')
    .where({ account_id: accountId, model: 'Grant' })
    .whereNotNull('client_id')
    .whereRaw(liveSql(TABLE), [now]);
  return rows.map((row) => row.client_id);
}

/** One app a person allowed, from all the live grants (one per sign-in session) it holds. */
export interface ConnectedAppRecord {
  clientId: string;
  /** Null when the app is no longer registered. */
  clientName: string | null;
  /** The earliest live grant. */
  createdAt: Date;
  lastUsedAt: Date | null;
  grantCount: number;
  /** Each grant's OpenID scope and API scopes, oldest grant first. */
  parts: Array<{ scope?: unknown; resources?: Record<string, string> | null }>;
}

interface AppRow {
  client_id: string;
  client_name: string | null;
  created_at: Date;
  last_used_at: Date | null;
  grant_count: number;
  parts: ConnectedAppRecord['parts'];
}

/**
 * The apps a person has allowed, by name, without `exceptClientId`. The page's apps are chosen from
 * the person's grants alone (grouped by app on the account index: first grant, count, grant ids);
 * only their grants are then read for the scopes and probed for their newest token (grant_id =
 * any(...) on oidc_records_grant_idx). Probing every grant before grouping cost a person with
 * 10,000 grants 10,000 probes per page (docs/listings.md).
 */
export async function listConnectedApps(db: Database, now: Date, accountId: string, exceptClientId: string, page: PageRequest): Promise<Page<ConnectedAppRecord>> {
  const limit = pageSize(page.limit);
  const apps = db(`${TABLE} as g`)
    .whereRaw(liveSql('g'), [now])
    .leftJoin('clients as c', 'c.client_id', 'g.client_id')
    .where('g.model', 'Grant')
    .where('g.account_id', accountId)
    .whereNot('g.client_id', exceptClientId)
    .groupBy('g.client_id', 'c.name')
    .select('g.client_id', 'c.name as client_name')
    .select(db.raw('min(g.created_at) as created_at, count(*)::int as grant_count, array_agg(g.grant_id) as grant_ids'))
    .orderByRaw(`coalesce(c.name, ''), g.client_id`)
    .limit(limit + 1);
  if (page.cursor !== undefined) {
    const [name, clientId] = decodeCursor(page.cursor, ['text', 'text']);
    apps.whereRaw(`(coalesce(c.name, ''), g.client_id) > (?, ?)`, [name!, clientId!]);
  }
  // A Grant row's grant_id is its own id (rows.ts), unique among grants: the ids picked above read
  // back exactly the live grants they came from.
  const rows: AppRow[] = await db
    .from(apps.as('a'))
    .joinRaw(
      `left join lateral (select max(t.created_at) as last_used_at from ${TABLE} t
        where t.grant_id = any(a.grant_ids) and t.model in (${GRANTABLE_MODELS.map(() => '?').join(', ')})) u on true`,
      [...GRANTABLE_MODELS],
    )
    .joinRaw(`left join lateral (select jsonb_agg(jsonb_build_object('scope', p.payload->'openid'->'scope', 'resources', p.payload->'resources')
        order by p.created_at) as parts from ${TABLE} p where p.grant_id = any(a.grant_ids) and p.model = 'Grant') p on true`)
    .select('a.client_id', 'a.client_name', 'a.created_at', 'u.last_used_at', 'a.grant_count', 'p.parts')
    .orderByRaw(`coalesce(a.client_name, ''), a.client_id`);
  return pageOf(rows, limit, (row) => ({
    clientId: row.client_id,
    clientName: row.client_name,
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : null,
    grantCount: row.grant_count,
    parts: row.parts,
  }), (row) => [row.client_name ?? '', row.client_id]);
}
