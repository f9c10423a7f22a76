// The running oidc-provider and what it stands on. oidc-provider takes its keys once, at
// construction; when the key set changes (a rotated key activates, a retired one is unpublished),
// a new Provider is built on the same database and swapped in. Instances sharing a database read
// the same signing_keys table, so they converge on the same keys within one refresh interval.
import { Provider, type Adapter } from 'oidc-provider';
import type { UserStore } from '../accounts/users.js';
import type { ClientStore } from '../clients/store.js';
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import type { Pages } from '../http/pages.js';
import type { Logger } from '../logger.js';
import type { ResourceServerStore } from '../resources/store.js';
import { createAdapterFactory } from './adapter.js';
import { ClientAdapter, compareClientSecretsByDigest } from './clients.js';
import { providerConfiguration } from './configuration.js';
import { logProviderEvents } from './events.js';
import { findLatestGrantId } from './grants.js';
import { introspectionPolicy } from './introspection.js';
import { AccessTokenAdapter, JwtAccessTokens } from './jwt-access-tokens.js';
import { keyStoreFor, publicJwks, type KeySet, type KeyStore } from './keys.js';
import { userinfoAudience } from './vocabulary.js';

export interface OidcDependencies {
  config: Config;
  db: Database;
  users: UserStore;
  clients: ClientStore;
  resources: ResourceServerStore;
  pages: Pages;
  logger: Logger;
}

/** oidc-provider's default clock tolerance, used for our own JWT checks too. */
const CLOCK_TOLERANCE_SECONDS = 15;

export function buildProvider(deps: OidcDependencies, keySet: KeySet): Provider {
  const { config, db } = deps;
  const stored = createAdapterFactory(db);
  const clientAdapter = new ClientAdapter(deps.clients);
  const jwts = new JwtAccessTokens(db, {
    issuer: config.issuer,
    jwks: publicJwks(keySet),
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    userinfoAudience: userinfoAudience(config.issuer),
  });
  const adapter = (model: string): Adapter => {
    if (model === 'Client') return clientAdapter;
    if (model === 'AccessToken' || model === 'ClientCredentials') return new AccessTokenAdapter(model, stored(model), jwts);
    return stored(model);
  };

  const provider = new Provider(config.issuer, providerConfiguration({
    config,
    users: deps.users,
    resources: deps.resources,
    pages: deps.pages,
    adapter,
    jwks: keySet.jwks as unknown as { keys: Record<string, unknown>[] },
    findLatestGrantId: (accountId, clientId) => findLatestGrantId(db, accountId, clientId),
    mayIntrospect: introspectionPolicy(db),
  }));
  // Behind a TLS-terminating proxy, trust X-Forwarded-Proto/For so cookies get Secure and the
  // issuer's https URLs match what the browser sees.
  provider.proxy = config.trustProxy;
  compareClientSecretsByDigest(provider);
  logProviderEvents(provider, deps.logger);
  return provider;
}

export class OidcService {
  #provider: Provider;
  #fingerprint: string;
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly deps: OidcDependencies,
    private readonly keys: KeyStore,
    keySet: KeySet,
  ) {
    this.#provider = buildProvider(deps, keySet);
    this.#fingerprint = keySet.fingerprint;
  }

  static async start(deps: OidcDependencies): Promise<OidcService> {
    const keys = keyStoreFor(deps.config, deps.db);
    await keys.ensureKeys();
    return new OidcService(deps, keys, await keys.loadKeySet());
  }

  get provider(): Provider {
    return this.#provider;
  }

  /** Re-reads the key set and swaps in a new provider when it changed. */
  async refreshKeys(): Promise<boolean> {
    const keySet = await this.keys.loadKeySet();
    if (keySet.fingerprint === this.#fingerprint) return false;
    this.#provider = buildProvider(this.deps, keySet);
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
