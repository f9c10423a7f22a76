// Grants as people and admins see them: which app a person allowed to do what on their behalf,
// read from oidc-provider's Grant rows through the records repository (src/records/), newest
// first. This module shapes them for display and names the APIs (resource_servers) they reach.
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { isStorableKey } from '../db/text.js';
import { MAX_HANDLE_LENGTH } from '../lifetimes.js';
import { OidcRecords, type GrantRecord } from '../records/index.js';
import { listConnectedApps, type ConnectedApp } from './connected-apps.js';

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

export function scopeList(scope: unknown): string[] {
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
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

function grantInfo(record: GrantRecord, names: Map<string, string>): GrantInfo {
  return {
    id: record.grantId,
    userId: record.accountId,
    clientId: record.clientId,
    clientName: record.clientName,
    scopes: scopeList(record.payload.openid?.scope),
    apis: grantedApis(record.payload.resources, names),
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    expiresAt: record.expiresAt,
  };
}

function isHandle(value: unknown): value is string {
  return isStorableKey(value, MAX_HANDLE_LENGTH);
}

export class GrantStore {
  constructor(
    private readonly db: Database,
    /** The grant rows; its clock decides which grants are live. */
    private readonly records: OidcRecords = new OidcRecords(db),
  ) {}

  /** A person's live grants, newest first, without the sign-in to Gatehouse's own pages. */
  async listByUser(userId: string, page: PageRequest = {}): Promise<Page<GrantInfo>> {
    if (!isHandle(userId)) return { items: [], nextCursor: null };
    return this.page(await this.records.listGrants({ accountId: userId, exceptClientId: ACCOUNT_CLIENT_ID }, page));
  }

  /** The apps a person allowed, one entry per app however many grants it holds (connected-apps.ts). */
  listConnectedApps(userId: string, page: PageRequest = {}): Promise<Page<ConnectedApp>> {
    return listConnectedApps(this.db, userId, page, this.records);
  }

  /** An app's live grants, newest first. */
  async listByClient(clientId: string, page: PageRequest = {}): Promise<Page<GrantInfo>> {
    if (!isHandle(clientId) || clientId === ACCOUNT_CLIENT_ID) return { items: [], nextCursor: null };
    return this.page(await this.records.listGrants({ clientId }, page));
  }

  async find(grantId: string, trx: Database = this.db): Promise<GrantInfo | undefined> {
    if (!isHandle(grantId)) return undefined;
    const record = await this.records.findGrant(grantId, trx);
    if (!record) return undefined;
    return grantInfo(record, await apiNames(trx, [record.payload.resources]));
  }

  /** Revokes these grants and everything issued under them; returns how many grants there were. */
  revoke(grantIds: readonly string[], trx: Database = this.db): Promise<number> {
    return this.records.revokeGrants({ grantIds: grantIds.filter(isHandle) }, trx);
  }

  /** Every grant one person gave one app (each sign-in session holds its own copy). */
  // An id no grant can hold (a NUL, which PostgreSQL text refuses) revokes nothing.
  async revokeForUserAndClient(userId: string, clientId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(userId) || !isHandle(clientId)) return 0;
    return this.records.revokeGrants({ accountId: userId, clientId }, trx);
  }

  async revokeAllOfClient(clientId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(clientId)) return 0;
    return this.records.revokeGrants({ clientId }, trx);
  }

  /**
   * Every grant of a person that can outlive their sign-ins: one holding a live refresh token, or
   * one whose consent includes offline_access (a code not yet redeemed would bring one). Signing
   * out at Gatehouse leaves these standing by design (oidc-provider's persistsLogout), so ending
   * sessions alone never reaches them. `keep` names grants to spare (the current browser's).
   */
  async revokeOfflineOfUser(userId: string, keep: readonly string[] = [], trx: Database = this.db): Promise<number> {
    if (!isHandle(userId)) return 0;
    return this.records.revokeOfflineOfUser(userId, keep, trx);
  }

  /** Every grant of a person, Gatehouse's own sign-ins included. */
  async revokeAllOfUser(userId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(userId)) return 0;
    return this.records.revokeGrants({ accountId: userId }, trx);
  }

  /**
   * Deletes every oidc-provider record naming the person (grants, tokens, sessions, interactions),
   * for deleting the person; returns how many rows went.
   */
  async forgetUser(userId: string, trx: Database = this.db): Promise<number> {
    if (!isHandle(userId)) return 0;
    return this.records.forgetUser(userId, trx);
  }

  private async page(records: Page<GrantRecord>): Promise<Page<GrantInfo>> {
    const names = await apiNames(this.db, records.items.map((record) => record.payload.resources));
    return { items: records.items.map((record) => grantInfo(record, names)), nextCursor: records.nextCursor };
  }
}
