// The running oidc-provider and what it stands on. oidc-provider takes its keys once, at
// construction; when the key set changes (a rotated key activates, a retired one is unpublished),
// a new Provider is built on the same database and swapped in. Instances sharing a database read
// the same signing_keys table, so they converge on the same keys within one refresh interval.
// The caches on the token and introspection path are built once and shared by every provider:
// what they hold depends on the database, not on the keys.
import type { JWTPayload } from 'jose';
import { Provider } from 'oidc-provider';
import type { UserStore } from '../people/users.js';
import type { AuditLog } from '../audit/log.js';
import type { ClientStore } from '../clients/store.js';
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import type { ChangeFeed } from '../db/notifications.js';
import type { Pages } from '../http/pages.js';
import type { Logger } from '../logger.js';
import type { ResourceServerStore } from '../resources/store.js';
import { accountClientMetadata } from './account-sign-in.js';
import type { Adapter } from 'oidc-provider';
import { ClientAdapter, type ClientWriter, clientMetadataCache, compareClientSecretsByDigest, matchRedirectUrisExactly, type ClientMetadataCache } from './models/client.js';
import { providerConfiguration } from './configuration.js';
import { forgivenRetryRecorder, heldConsumeFailureRecorder, logProviderEvents } from './events.js';
import { JwtAccessTokens } from '../tokens/jwt-access-tokens.js';
import { truthCache, type TruthCache } from '../tokens/jwt-truth.js';
import { keyStoreFor, publicJwks, signingJwk, type JwsAlgorithm, type KeySet, type KeyStore } from '../keys/signing-keys.js';
import type { JWK } from 'jose';
import type { BackchannelLogout } from '../logout/backchannel-logout.js';
import { SignedOutApps } from '../logout/signed-out-page.js';
import { rememberClientsByMetadata, replaceClientMethods, reportRefreshTokenSignIn } from './internals.js';
import { CachedResourceServerStore } from '../resources/cache.js';
import { CodeRedemptions, grantCache, storageFor, type GrantCache } from './models/index.js';
import type { OidcRecords } from '../records/index.js';
import { answerForgivenRetries } from '../tokens/refresh-retry.js';
import { cachedPersonLookup, type PersonLookup } from '../people/cache.js';
import { userinfoAudience } from '../vocabulary.js';
import { registerTokenExchange } from './grants/token-exchange.js';

export interface OidcDependencies {
  config: Config;
  db: Database;
  users: UserStore;
  clients: ClientStore;
  resources: ResourceServerStore;
  pages: Pages;
  logger: Logger;
  /** Change notifications from the database; caches are bypassed while it is not connected. */
  changes: ChangeFeed;
  audit: AuditLog;
  /** Dynamic client registration (src/registration/): where registered apps are written, and the operator's tokens. */
  registration?: { registrar: ClientWriter; initialAccessTokens: Adapter };
  /** oidc-provider's records, with the clock (tests move it instead of sleeping) that decides every expiry. */
  records: OidcRecords;
  /** Where /session/end's logout tokens go (the outbox); without it, apps are not told. */
  logout?: BackchannelLogout;
}

/** What the provider caches, invalidated by the change feed (src/db/notifications.ts). */
export interface ProviderCaches {
  clients: ClientMetadataCache;
  /** Positive answers to "does this JWT access token still stand". */
  truth: TruthCache;
  /** Grants, as userinfo and the code exchange load them. */
  grants: GrantCache;
  /** The APIs, as the token endpoint looks them up. */
  resources: ResourceServerStore;
  /** People, as findAccount looks them up on every refresh and userinfo call. */
  people: PersonLookup;
}

export function providerCaches(deps: Pick<OidcDependencies, 'db' | 'changes' | 'users'>): ProviderCaches {
  return {
    people: cachedPersonLookup(deps.users, deps.changes),
    clients: clientMetadataCache(deps.changes),
    truth: truthCache(deps.changes),
    grants: grantCache(deps.changes),
    resources: new CachedResourceServerStore(deps.db, deps.changes),
  };
}

interface Built {
  provider: Provider;
  keySet: KeySet;
  /** Verifies our JWT access tokens against this key set, and asks whether they still stand. */
  jwts: JwtAccessTokens;
}

export function buildProvider(deps: OidcDependencies, keySet: KeySet, caches: ProviderCaches, signedOut: SignedOutApps): Built {
  const { config, db } = deps;
  const jwts = new JwtAccessTokens(db, {
    issuer: config.issuer,
    jwks: publicJwks(keySet),
    userinfoAudience: userinfoAudience(config.issuer),
    truthCache: caches.truth,
    records: deps.records,
  });
  const clients = new ClientAdapter(deps.clients, caches.clients, [accountClientMetadata(config.issuer)], { requirePar: config.requirePar }, deps.registration?.registrar);
  const codes = new CodeRedemptions();
  const adapter = storageFor(deps.records, {
    clients, jwts, truth: caches.truth, grants: caches.grants,
    ...(deps.registration ? { initialAccessTokens: deps.registration.initialAccessTokens } : {}),
    refreshRetryWindowSeconds: config.refreshRetryWindowSeconds,
    onHeldConsumeFailure: heldConsumeFailureRecorder(deps.logger),
    codes,
  });

  const provider = new Provider(config.issuer, providerConfiguration({
    config,
    users: caches.people,
    resources: caches.resources,
    pages: deps.pages,
    signedOut,
    adapter,
    jwks: keySet.jwks as unknown as { keys: Record<string, unknown>[] },
    findLatestGrant: (accountId, clientId) => deps.records.latestGrant(accountId, clientId),
  }));
  // Behind a TLS-terminating proxy, trust X-Forwarded-Proto/For so cookies get Secure and the
  // issuer's https URLs match what the browser sees.
  provider.proxy = config.trustProxy;
  // The client address sessions record is the one our own proxies saw, as for the app (app.ts).
  provider.maxIpsCount = config.proxyHops;
  compareClientSecretsByDigest(provider);
  matchRedirectUrisExactly(provider);
  rememberClientsByMetadata(provider, (id) => clients.cached(id));
  sendLogoutTokensThroughOutbox(provider, deps.logout);
  rememberTheAppSignedOutOf(provider, signedOut);
  logProviderEvents(provider, deps.logger, deps.audit);
  registerTokenExchange(provider, { config, jwts, resources: caches.resources, audit: deps.audit });
  reportRefreshTokenSignIn(provider);
  provider.use(answerForgivenRetries(forgivenRetryRecorder(deps.logger, deps.audit)));
  provider.use(codes.middleware(provider, heldConsumeFailureRecorder(deps.logger, 'code')));
  return { provider, keySet, jwts };
}

