// APIs (RFC 8707 resource servers) that accept Gatehouse's JWT access tokens. Each comes with its
// own confidential client, the credentials it uses to introspect tokens.
import { firstIssue } from '../clients/schema.js';
import { ClientStore } from '../clients/store.js';
import type { Database } from '../db/knex.js';
import { isUniqueViolation } from '../db/errors.js';
import { cursorTimestamp, decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { isStorableKey } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import { eventsEndpointRefusal, isPollDelivery } from '../security-events/receivers.js';
import { forgetPolledEvents } from '../security-events/polls.js';
import { POLL_DELIVERY } from '../security-events/vocabulary.js';
import { API_FIELDS, API_NAME_MAX_LENGTH, changedScopes, INTROSPECTION_SUFFIX, newResourceSchema, refuseScopesOfOtherApis, refuseUnknownDownstreams, resourceChangesSchema, type LocalizedScopeDescriptions, type NewResourceServer, type ResourceChanges } from './schema.js';

export { type NewResourceServer, type ResourceChanges } from './schema.js';

export interface ResourceServer {
  identifier: string;
  name: string;
  /** Scopes this API defines, e.g. ["read", "write"]. */
  scopes: string[];
  /** Plain-words descriptions for the consent page, by scope. */
  scopeDescriptions: Record<string, string>;
  /** The same in other languages, by language tag (src/i18n/): the consent page shows the person's. */
  localizedScopeDescriptions: LocalizedScopeDescriptions;
  /** Overrides the default access-token lifetime for this API, in seconds. */
  accessTokenTtl: number | null;
  isDefault: boolean;
  clientId: string | null;
  /** Where the API receives security events (RFC 8935 push); null: it receives none. */
  eventsEndpoint: string | null;
  /** A disabled API gets no new tokens; its introspection client is disabled with it. */
  disabledAt: Date | null;
  /** Token exchange (RFC 8693): the APIs this one may exchange a person's access token for. */
  mayExchangeFor: string[];
  createdAt: Date;
}

export interface ResourceServerRow {
  identifier: string;
  name: string;
  scope: string;
  scope_descriptions: Record<string, string>;
  localized_scope_descriptions: LocalizedScopeDescriptions | null;
  access_token_ttl: number | null;
  is_default: boolean;
  client_id: string | null;
  events_endpoint: string | null;
  disabled_at: Date | null;
  may_exchange_for: string[];
  created_at: Date;
}

export function resourceServerFromRow(row: ResourceServerRow): ResourceServer {
  return {
    identifier: row.identifier,
    name: row.name,
    scopes: row.scope.split(' ').filter(Boolean),
    scopeDescriptions: row.scope_descriptions ?? {},
    localizedScopeDescriptions: row.localized_scope_descriptions ?? {},
    accessTokenTtl: row.access_token_ttl,
    isDefault: row.is_default,
    clientId: row.client_id,
    eventsEndpoint: row.events_endpoint ?? null,
    disabledAt: row.disabled_at ? new Date(row.disabled_at) : null,
    mayExchangeFor: Array.isArray(row.may_exchange_for) ? row.may_exchange_for : [],
    createdAt: new Date(row.created_at),
  };
}

function isIdentifier(value: unknown): value is string {
  return isStorableKey(value, 500);
}

/**
 * The name an API's introspection client goes by, so it reads as the API's in a list of clients.
 * An API named only by a long identifier (500 characters may be) is cut to what a name may hold.
 */
function clientNameFor(apiName: string): string {
  const base = apiName.length > API_NAME_MAX_LENGTH ? `${apiName.slice(0, API_NAME_MAX_LENGTH - 1)}…` : apiName;
  return `${base}${INTROSPECTION_SUFFIX}`;
}

/**
 * The API's name in its introspection client's. The stored name stays as the CLI and the admin API
 * have always shown it; a page words the rest in its reader's language (admin.apps.introspectionName).
 */
export function apiNameOfClient(clientName: string): string {
  return clientName.endsWith(INTROSPECTION_SUFFIX) ? clientName.slice(0, -INTROSPECTION_SUFFIX.length) : clientName;
}

function apiExists(identifier: string): GatehouseError {
  return new GatehouseError('conflict', `An API with the identifier ${identifier} already exists.`, 'identifier', { key: 'problem.api.exists', values: { identifier } });
}

export interface ResourceServerStoreOptions {
  /** Production: an events endpoint must be https (plain http is for development and tests). */
  httpsOnly?: boolean;
  /**
   * ISSUER: no API may be registered on its origin. Gatehouse's own audiences live there (userinfo's,
   * the admin API's), and every person's token names userinfo's: an API registered at it could
   * introspect, or exchange, anyone's token.
   */
  issuer?: string;
}

export class ResourceServerStore {
  constructor(private readonly db: Database, private readonly options: ResourceServerStoreOptions = {}) {}

  #refuseOwnOrigin(identifier: string): void {
    const own = this.options.issuer ? new URL(this.options.issuer).origin : undefined;
    if (own === undefined || new URL(identifier).origin !== own) return;
    throw new GatehouseError('invalid_input', `An API cannot be registered at Gatehouse's own address (${own}): Gatehouse's userinfo and admin API are the audiences there.`, 'identifier', { key: 'problem.api.ownOrigin', values: { origin: own } });
  }

  /** `withoutSecret`: the API's introspection credentials are keys (private_key_jwt), which cannot authenticate a poll. */
  #checkEventsEndpoint(endpoint: string | null | undefined, withoutSecret: boolean): void {
    const problem = endpoint ? eventsEndpointRefusal(endpoint, this.options.httpsOnly !== true) : undefined;
    if (problem) throw new GatehouseError('invalid_input', problem.message, 'eventsEndpoint', problem.words);
    // A poll is authenticated with the introspection credentials' secret (src/security-events/poll-endpoint.ts).
    if (isPollDelivery(endpoint) && withoutSecret) {
      throw new GatehouseError('invalid_input', `An API whose introspection credentials have no secret cannot poll for its security events (${POLL_DELIVERY}): give it an https events endpoint to push them to.`, 'eventsEndpoint', { key: 'problem.eventsEndpoint.apiPollWithoutSecret', values: { poll: POLL_DELIVERY } });
    }
  }

  /** The events endpoints of those of `identifiers` that have one, by identifier. */
  async eventsEndpoints(identifiers: readonly string[], trx: Database = this.db): Promise<Map<string, string>> {
    const ids = [...new Set(identifiers)].filter(isIdentifier);
    if (!ids.length) return new Map();
    const rows: Array<{ identifier: string; events_endpoint: string }> = await trx('resource_servers').select('identifier', 'events_endpoint').whereIn('identifier', ids).whereNotNull('events_endpoint');
    return new Map(rows.map((row) => [row.identifier, row.events_endpoint]));
  }

  async create(input: NewResourceServer, trx: Database = this.db): Promise<{ resourceServer: ResourceServer; clientId: string; clientSecret: string | undefined }> {
    const parsed = newResourceSchema.safeParse(input);
    if (!parsed.success) throw firstIssue(parsed.error, API_FIELDS);
    const r = parsed.data;
    this.#refuseOwnOrigin(r.identifier);
    this.#checkEventsEndpoint(r.eventsEndpoint, r.jwks !== undefined);
    // A savepoint when trx is already a transaction: a refused API leaves no client behind.
    return trx.transaction(async (trx) => {
      const { client, clientSecret } = await new ClientStore(trx).create(
        {
          name: clientNameFor(r.name ?? r.identifier),
          introspectionOnly: true,
          ...(r.jwtIntrospection ? { introspectionSignedResponseAlg: 'ES256' as const } : {}),
          ...(r.jwks ? { tokenEndpointAuthMethod: 'private_key_jwt' as const, jwks: r.jwks as never } : {}),
        },
        trx,
      );
      if (await trx('resource_servers').where({ identifier: r.identifier }).first()) {
        throw apiExists(r.identifier);
      }
      await refuseScopesOfOtherApis(trx, r.scope);
      await refuseUnknownDownstreams(trx, r.mayExchangeFor, r.identifier);
      if (r.isDefault) await trx('resource_servers').where({ is_default: true }).update({ is_default: false });
      const [row] = await trx<ResourceServerRow>('resource_servers')
        .insert({
          identifier: r.identifier,
          name: r.name ?? r.identifier,
          scope: r.scope.join(' '),
          scope_descriptions: JSON.stringify(r.scopeDescriptions) as unknown as Record<string, string>,
          localized_scope_descriptions: JSON.stringify(r.localizedScopeDescriptions) as unknown as LocalizedScopeDescriptions,
          access_token_ttl: r.accessTokenTtl ?? null,
          is_default: r.isDefault,
          client_id: client.clientId,
          events_endpoint: r.eventsEndpoint || null,
          may_exchange_for: JSON.stringify(r.mayExchangeFor) as unknown as string[],
        })
        .returning('*')
        .catch((error: unknown) => {
          if (isUniqueViolation(error)) throw apiExists(r.identifier);
          throw error;
        });
      return { resourceServer: resourceServerFromRow(row!), clientId: client.clientId, clientSecret };
    });
  }

  async find(identifier: string, trx: Database = this.db): Promise<ResourceServer | undefined> {
    if (!isIdentifier(identifier)) return undefined;
    const row = await trx<ResourceServerRow>('resource_servers').where({ identifier }).first();
    return row ? resourceServerFromRow(row) : undefined;
  }

  async findDefault(): Promise<ResourceServer | undefined> {
    const row = await this.db<ResourceServerRow>('resource_servers').where({ is_default: true }).first();
    return row ? resourceServerFromRow(row) : undefined;
  }

  /** Every API, oldest first. */
  async list(page: PageRequest = {}): Promise<Page<ResourceServer>> {
    const limit = pageSize(page.limit);
    const query = this.db<ResourceServerRow>('resource_servers')
      .select('*')
      .select(this.db.raw(`${cursorTimestamp('created_at')} as cursor_at`))
      .orderBy([{ column: 'created_at', order: 'asc' }, { column: 'identifier', order: 'asc' }])
      .limit(limit + 1);
    if (page.cursor !== undefined) {
      const [at, identifier] = decodeCursor(page.cursor, ['timestamp', 'text']);
      query.whereRaw('(created_at, identifier) > (?::timestamptz, ?)', [at!, identifier!]);
    }
    const rows = (await query) as unknown as Array<ResourceServerRow & { cursor_at: string }>;
    return pageOf(rows, limit, resourceServerFromRow, (row) => [row.cursor_at, row.identifier]);
  }

  /** Changes an API's name, scopes, their descriptions or token lifetime; undefined if there is no such API. */
  async update(identifier: string, changes: ResourceChanges, trx: Database = this.db): Promise<ResourceServer | undefined> {
    const parsed = resourceChangesSchema.safeParse(changes);
    if (!parsed.success) throw firstIssue(parsed.error, API_FIELDS);
    const existing = await this.find(identifier, trx);
    if (!existing) return undefined;
    const toPolling = isPollDelivery(parsed.data.eventsEndpoint);
    const credentials = toPolling && existing.clientId ? await new ClientStore(trx).find(existing.clientId, trx) : undefined;
    this.#checkEventsEndpoint(parsed.data.eventsEndpoint, toPolling && !credentials?.secretDigest);
    // What waited for its polls can no longer be acknowledged.
    if (parsed.data.eventsEndpoint !== undefined && isPollDelivery(existing.eventsEndpoint) && !toPolling) await forgetPolledEvents(trx, { type: 'api', identifier });
    const { scopes, scopeDescriptions, localizedScopeDescriptions } = changedScopes(existing, parsed.data);
    if (parsed.data.scopes) await refuseScopesOfOtherApis(trx, scopes, identifier);
    if (parsed.data.mayExchangeFor) await refuseUnknownDownstreams(trx, parsed.data.mayExchangeFor, identifier);
    const [row] = await trx<ResourceServerRow>('resource_servers')
      .where({ identifier })
      .update({
        ...(parsed.data.name !== undefined ? { name: parsed.data.name } : {}),
        scope: scopes.join(' '),
        scope_descriptions: JSON.stringify(scopeDescriptions) as unknown as Record<string, string>,
        localized_scope_descriptions: JSON.stringify(localizedScopeDescriptions) as unknown as LocalizedScopeDescriptions,
        ...(parsed.data.accessTokenTtl !== undefined ? { access_token_ttl: parsed.data.accessTokenTtl } : {}),
        ...(parsed.data.eventsEndpoint !== undefined ? { events_endpoint: parsed.data.eventsEndpoint || null } : {}),
        ...(parsed.data.mayExchangeFor !== undefined ? { may_exchange_for: JSON.stringify(parsed.data.mayExchangeFor) } : {}),
        updated_at: trx.raw('now()'),
      } as never)
      .returning('*');
    if (parsed.data.name !== undefined && existing.clientId) {
      await trx('clients').where({ client_id: existing.clientId }).update({ name: clientNameFor(parsed.data.name), updated_at: trx.raw('now()') });
    }
    return row ? resourceServerFromRow(row) : undefined;
  }

  /** Disables or re-enables the API and its introspection client together; undefined if there is no such API. */
  async setDisabled(identifier: string, disabled: boolean, trx: Database = this.db): Promise<ResourceServer | undefined> {
    if (!isIdentifier(identifier)) return undefined;
    const disabledAt = disabled ? trx.raw('coalesce(disabled_at, now())') : null;
    const [row] = await trx<ResourceServerRow>('resource_servers')
      .where({ identifier })
      .update({ disabled_at: disabledAt, updated_at: trx.raw('now()') } as never)
      .returning('*');
    if (!row) return undefined;
    if (row.client_id) await trx('clients').where({ client_id: row.client_id }).update({ disabled_at: disabledAt, updated_at: trx.raw('now()') });
    return resourceServerFromRow(row);
  }

  /** Deletes the API and its introspection client; false if there was none. */
  async delete(identifier: string, trx: Database = this.db): Promise<boolean> {
    if (!isIdentifier(identifier)) return false;
    const [row] = await trx<ResourceServerRow>('resource_servers').where({ identifier }).delete().returning('client_id');
    if (!row) return false;
    await forgetPolledEvents(trx, { type: 'api', identifier });
    // No API may go on exchanging tokens for one that is gone (nor for a new one given its name).
    await trx('resource_servers')
      .whereRaw('may_exchange_for \\? ?', [identifier])
      .update({ may_exchange_for: trx.raw('may_exchange_for - ?', [identifier]), updated_at: trx.raw('now()') } as never);
    if (row.client_id) await new ClientStore(trx).delete(row.client_id, trx);
    return true;
  }
}
