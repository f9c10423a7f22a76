// The running oidc-provider and what it stands on. oidc-provider takes its keys once, at
// construction; when the key set changes (a rotated key activates, a retired one is unpublished),
// a new Provider is built on the same database and swapped in. Instances sharing a database read
// the same signing_keys table, so they converge on the same keys within one refresh interval, and
// at once when a token signed with a key not loaded yet arrives (reloadForUnknownKey).
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
import { currentRequest, rememberClientsByMetadata, replaceClientMethods, reportRefreshTokenSignIn } from './internals.js';
import { answeredOnceHeardEverywhere, identifyRequestsBy } from '../db/change-barrier.js';
import { CachedResourceServerStore } from '../resources/cache.js';
import { CodeRedemptions, grantCache, HeldIssuance, storageFor, type GrantCache } from './models/index.js';
import type { OidcRecords } from '../records/index.js';
import { answerForgivenRetries } from '../tokens/refresh-retry.js';
import { cachedPersonLookup, type PersonLookup } from '../people/cache.js';
import { userinfoAudience } from '../vocabulary.js';
import { registerTokenExchange } from './grants/token-exchange.js';
import { isDatabaseUnavailable } from '../db/errors.js';

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

export function buildProvider(
  deps: OidcDependencies, keySet: KeySet, caches: ProviderCaches, signedOut: SignedOutApps, reloadKeys?: () => Promise<JwtAccessTokens>,
): Built {
  const { config, db } = deps;
  const jwts = new JwtAccessTokens(db, {
    issuer: config.issuer,
    jwks: publicJwks(keySet),
    userinfoAudience: userinfoAudience(config.issuer),
    truthCache: caches.truth,
    records: deps.records,
    ...(reloadKeys ? { reloadKeys } : {}),
  });
  const clients = new ClientAdapter(deps.clients, caches.clients, [accountClientMetadata(config.issuer)], { requirePar: config.requirePar }, deps.registration?.registrar);
  const held = new HeldIssuance();
  const codes = new CodeRedemptions(held, heldConsumeFailureRecorder(deps.logger, 'code'));
  const adapter = storageFor(deps.records, {
    clients, jwts, truth: caches.truth, grants: caches.grants,
    ...(deps.registration ? { initialAccessTokens: deps.registration.initialAccessTokens } : {}),
    refreshRetryWindowSeconds: config.refreshRetryWindowSeconds,
    onHeldConsumeFailure: heldConsumeFailureRecorder(deps.logger),
    codes,
    held,
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
    sessionTtl: (session, idleSeconds) => deps.records.sessionTtl(session, idleSeconds),
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
  // Outermost: a revocation at the provider's endpoints is answered once every instance has heard
  // of it, after whatever the middleware inside it writes (src/db/change-barrier.ts).
  identifyRequestsBy(currentRequest);
  provider.use(answeredOnceHeardEverywhere(deps.changes));
  provider.use(answerForgivenRetries(forgivenRetryRecorder(deps.logger, deps.audit)));
  // Inside answerForgivenRetries: a refresh whose held rotation loses to a duplicate is forgiven
  // here, and its answer given the winner's successor there.
  provider.use(held.middleware(provider));
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

/**
 * How often a token signed with a key this instance has not loaded may make it read the keys
 * again. Anyone can make up a kid: this bounds what a flood of them costs the database to one
 * read per interval, while a token from a key another instance just rotated in is accepted at once
 * (unless a reload for another unknown kid happened within the interval).
 */
export const UNKNOWN_KEY_RELOAD_INTERVAL_SECONDS = 5;

export class OidcService {
  #built: Built;
  #fingerprint: string;
  #timer: NodeJS.Timeout | undefined;
  /** Key reloads run one after another, so an older read never replaces a newer key set. */
  #refreshing: Promise<unknown> = Promise.resolve();
  /** The reload a token with an unknown kid asked for: running, or how the last one ended. */
  #unknownKeyReload: { startedAt: number; pending: Promise<void> | undefined; failure: unknown } | undefined;
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
    this.#built = this.#build(keySet);
    this.#fingerprint = keySet.fingerprint;
  }

  #build(keySet: KeySet): Built {
    return buildProvider(this.deps, keySet, this.caches, this.signedOut, () => this.reloadForUnknownKey());
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
  refreshKeys(): Promise<boolean> {
    const run = this.#refreshing.then(async () => {
      const keySet = await this.keys.loadKeySet();
      if (keySet.fingerprint === this.#fingerprint) return false;
      this.#built = this.#build(keySet);
      this.#fingerprint = keySet.fingerprint;
      this.deps.logger.info({ event: 'keys.reloaded', kids: keySet.jwks.keys.map((k) => k.kid) });
      return true;
    });
    this.#refreshing = run.catch(() => {
      // Only the chain: the next refresh waits for this one, failed or not. The failure itself
      // reaches this call's caller through `run`, which logs it or answers 503.
    });
    return run;
  }

  /**
   * For a token of ours signed with a kid no loaded key has: another instance may have rotated in
   * a key this one has not read yet (its timer's reloads failing, or publish-before-signing set
   * below the refresh interval). The keys are read again at once, one read shared by every
   * request that asks meanwhile and at most one per UNKNOWN_KEY_RELOAD_INTERVAL_SECONDS; then the
   * verifier of the newest key set is answered, and the new provider (its keystore too) serves
   * the next requests. When the read failed because the database is unavailable (now or within
   * the interval), that error is thrown: the token cannot be told from a revoked one, and saying
   * it was (401, active:false) signs people out where a 503 is retried.
   */
  async reloadForUnknownKey(): Promise<JwtAccessTokens> {
    const now = this.deps.records.now();
    const last = this.#unknownKeyReload;
    if (!last || (!last.pending && now - last.startedAt >= UNKNOWN_KEY_RELOAD_INTERVAL_SECONDS * 1000)) {
      const reload = { startedAt: now, pending: undefined as Promise<void> | undefined, failure: undefined as unknown };
      this.deps.logger.info({ event: 'keys.reload_for_unknown_kid' });
      reload.pending = this.refreshKeys().then(
        () => undefined,
        (error: unknown) => {
          reload.failure = error;
          this.deps.logger.error({ event: 'keys.refresh_failed', err: error });
        },
      ).finally(() => { reload.pending = undefined; });
      this.#unknownKeyReload = reload;
    }
    const current = this.#unknownKeyReload!;
    await current.pending;
    if (isDatabaseUnavailable(current.failure)) throw current.failure;
    return this.#built.jwts;
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
