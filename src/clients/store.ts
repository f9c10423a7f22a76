// Applications registered with Gatehouse: third-party apps using the authorization-code flow,
// machine clients using client_credentials, and the credentials APIs introspect with.
import { randomBytes } from 'node:crypto';
import { digest, matchesDigest, randomSecret } from '../crypto/digest.js';
import { deletedRows, type Database } from '../db/knex.js';
import { cursorTimestamp, decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { isStorableKey } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import { OidcRecords } from '../records/index.js';
import { DAY, DEFAULT_SECRET_OVERLAP_SECONDS, inWords, MAX_SECRET_OVERLAP_SECONDS } from '../lifetimes.js';
import { backchannelLogoutUriRefusal } from './redirect-uris.js';
import { eventsEndpointRefusal, isPollDelivery } from '../security-events/receivers.js';
import { forgetPolledEvents } from '../security-events/polls.js';
import { POLL_DELIVERY } from '../security-events/vocabulary.js';
import { clientChangesSchema, firstIssue, newClientSchema, storedScope, type ClientChanges, type NewClient, type ValidClient } from './schema.js';

export { DEFAULT_APP_SCOPE, firstIssue, scopeSchema, type ClientChanges, type NewClient } from './schema.js';


export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
/** RFC 8628's grant type: an app on a device without a browser (a TV, a command line) has the person approve elsewhere. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials' | typeof DEVICE_CODE_GRANT;

/** What an app that registered itself (RFC 7591) was allowed, recorded with it. */
export interface Registration {
  /** The client_id oidc-provider issued and will answer with. */
  clientId: string;
  /** The secret it issued, if any: only its digest is kept. */
  clientSecret: string | undefined;
  /** The scopes the app may hold at most (its initial access token's), for later updates too. */
  scopeCeiling: string;
}

export interface Client {
  clientId: string;
  name: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Digest of the client secret; undefined for public clients. */
  secretDigest: string | undefined;
  /** Digest of the secret a rotation replaced, still accepted until previousSecretExpiresAt. */
  previousSecretDigest: string | undefined;
  previousSecretExpiresAt: Date | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: GrantType[];
  scope: string;
  isAdmin: boolean;
  /** The weakest sign-in level the app accepts, or null for any. */
  requireAcr: string | null;
  /** RFC 9701: sign introspection responses with this alg when the caller asks for a JWT. */
  introspectionSignedResponseAlg: string | null;
  /** Public keys for private_key_jwt client authentication and signed request objects. */
  jwks: { keys: Record<string, unknown>[] } | null;
  /** Where the app publishes those keys instead. */
  jwksUri: string | null;
  /** Every token request must carry a DPoP proof (`dpop_bound_access_tokens`). */
  requireDpop: boolean;
  /** Authorization requests only through PAR (`require_pushed_authorization_requests`). */
  requirePar: boolean;
  /** Authorization requests only as signed request objects (`require_signed_request_object`). */
  requireSignedRequestObject: boolean;
  /** The API (resource server) these are the introspection credentials of, if any. */
  resourceIdentifier: string | null;
  /** OpenID Connect Back-Channel Logout 1.0: where logout tokens are POSTed; null for none. */
  backchannelLogoutUri: string | null;
  /** Whether every logout token to the app must carry `sid`. */
  backchannelLogoutSessionRequired: boolean;
  /** Where the app receives security events (RFC 8935 push); null: it receives none. */
  eventsEndpoint: string | null;
  /** When the app registered itself (RFC 7591); null for apps an operator created. */
  registeredAt: Date | null;
  /** For a registered app: the scopes it may hold at most (RFC 7592 updates included). */
  registrationScope: string | null;
  /** What the app says about itself (client_uri, logo_uri, policy_uri, tos_uri, contacts); null: not given. */
  clientUri: string | null;
  logoUri: string | null;
  policyUri: string | null;
  tosUri: string | null;
  contacts: string[];
  disabledAt: Date | null;
  createdAt: Date;
}

export interface ClientRow {
  client_id: string;
  name: string;
  secret_digest: string | null;
  previous_secret_digest: string | null;
  previous_secret_expires_at: Date | null;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: GrantType[];
  scope: string;
  is_admin: boolean;
  require_acr: string | null;
  introspection_signed_response_alg: string | null;
  jwks: { keys: Record<string, unknown>[] } | null;
  backchannel_logout_uri: string | null;
  backchannel_logout_session_required: boolean;
  events_endpoint: string | null;
  jwks_uri: string | null;
  dpop_bound_access_tokens: boolean;
  require_pushed_authorization_requests: boolean;
  require_signed_request_object: boolean;
  registered_at: Date | null;
  registration_scope: string | null;
  client_uri: string | null;
  logo_uri: string | null;
  policy_uri: string | null;
  tos_uri: string | null;
  contacts: string[] | null;
  disabled_at: Date | null;
  created_at: Date;
  /** Joined from resource_servers. */
  resource_identifier?: string | null;
}

export function clientFromRow(row: ClientRow): Client {
  return {
    clientId: row.client_id,
    name: row.name,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method,
    secretDigest: row.secret_digest ?? undefined,
    previousSecretDigest: row.previous_secret_digest ?? undefined,
    previousSecretExpiresAt: row.previous_secret_expires_at ? new Date(row.previous_secret_expires_at) : null,
    redirectUris: row.redirect_uris,
    postLogoutRedirectUris: row.post_logout_redirect_uris,
    grantTypes: row.grant_types,
    scope: row.scope,
    isAdmin: row.is_admin,
    requireAcr: row.require_acr ?? null,
    introspectionSignedResponseAlg: row.introspection_signed_response_alg,
    jwks: row.jwks ?? null,
    jwksUri: row.jwks_uri ?? null,
    requireDpop: row.dpop_bound_access_tokens ?? false,
    requirePar: row.require_pushed_authorization_requests ?? false,
    requireSignedRequestObject: row.require_signed_request_object ?? false,
    resourceIdentifier: row.resource_identifier ?? null,
    backchannelLogoutUri: row.backchannel_logout_uri ?? null,
    backchannelLogoutSessionRequired: row.backchannel_logout_session_required ?? false,
    eventsEndpoint: row.events_endpoint ?? null,
    registeredAt: row.registered_at ? new Date(row.registered_at) : null,
    registrationScope: row.registration_scope ?? null,
    clientUri: row.client_uri ?? null,
    logoUri: row.logo_uri ?? null,
    policyUri: row.policy_uri ?? null,
    tosUri: row.tos_uri ?? null,
    contacts: row.contacts ?? [],
    disabledAt: row.disabled_at ? new Date(row.disabled_at) : null,
    createdAt: new Date(row.created_at),
  };
}

/** The registration a client's row describes, as create() would have been given it. */
function registrationOf(client: Client): NewClient {
  return {
    name: client.name,
    redirectUris: client.redirectUris,
    postLogoutRedirectUris: client.postLogoutRedirectUris,
    public: client.tokenEndpointAuthMethod === 'none',
    clientCredentials: client.grantTypes.includes('client_credentials'),
    introspectionOnly: client.grantTypes.length === 0,
    deviceCode: client.grantTypes.includes(DEVICE_CODE_GRANT),
    admin: client.isAdmin,
    requireAcr: client.requireAcr as NewClient['requireAcr'],
    ...(client.tokenEndpointAuthMethod === 'none' ? {} : { tokenEndpointAuthMethod: client.tokenEndpointAuthMethod }),
    ...(client.jwks ? { jwks: client.jwks as NewClient['jwks'] } : {}),
    ...(client.jwksUri ? { jwksUri: client.jwksUri } : {}),
    requireDpop: client.requireDpop,
    requirePar: client.requirePar,
    requireSignedRequestObject: client.requireSignedRequestObject,
    scope: client.scope,
    ...(client.introspectionSignedResponseAlg ? { introspectionSignedResponseAlg: client.introspectionSignedResponseAlg as 'ES256' | 'RS256' } : {}),
    backchannelLogoutUri: client.backchannelLogoutUri,
    backchannelLogoutSessionRequired: client.backchannelLogoutSessionRequired,
    ...(client.eventsEndpoint ? { eventsEndpoint: client.eventsEndpoint } : {}),
    ...informationOf(client),
  };
}

/** What an app says about itself, as a registration and as its changes take it. */
function informationOf(c: { clientUri: string | null; logoUri: string | null; policyUri: string | null; tosUri: string | null; contacts: string[] }) {
  return { clientUri: c.clientUri, logoUri: c.logoUri, policyUri: c.policyUri, tosUri: c.tosUri, contacts: c.contacts };
}

/** Its columns (migration 021). */
function informationColumns(c: ValidClient) {
  return { client_uri: c.clientUri, logo_uri: c.logoUri, policy_uri: c.policyUri, tos_uri: c.tosUri, contacts: JSON.stringify(c.contacts) };
}

function isClientId(value: unknown): value is string {
  return isStorableKey(value, 200);
}

export interface ClientStoreOptions {
  /** Production: a back-channel logout URI must be https. */
  httpsOnly?: boolean;
}

export class ClientStore {
  constructor(
    private readonly db: Database,
    /** Where what was issued to an app goes when the app is deleted. */
    private readonly records: OidcRecords = new OidcRecords(db),
    private readonly options: ClientStoreOptions = {},
  ) {}

  /** What newClientSchema cannot know: whether plain http is allowed here. */
  #checkEnvironment(c: ValidClient): void {
    const problem = c.backchannelLogoutUri ? backchannelLogoutUriRefusal(c.backchannelLogoutUri, { httpsOnly: this.options.httpsOnly ?? false }) : undefined;
    if (problem) throw new GatehouseError('invalid_input', problem.message, 'backchannelLogoutUri', problem.words);
    if (!this.options.httpsOnly) return;
    // The consent page links these: in production, never to a page anyone on the way could change.
    for (const field of ['clientUri', 'logoUri', 'policyUri', 'tosUri'] as const) {
      const uri = c[field];
      if (uri && new URL(uri).protocol !== 'https:') {
        throw new GatehouseError('invalid_input', `In production, ${uri} must be an https URL.`, field, { key: 'problem.client.httpsInProduction', values: { uri } });
      }
    }
  }

  #checkEventsEndpoint(c: ValidClient): void {
    const endpoint = c.eventsEndpoint;
    const problem = endpoint ? eventsEndpointRefusal(endpoint, this.options.httpsOnly !== true) : undefined;
    if (problem) throw new GatehouseError('invalid_input', problem.message, 'eventsEndpoint', problem.words);
    // A poll is authenticated with the client's secret (src/security-events/poll-endpoint.ts).
    if (isPollDelivery(endpoint) && (c.public || c.tokenEndpointAuthMethod === 'private_key_jwt')) {
      throw new GatehouseError('invalid_input', `An app without a client secret cannot poll for its security events (${POLL_DELIVERY}): give it an https events endpoint to push them to.`, 'eventsEndpoint', { key: 'problem.eventsEndpoint.pollWithoutSecret', values: { poll: POLL_DELIVERY } });
    }
  }

  /** The events endpoints of those of `clientIds` that have one, by client_id. */
  async eventsEndpoints(clientIds: readonly string[], trx: Database = this.db): Promise<Map<string, string>> {
    const ids = [...new Set(clientIds)].filter(isClientId);
    if (!ids.length) return new Map();
    const rows: Array<{ client_id: string; events_endpoint: string }> = await trx('clients').select('client_id', 'events_endpoint').whereIn('client_id', ids).whereNotNull('events_endpoint');
    return new Map(rows.map((row) => [row.client_id, row.events_endpoint]));
  }

  /**
   * Registers a client. The secret is returned only here; the database keeps its digest. An app
   * registering itself (src/registration/) comes with the id and secret oidc-provider issued it.
   */
  async create(input: NewClient, trx: Database = this.db, registration?: Registration): Promise<{ client: Client; clientSecret: string | undefined }> {
    const parsed = newClientSchema.safeParse(input);
    if (!parsed.success) throw firstIssue(parsed.error);
    const c = parsed.data;
    this.#checkEnvironment(c);
    this.#checkEventsEndpoint(c);

    // A private_key_jwt client proves itself with its keys; it gets no secret.
    const needsSecret = !(c.public || c.tokenEndpointAuthMethod === 'private_key_jwt');
    const clientSecret = needsSecret ? registration ? registration.clientSecret : randomSecret() : undefined;
    if (needsSecret && !clientSecret) throw new GatehouseError('invalid_input', 'A confidential client needs a secret.');
    const row = {
      client_id: registration?.clientId ?? newClientId(),
      name: c.name,
      secret_digest: clientSecret ? digest(clientSecret) : null,
      token_endpoint_auth_method: c.public ? 'none' : c.tokenEndpointAuthMethod,
      redirect_uris: JSON.stringify(c.redirectUris),
      post_logout_redirect_uris: JSON.stringify(c.postLogoutRedirectUris),
      grant_types: JSON.stringify(grantTypesOf(c)),
      scope: storedScope(c),
      is_admin: c.admin,
      require_acr: c.requireAcr ?? null,
      introspection_signed_response_alg: c.introspectionSignedResponseAlg ?? null,
      jwks: c.jwks ? JSON.stringify(c.jwks) : null,
      backchannel_logout_uri: c.backchannelLogoutUri,
      backchannel_logout_session_required: c.backchannelLogoutSessionRequired,
      events_endpoint: c.eventsEndpoint || null,
      jwks_uri: c.jwksUri ?? null,
      ...requirementColumns(c),
      ...informationColumns(c),
      ...(registration ? { registered_at: trx.raw('now()'), registration_scope: registration.scopeCeiling } : {}),
    };
    const [created] = await trx<ClientRow>('clients').insert(row as never).returning('*');
    return { client: clientFromRow(created as ClientRow), clientSecret };
  }

  /**
   * The enabled client `clientId` when `secret` is its secret, or its previous one until that
   * expires; undefined otherwise. How a client proves itself outside oidc-provider's endpoints (a
   * poll for security events), by the same digests and the same rotation overlap.
   */
  async authenticate(clientId: string, secret: string, now = Date.now()): Promise<Client | undefined> {
    if (secret.length > 512) return undefined;
    const client = await this.find(clientId);
    if (!client || client.disabledAt || !client.secretDigest) return undefined;
    if (matchesDigest(secret, client.secretDigest)) return client;
    const previous = client.previousSecretDigest && client.previousSecretExpiresAt && now < client.previousSecretExpiresAt.getTime() ? client.previousSecretDigest : undefined;
    return previous && matchesDigest(secret, previous) ? client : undefined;
  }

  async find(clientId: string, trx: Database = this.db): Promise<Client | undefined> {
    if (!isClientId(clientId)) return undefined;
    const row = await this.rows(trx).where('clients.client_id', clientId).first();
    return row ? clientFromRow(row) : undefined;
  }

  /**
   * Which of these apps take back-channel logout tokens: enabled, with a URI (src/logout/). One
   * query for a whole sign-out.
   */
  async logoutReceivers(clientIds: readonly string[], trx: Database = this.db): Promise<Array<{ clientId: string; uri: string; sessionRequired: boolean }>> {
    const ids = [...new Set(clientIds.filter(isClientId))];
    if (!ids.length) return [];
    const rows: Array<{ client_id: string; backchannel_logout_uri: string; backchannel_logout_session_required: boolean }> = await trx('clients')
      .select('client_id', 'backchannel_logout_uri', 'backchannel_logout_session_required')
      .whereIn('client_id', ids)
      .whereNotNull('backchannel_logout_uri')
      .whereNull('disabled_at');
    return rows.map((row) => ({ clientId: row.client_id, uri: row.backchannel_logout_uri, sessionRequired: row.backchannel_logout_session_required }));
  }

  /** Every client, API credentials included (resourceIdentifier says whose), oldest first. */
  async list(page: PageRequest = {}): Promise<Page<Client>> {
    const limit = pageSize(page.limit);
    const query = this.rows(this.db)
      .select(this.db.raw(`${cursorTimestamp('clients.created_at')} as cursor_at`))
      .orderBy([{ column: 'clients.created_at', order: 'asc' }, { column: 'clients.client_id', order: 'asc' }])
      .limit(limit + 1);
    if (page.cursor !== undefined) {
      const [at, clientId] = decodeCursor(page.cursor, ['timestamp', 'text']);
      query.whereRaw('(clients.created_at, clients.client_id) > (?::timestamptz, ?)', [at!, clientId!]);
    }
    const rows = (await query) as Array<ClientRow & { cursor_at: string }>;
    return pageOf(rows, limit, clientFromRow, (row) => [row.cursor_at, row.client_id]);
  }

  /**
   * Changes a client's name, redirect URIs, scope, back-channel logout, events endpoint or what it is held to (DPoP, PAR, signed requests), validated as the whole registration would be
   * at creation (an app keeps needing openid, an admin client keeps its admin scope). Undefined if
   * there is no such client.
   */
  async update(clientId: string, changes: ClientChanges, trx: Database = this.db): Promise<Client | undefined> {
    const patch = clientChangesSchema.safeParse(changes);
    if (!patch.success) throw firstIssue(patch.error);
    const existing = await this.find(clientId, trx);
    if (!existing) return undefined;
    const { eventsEndpoint, ...rest } = patch.data;
    const registration = { ...registrationOf(existing), ...rest };
    if (eventsEndpoint !== undefined) registration.eventsEndpoint = eventsEndpoint ?? undefined;
    const parsed = newClientSchema.safeParse(registration);
    if (!parsed.success) throw firstIssue(parsed.error);
    const c = parsed.data;
    this.#checkEnvironment(c);
    if (eventsEndpoint) this.#checkEventsEndpoint(c);
    // What waited for its polls can no longer be acknowledged.
    if (isPollDelivery(existing.eventsEndpoint) && !isPollDelivery(c.eventsEndpoint)) await forgetPolledEvents(trx, { type: 'app', clientId });
    await trx('clients').where({ client_id: clientId }).update({
      name: c.name,
      redirect_uris: JSON.stringify(c.redirectUris),
      post_logout_redirect_uris: JSON.stringify(c.postLogoutRedirectUris),
      scope: storedScope(c),
      backchannel_logout_uri: c.backchannelLogoutUri,
      backchannel_logout_session_required: c.backchannelLogoutSessionRequired,
      events_endpoint: c.eventsEndpoint || null,
      ...requirementColumns(c),
      grant_types: JSON.stringify(grantTypesOf(c)),
      jwks: c.jwks ? JSON.stringify(c.jwks) : null,
      require_acr: c.requireAcr ?? null,
      introspection_signed_response_alg: c.introspectionSignedResponseAlg ?? null,
      ...informationColumns(c),
      updated_at: trx.raw('now()'),
    });
    return this.find(clientId, trx);
  }

  /**
   * Issues a new secret, returned only here. The old one keeps working for `overlapSeconds` (0 ends
   * it at once), so the app can be redeployed without an outage. Undefined if there is no such
   * client; conflict if it authenticates without a secret.
   */
  async rotateSecret(clientId: string, overlapSeconds = DEFAULT_SECRET_OVERLAP_SECONDS, trx: Database = this.db): Promise<{ clientSecret: string; previousSecretExpiresAt: Date | null } | undefined> {
    if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > MAX_SECRET_OVERLAP_SECONDS) {
      throw new GatehouseError('invalid_input', `The overlap is a whole number of seconds from 0 to ${MAX_SECRET_OVERLAP_SECONDS} (${inWords(MAX_SECRET_OVERLAP_SECONDS)}).`, 'overlapSeconds', {
        key: 'problem.client.overlap', values: { max: MAX_SECRET_OVERLAP_SECONDS, days: MAX_SECRET_OVERLAP_SECONDS / DAY },
      });
    }
    const existing = await this.find(clientId, trx);
    if (!existing) return undefined;
    if (!existing.secretDigest || !['client_secret_basic', 'client_secret_post'].includes(existing.tokenEndpointAuthMethod)) {
      throw new GatehouseError('conflict', 'This client authenticates without a secret; there is none to rotate.', undefined, { key: 'problem.client.noSecret' });
    }
    const clientSecret = randomSecret();
    const keepOld = overlapSeconds > 0;
    // SET expressions read the row as it was, so secret_digest on the right is the old secret.
    const [row] = await trx('clients')
      .where({ client_id: clientId })
      .update({
        secret_digest: digest(clientSecret),
        previous_secret_digest: keepOld ? trx.raw('secret_digest') : null,
        previous_secret_expires_at: keepOld ? trx.raw('now() + make_interval(secs => ?)', [overlapSeconds]) : null,
        updated_at: trx.raw('now()'),
      })
      .returning('previous_secret_expires_at');
    return { clientSecret, previousSecretExpiresAt: row?.previous_secret_expires_at ? new Date(row.previous_secret_expires_at) : null };
  }

  /** A disabled client does not exist for oidc-provider (src/oidc/models/client.ts): its tokens die with it. */
  async setDisabled(clientId: string, disabled: boolean, trx: Database = this.db): Promise<Client | undefined> {
    if (!isClientId(clientId)) return undefined;
    const updated = await trx('clients')
      .where({ client_id: clientId })
      .update({ disabled_at: disabled ? trx.raw('coalesce(disabled_at, now())') : null, updated_at: trx.raw('now()') });
    return updated ? this.find(clientId, trx) : undefined;
  }

  /** Deletes the client and every oidc-provider record issued to it (its grants included); false if there was none. */
  async delete(clientId: string, trx: Database = this.db): Promise<boolean> {
    if (!isClientId(clientId)) return false;
    await this.records.forgetClient(clientId, trx);
    await forgetPolledEvents(trx, { type: 'app', clientId });
    return deletedRows(await trx('clients').where({ client_id: clientId }).delete()) > 0;
  }

  private rows(db: Database) {
    return db<ClientRow>('clients')
      .leftJoin('resource_servers', 'resource_servers.client_id', 'clients.client_id')
      .select('clients.*', 'resource_servers.identifier as resource_identifier');
  }
}

/** What the app is held to beyond the defaults (migration 017). */
function requirementColumns(c: { requireDpop: boolean; requirePar: boolean; requireSignedRequestObject: boolean }) {
  return {
    dpop_bound_access_tokens: c.requireDpop,
    require_pushed_authorization_requests: c.requirePar,
    require_signed_request_object: c.requireSignedRequestObject,
  };
}

/** The grants a valid registration allows: the device flow only where the app opted in. */
function grantTypesOf(c: ValidClient): GrantType[] {
  if (c.clientCredentials) return ['client_credentials'];
  if (c.introspectionOnly) return [];
  return ['authorization_code', 'refresh_token', ...(c.deviceCode ? [DEVICE_CODE_GRANT] as const : [])];
}

/** Client identifiers are public, but unguessable ids keep enumeration pointless. */
export function newClientId(): string {
  // Never starting with `-`, which a command line reads as an option: `gatehouse client update
  // --client-id -x…` would be refused as a missing value (one id in 64 began so).
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
