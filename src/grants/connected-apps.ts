// A person's grants as they think of them: one entry per app, whatever number of sign-in sessions
// each holds a copy of the grant (src/oidc/configuration.ts loadExistingGrant). The rows come from
// the records repository (src/records/grants.ts); this merges each app's grants for display.
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { OidcRecords, type ConnectedAppRecord } from '../records/index.js';
import { apiNames, scopeList, type GrantedApi } from './store.js';

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

function union<T>(lists: T[][]): T[] {
  return [...new Set(lists.flat())];
}

function connectedApp(row: ConnectedAppRecord, names: Map<string, string>): ConnectedApp {
  const apis = new Map<string, string[][]>();
  for (const part of row.parts) {
    for (const [identifier, scope] of Object.entries(part.resources ?? {})) {
      apis.set(identifier, [...(apis.get(identifier) ?? []), scopeList(scope)]);
    }
  }
  return {
    clientId: row.clientId,
    clientName: row.clientName,
    scopes: union(row.parts.map((part) => scopeList(part.scope))),
    apis: [...apis].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([identifier, scopes]) => ({ identifier, name: names.get(identifier) ?? null, scopes: union(scopes) })),
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    grantCount: row.grantCount,
  };
}

/**
 * The apps a person has allowed, by name, Gatehouse's own sign-in left out. `records` defaults to a
 * repository on `db` with the real clock; the server passes its own.
 */
export async function listConnectedApps(db: Database, userId: string, page: PageRequest = {}, records = new OidcRecords(db)): Promise<Page<ConnectedApp>> {
  const apps = await records.listConnectedApps(userId, ACCOUNT_CLIENT_ID, page);
  const names = await apiNames(db, apps.items.flatMap((app) => app.parts.map((part) => part.resources ?? undefined)));
  return { items: apps.items.map((app) => connectedApp(app, names)), nextCursor: apps.nextCursor };
}
