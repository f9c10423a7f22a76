// Registered clients, as oidc-provider sees them. Clients live in our `clients` table; the
// provider reads them through the `Client` model's adapter, and never sees a usable secret.
import type { Adapter, AdapterPayload, ClientMetadata, Provider } from 'oidc-provider';
import type { Client, ClientStore } from '../../clients/store.js';
import { matchesDigest } from '../../crypto/digest.js';
import type { ChangeFeed } from '../../db/notifications.js';
import { CoherentCache } from '../../db/coherent-cache.js';
import { OIDC_SCOPES } from '../configuration.js';
import { readOnlyClientMetadata, replaceClientMethods } from '../internals.js';
import { ADMIN_METADATA, API_SCOPE_METADATA, ID_TOKEN_SIGNING_ALG, PREVIOUS_SECRET_METADATA, REQUIRE_ACR_METADATA, RESOURCE_METADATA, TOKEN_EXCHANGE_GRANT } from '../../vocabulary.js';

/**
 * The metadata oidc-provider needs. `client_secret` carries the secret's *digest*: oidc-provider
 * requires some value for secret-based auth methods, and it only ever reaches
 * `compareClientSecret`, which is replaced below to compare digests. No HMAC-based algorithm is
 * enabled, so the value is never used as a key.
 */
export function clientMetadata(client: Client): ClientMetadata {
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.secretDigest ? { client_secret: client.secretDigest } : {}),
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    redirect_uris: client.redirectUris,
    application_type: applicationType(client.redirectUris),
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: grantTypesOf(client),
    response_types: client.grantTypes.includes('authorization_code') ? ['code'] : [],
    // oidc-provider only knows the OIDC scopes; API scopes are checked per API at token time.
    ...scopeMetadata(client.scope),
    id_token_signed_response_alg: ID_TOKEN_SIGNING_ALG,
    ...(client.jwks ? { jwks: client.jwks as unknown as ClientMetadata['jwks'] } : {}),
    ...(client.jwksUri ? { jwks_uri: client.jwksUri } : {}),
    ...(client.requireDpop ? { dpop_bound_access_tokens: true } : {}),
    ...(client.requirePar ? { require_pushed_authorization_requests: true } : {}),
    ...(client.requireSignedRequestObject ? { require_signed_request_object: true } : {}),
    ...(client.introspectionSignedResponseAlg ? { introspection_signed_response_alg: client.introspectionSignedResponseAlg as ClientMetadata['introspection_signed_response_alg'] } : {}),
    ...(client.resourceIdentifier ? { [RESOURCE_METADATA]: client.resourceIdentifier } : {}),
    ...(client.isAdmin ? { [ADMIN_METADATA]: true } : {}),
    ...(client.requireAcr ? { [REQUIRE_ACR_METADATA]: client.requireAcr } : {}),
    ...previousSecretMetadata(client),
    // Back-Channel Logout 1.0: oidc-provider sees the URI so that end_session asks the app's
    // Client#backchannelLogout, which Gatehouse replaces to deliver through the outbox (src/logout/).
    ...(client.backchannelLogoutUri ? { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: client.backchannelLogoutSessionRequired } : {}),
    // auth_time in every ID token, so apps can apply their own freshness rules.
    require_auth_time: true,
    // What the app says about itself: an RFC 7592 read returns what was registered.
    ...(client.clientUri ? { client_uri: client.clientUri } : {}),
    ...(client.logoUri ? { logo_uri: client.logoUri } : {}),
    ...(client.policyUri ? { policy_uri: client.policyUri } : {}),
    ...(client.tosUri ? { tos_uri: client.tosUri } : {}),
    // Always, empty too: a registration's answer echoes what was sent, and the read must agree.
    contacts: client.contacts,
  };
}

/**
 * An API's client introspects, and exchanges the tokens people's apps send the API for tokens to
 * the APIs it may call (RFC 8693, src/oidc/grants/token-exchange.ts, which checks that policy).
 */
function grantTypesOf(client: Client): string[] {
  return client.resourceIdentifier ? [...client.grantTypes, TOKEN_EXCHANGE_GRANT] : client.grantTypes;
}

/**
 * During a secret rotation's overlap the previous secret still authenticates: its digest and the
 * moment it stops, as one string (`<digest>~<epoch ms>`), checked at every comparison, so a cached
 * client never stretches the overlap.
 */
function previousSecretMetadata(client: Client): Record<string, string> {
  if (!client.previousSecretDigest || !client.previousSecretExpiresAt) return {};
  return { [PREVIOUS_SECRET_METADATA]: `${client.previousSecretDigest}~${client.previousSecretExpiresAt.getTime()}` };
}

function matchesPreviousSecret(actual: string, previous: unknown, now = Date.now()): boolean {
  if (typeof previous !== 'string') return false;
  const [previousDigest, until] = previous.split('~');
  return !!previousDigest && now < Number(until) && matchesDigest(actual, previousDigest);
}

/**
 * A native app (RFC 8252) returns to a private-use scheme (com.example.app:/callback), which
 * oidc-provider refuses for web apps. For native ones it would also match loopback redirects on
 * any port (RFC 8252 §7.3); matchRedirectUrisExactly below takes that leeway away again. A
 * registration's answer says the same (src/registration/policy.ts).
 */
export function applicationType(redirectUris: string[]): 'native' | 'web' {
  return redirectUris.some((uri) => !/^https?:/i.test(uri)) ? 'native' : 'web';
}

