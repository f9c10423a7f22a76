// A person's grants as they think of them: one entry per app, whatever number of sign-in sessions
// each holds a copy of the grant (src/oidc/configuration.ts loadExistingGrant).
import { ACCOUNT_CLIENT_ID } from '../clients/store.js';
import type { Database } from '../db/knex.js';
import { decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { apiNames, grantsWithUse, scopeList, type GrantedApi } from './store.js';

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
 * The apps a person has allowed, by name. Grouping needs all of the person's grants, which the
 * account index hands over in one range; a person holds a grant per app per session, not thousands.
 */
export async function listConnectedApps(db: Database, userId: string, page: PageRequest = {}): Promise<Page<ConnectedApp>> {
  const limit = pageSize(page.limit);
  const query = grantsWithUse(db)
    .where('g.account_id', userId)
    .whereNot('g.client_id', ACCOUNT_CLIENT_ID)
    .groupBy('g.client_id', 'c.name')
    .select('g.client_id', 'c.name as client_name')
    .select(db.raw('min(g.created_at) as created_at, max(u.last_used_at) as last_used_at, count(*)::int as grant_count'))
    .select(db.raw(`jsonb_agg(jsonb_build_object('scope', g.payload->'openid'->'scope', 'resources', g.payload->'resources') order by g.created_at) as parts`))
    .orderByRaw(`coalesce(c.name, ''), g.client_id`)
    .limit(limit + 1);
  if (page.cursor !== undefined) {
    const [name, clientId] = decodeCursor(page.cursor, ['text', 'text']);
    query.whereRaw(`(coalesce(c.name, ''), g.client_id) > (?, ?)`, [name!, clientId!]);
  }
  const rows: AppRow[] = await query;
  const names = await apiNames(db, rows.slice(0, limit).flatMap((row) => row.parts.map((part) => part.resources ?? undefined)));
  return pageOf(rows, limit, (row) => appFromRow(row, names), (row) => [row.client_name ?? '', row.client_id]);
}