/**
 * Back-Channel Logout through the outbox: every ID token carries `sid` (oidc-provider's own rule
 * is only for apps requiring it), so an app can match any logout token to its session; and when
 * /session/end signs a person out of an app that registered a back-channel logout URI, the token
 * is written to the outbox (retried until the app takes it) instead of POSTed once by
 * oidc-provider. Both are Client methods oidc-provider calls by name (src/oidc/internals.ts,
 * replaceClientMethods; test/oidc/internals.contract.test.ts).
 */
function sendLogoutTokensThroughOutbox(provider: Provider, logout: BackchannelLogout | undefined): void {
  replaceClientMethods(provider, {
    includeSid: () => true,
    async backchannelLogout(sub, sid) {
      await logout?.appSignedOut(this.clientId, sub, sid);
    },
  });
}

/**
 * The signed-out page names an app only to the browser that has just signed out of it
 * (src/logout/signed-out-page.ts). end_session.success is emitted while the confirmation is
 * answered, with the app signed out of as ctx.oidc.client (as the audit reads it, events.ts; none
 * when the sign-out named no app), so the cookie goes out with the redirect to the signed-out
 * page. It is set also when the person signed out of everything or goes back to the app's
 * post_logout_redirect_uri: it says nothing this browser did not just do. If the event stopped
 * coming within the request, the person would see the generic page, never another's app
 * (test/http/friendly-pages.test.ts fails).
 */
function rememberTheAppSignedOutOf(provider: Provider, signedOut: SignedOutApps): void {
  provider.on('end_session.success', (ctx) => {
    const clientId = ctx.oidc.client?.clientId;
    if (clientId) signedOut.remember(ctx, clientId);
  });
}

export class OidcService {
  #built: Built;
  #fingerprint: string;
  #timer: NodeJS.Timeout | undefined;
  readonly caches: ProviderCaches;
  /** The cookie naming the app a browser has just signed out of; the provider sets it, app.ts reads it too. */
  readonly signedOut: SignedOutApps;

  private constructor(
    private readonly deps: OidcDependencies,
    private readonly keys: KeyStore,
    keySet: KeySet,
  ) {
    this.caches = providerCaches(deps);
    this.signedOut = new SignedOutApps(deps.config.issuer, deps.records.now);
    this.#built = buildProvider(deps, keySet, this.caches, this.signedOut);
    this.#fingerprint = keySet.fingerprint;
  }

  static async start(deps: OidcDependencies): Promise<OidcService> {
    const keys = keyStoreFor(deps.config, deps.db);
    await keys.ensureKeys();
    return new OidcService(deps, keys, await keys.loadKeySet());
  }

  get provider(): Provider {
    return this.#built.provider;
  }

  /**
   * The claims of a JWT access token this server issued, when it verifies and still stands (its
   * grant, app and person): what the admin API checks a bearer token with.
   */
  async verifyAccessToken(token: string): Promise<JWTPayload | undefined> {
    return (await this.#built.jwts.resolve(token, 'introspection'))?.claims;
  }

  /** The private JWK the provider signs `alg` with now: logout tokens are signed as ID tokens are. */
  signingKey(alg: string): JWK | undefined {
    return signingJwk(this.#built.keySet, alg as JwsAlgorithm);
  }

  /** Re-reads the key set and swaps in a new provider when it changed. */
  async refreshKeys(): Promise<boolean> {
    const keySet = await this.keys.loadKeySet();
    if (keySet.fingerprint === this.#fingerprint) return false;
    this.#built = buildProvider(this.deps, keySet, this.caches, this.signedOut);
    this.#fingerprint = keySet.fingerprint;
    this.deps.logger.info({ event: 'keys.reloaded', kids: keySet.jwks.keys.map((k) => k.kid) });
    return true;
  }

  /** Keeps the key set current: every refresh interval, so rotations made elsewhere show up. */
  watchKeys(): void {
    const everyMs = this.deps.config.keys.refreshIntervalSeconds * 1000;
    const tick = () => {
      this.refreshKeys()
        .catch((error: unknown) => this.deps.logger.error({ event: 'keys.refresh_failed', err: error }))
        .finally(() => {
          if (this.#timer) this.#timer = setTimeout(tick, everyMs).unref();
        });
    };
    this.#timer = setTimeout(tick, everyMs).unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
