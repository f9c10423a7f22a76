// A person's grants as they think of them: one entry per app, whatever number of sign-in sessions
// each holds a copy of the grant (src/oidc/configuration.ts loadExistingGrant).
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import type { Database } from '../db/knex.js';
import { decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { GRANTABLE_MODELS } from '../oidc/internals.js';
import { apiNames, scopeList, whereLive, type GrantedApi } from './store.js';

export interface ConnectedApp {
  clientId: string;
  /** Null when the app is no longer registered. */
  clientName: string | null;
  /** Every OpenID Connect scope any of the app's grants holds. */
  scopes: string[];
  /** Every API any of the app's grants reaches, with the union of its scopes. */
  apis: GrantedApi[];
  /** When the person first allowed the app (the earliest live grant). */
  createdAt: Date;
  lastUsedAt: Date | null;
  /** How many live grants (one per sign-in session) the app holds. */
  grantCount: number;
}

interface AppRow {
  client_id: string;
  client_name: string | null;
  created_at: Date;
  last_used_at: Date | null;
  grant_count: number;
  parts: Array<{ scope?: unknown; resources?: Record<string, string> | null }>;
}

function union<T>(lists: T[][]): T[] {
  return [...new Set(lists.flat())];
}

function appFromRow(row: AppRow, names: Map<string, string>): ConnectedApp {
  const apis = new Map<string, string[][]>();
  for (const part of row.parts) {
    for (const [identifier, scope] of Object.entries(part.resources ?? {})) {
      apis.set(identifier, [...(apis.get(identifier) ?? []), scopeList(scope)]);
    }
  }
  return {
    clientId: row.client_id,
    clientName: row.client_name,
    scopes: union(row.parts.map((part) => scopeList(part.scope))),
    apis: [...apis].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([identifier, scopes]) => ({ identifier, name: names.get(identifier) ?? null, scopes: union(scopes) })),
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : null,
    grantCount: row.grant_count,
  };
}

/**
 * The apps a person has allowed, by name. The page's apps are chosen from the person's grants alone
 * (grouped by app on the account index: first grant, count, grant ids); only their grants are then
 * read for the scopes and probed for their newest token (grant_id = any(...) on
 * oidc_records_grant_idx). Probing every grant before grouping cost a person with 10,000 grants
 * 10,000 probes per page (docs/listings.md).
 */
export async function listConnectedApps(db: Database, userId: string, page: PageRequest = {}): Promise<Page<ConnectedApp>> {
  const limit = pageSize(page.limit);
  const apps = whereLive(db('oidc_records as g'), 'g')
    .leftJoin('clients as c', 'c.client_id', 'g.client_id')
    .where('g.model', 'Grant')
    .where('g.account_id', userId)
    .whereNot('g.client_id', ACCOUNT_CLIENT_ID)
    .groupBy('g.client_id', 'c.name')
    .select('g.client_id', 'c.name as client_name')
    .select(db.raw('min(g.created_at) as created_at, count(*)::int as grant_count, array_agg(g.grant_id) as grant_ids'))
    .orderByRaw(`coalesce(c.name, ''), g.client_id`)
    .limit(limit + 1);
  if (page.cursor !== undefined) {
    const [name, clientId] = decodeCursor(page.cursor, ['text', 'text']);
    apps.whereRaw(`(coalesce(c.name, ''), g.client_id) > (?, ?)`, [name!, clientId!]);
  }
  // A Grant row's grant_id is its own id (src/oidc/adapter.ts), unique among grants: the ids picked
  // above read back exactly the live grants they came from.
  const rows: AppRow[] = await db
    .from(apps.as('a'))
    .joinRaw(
      `left join lateral (select max(t.created_at) as last_used_at from oidc_records t
        where t.grant_id = any(a.grant_ids) and t.model in (${GRANTABLE_MODELS.map(() => '?').join(', ')})) u on true`,
      [...GRANTABLE_MODELS],
    )
    .joinRaw(`left join lateral (select jsonb_agg(jsonb_build_object('scope', p.payload->'openid'->'scope', 'resources', p.payload->'resources')
        order by p.created_at) as parts from oidc_records p where p.grant_id = any(a.grant_ids) and p.model = 'Grant') p on true`)
    .select('a.client_id', 'a.client_name', 'a.created_at', 'u.last_used_at', 'a.grant_count', 'p.parts')
    .orderByRaw(`coalesce(a.client_name, ''), a.client_id`);
  const names = await apiNames(db, rows.slice(0, limit).flatMap((row) => row.parts.map((part) => part.resources ?? undefined)));
  return pageOf(rows, limit, (row) => appFromRow(row, names), (row) => [row.client_name ?? '', row.client_id]);
}