/** oidc-provider only knows the OIDC scopes; API scopes are checked per API at token time. */
function scopeMetadata(scope: string): Pick<ClientMetadata, 'scope'> & Record<string, string> {
  const scopes = scope.split(' ').filter(Boolean);
  const oidc = scopes.filter((s) => OIDC_SCOPES.includes(s));
  const api = scopes.filter((s) => !OIDC_SCOPES.includes(s));
  return {
    ...(oidc.length ? { scope: oidc.join(' ') } : {}),
    ...(api.length ? { [API_SCOPE_METADATA]: api.join(' ') } : {}),
  };
}

/** What writes an app registering itself (src/registration/registrar.ts). */
export interface ClientWriter {
  upsert(clientId: string, metadata: AdapterPayload): Promise<void>;
  destroy(clientId: string): Promise<void>;
}

/** Cached client metadata, by client_id; migration 003 announces every change as `client:<id>`. */
export type ClientMetadataCache = CoherentCache<AdapterPayload>;

export function clientMetadataCache(feed: ChangeFeed): ClientMetadataCache {
  return new CoherentCache(feed, { name: 'clients', maxEntries: 1_000, ttlMs: 10 * 60_000 });
}

/**
 * The `Client` model's storage: read-only, from the clients table. Disabled clients do not exist.
 * Every authenticated request looks its caller up, so found clients are cached; unknown and
 * disabled ones are not, so a prober cannot evict the clients in use.
 */
export class ClientAdapter implements Adapter {
  readonly #builtIn: Map<string, AdapterPayload>;

  constructor(
    private readonly clients: ClientStore,
    private readonly cache?: ClientMetadataCache,
    /** Clients defined in code rather than registered (the account pages' client, account-sign-in.ts). */
    builtIn: ClientMetadata[] = [],
    /** REQUIRE_PAR: every registered app must push its authorization requests. */
    private readonly policy: { requirePar?: boolean } = {},
    /** Where apps registering themselves are written (RFC 7591/7592, src/registration/registrar.ts). */
    private readonly registrar?: ClientWriter,
  ) {
    this.#builtIn = new Map(builtIn.map((metadata) => [metadata.client_id, readOnlyClientMetadata(structuredClone(metadata)) as AdapterPayload]));
  }

  /** The client's metadata, frozen: oidc-provider only reads it (readOnlyClientMetadata), so every request shares one. */
  async find(id: string): Promise<AdapterPayload | undefined> {
    if (typeof id !== 'string') return undefined;
    const builtIn = this.#builtIn.get(id);
    if (builtIn) return builtIn;
    return this.cache
      ? this.cache.load(id, [`client:${id}`], () => this.#read(id))
      : this.#read(id);
  }

  /** The metadata find() would return without reading the database, if it is at hand. */
  cached(id: string): AdapterPayload | undefined {
    return this.#builtIn.get(id) ?? this.cache?.get(id, false);
  }

  async #read(id: string): Promise<AdapterPayload | undefined> {
    const client = await this.clients.find(id);
    if (!client || client.disabledAt) return undefined;
    const metadata = clientMetadata(client);
    if (this.policy.requirePar && metadata.response_types?.length) metadata.require_pushed_authorization_requests = true;
    return readOnlyClientMetadata(metadata) as AdapterPayload;
  }

  // Clients are managed by the CLI, the admin API and the console; oidc-provider writes only the
  // apps that register themselves, through the registrar, which holds them to the same rules.
  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    if (!this.registrar || this.#builtIn.has(id)) throw new Error('clients are not written through oidc-provider');
    await this.registrar.upsert(id, payload);
  }
  async findByUid(): Promise<undefined> { return undefined; }
  async findByUserCode(): Promise<undefined> { return undefined; }
  async consume(): Promise<void> {}
  async destroy(id: string): Promise<void> {
    if (!this.registrar || this.#builtIn.has(id)) throw new Error('clients are not deleted through oidc-provider');
    await this.registrar.destroy(id);
  }
  async revokeByGrantId(): Promise<void> {}
}

/**
 * Every redirect and post-logout redirect URI matches exactly what the app registered, loopback
 * ones included: oidc-provider would let a native client (one with a private-use scheme) return to
 * http://127.0.0.1 or [::1] on any port (RFC 8252 §7.3), so an app's choice of one registered URI
 * would change how its others match. A native app registers the loopback port(s) it listens on.
 * These two Client methods are what oidc-provider consults at /auth, /request and /session/end
 * (its redirect_uri wildcards recipe overrides the same one; src/oidc/internals.ts,
 * replaceClientMethods); test/security/attacks/loopback-redirects.test.ts fails if an upgrade
 * stops consulting them.
 */
export function matchRedirectUrisExactly(provider: Provider): void {
  replaceClientMethods(provider, {
    redirectUriAllowed(value) {
      return typeof value === 'string' && (this.redirectUris ?? []).includes(value);
    },
    postLogoutRedirectUriAllowed(value) {
      return typeof value === 'string' && (this.postLogoutRedirectUris ?? []).includes(value);
    },
  });
}

/**
 * oidc-provider compares a presented secret with `client_secret` in constant time. Gatehouse
 * stores only SHA-256 digests, so the comparison digests the presented secret first. Replacing this
 * one method is the narrowest hook oidc-provider offers for hashed client secrets
 * (src/oidc/internals.ts, replaceClientMethods).
 */
export function compareClientSecretsByDigest(provider: Provider): void {
  replaceClientMethods(provider, {
    async compareClientSecret(actual) {
      if (typeof actual !== 'string' || !this.clientSecret || actual.length > 512) return false;
      return matchesDigest(actual, this.clientSecret) || matchesPreviousSecret(actual, this[PREVIOUS_SECRET_METADATA]);
    },
  });
}
