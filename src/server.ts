// The composition root: opens the database, migrates it, builds every part and starts listening.
// main.ts calls it for `npm start`; tests call it to get a real server on a real database.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PasswordHasher } from './people/passwords.js';
import { UserStore } from './people/users.js';
import { createApp } from './app.js';
import { ClientStore } from './clients/store.js';
import type { Config } from './config.js';
import type { Database } from './db/knex.js';
import { migrateToLatest } from './db/migrate.js';
import { startChangeFeed, type ChangeFeed } from './db/notifications.js';
import { openDatabase } from './db/open.js';
import { ConnectionDrain } from './http/connection-drain.js';
import { Languages } from './i18n/negotiation.js';
import { Pages } from './http/pages.js';
import { adminOperations, type AdminOperations } from './admin/operations.js';
import { SelfService } from './account/self-service.js';
import { AuditLog } from './audit/log.js';
import { GrantStore } from './grants/store.js';
import { OidcRecords } from './records/index.js';
import { SessionStore } from './sessions/store.js';
import { Janitor } from './janitor.js';
import { OneTimeLinks } from './links/store.js';
import { Enrolment } from './enrolment/acts.js';
import { EnrolmentMail } from './enrolment/mail.js';
import { signUpThrottle } from './enrolment/throttle.js';
import type { Logger } from './logger.js';
import { keyStoreFor } from './keys/signing-keys.js';
import { OidcService } from './oidc/provider.js';
import { startObserving, type Observation } from './observability/observe.js';
import { createDeliveries, type Deliveries } from './outbox/deliveries.js';
import { ResourceServerStore } from './resources/store.js';
import { BackchannelLogout } from './logout/backchannel-logout.js';
import { BackchannelLogoutChannel } from './logout/channel.js';
import { watchForSecurityEvents } from './security-events/observer.js';
import { SetSigner } from './security-events/delivery.js';
import { SecurityEventPolls } from './security-events/polls.js';
import { AccountNotices } from './notices/account-notices.js';
import { recoveryServices } from './recovery/services.js';
import { AddressMail } from './verification/address-mail.js';
import { auditedActs } from './audit/audited.js';
import { InitialAccessTokenStorage } from './registration/initial-access-tokens.js';
import { Registrar } from './registration/registrar.js';
import { RegistrationTokens } from './registration/tokens.js';
import { Addresses } from './verification/addresses.js';
import { FactorActs } from './factors/acts.js';
import { FactorStore } from './factors/store.js';
import { Passkeys } from './passkeys/passkeys.js';

export interface Gatehouse {
  config: Config;
  db: Database;
  oidc: OidcService;
  /** Change notifications from the database, which keep this instance's caches honest. */
  changes: ChangeFeed;
  server: http.Server;
  /** Where the server listens, e.g. http://127.0.0.1:3000 */
  address: string;
  /** The metrics listener's origin (Prometheus scrapes <it>/metrics); undefined without METRICS_PORT. */
  metricsAddress: string | undefined;
  stores: { users: UserStore; clients: ClientStore; resources: ResourceServerStore };
  audit: AuditLog;
  operations: AdminOperations;
  /** A signed-in person's acts on their own account (the account pages). */
  selfService: SelfService;
  /** Email addresses: verification links, changes (src/verification/). */
  addresses: Addresses;
  /** Back-channel logout: who is told when sign-ins end (src/logout/). */
  logout: BackchannelLogout;
  /** Second factors: authenticator apps and recovery codes (src/factors/). */
  factors: FactorActs;
  /** Passkeys (src/passkeys/): each person's, and the WebAuthn ceremonies. */
  passkeys: Passkeys;
  /** The outbox (mail, logout tokens, security events): `deliveries.outbox.enqueue(trx, …)` in the transaction of the act. */
  deliveries: Deliveries;
  /** What deletes the expired and the abandoned; it runs on a timer unless `background: false`, and `sweep()` runs it now. */
  janitor: Janitor;
  /** The security events of receivers that poll for them (RFC 8936). */
  securityEventPolls: SecurityEventPolls;
  /**
   * Stops gracefully: /readyz answers 503 at once, the listener stays open for `drainDelayMs`
   * (default 0), then connections are closed between requests and requests in progress finish.
   */
  close(options?: { drainDelayMs?: number }): Promise<void>;
}

export interface StartOptions {
  /** Use this database instead of opening the configured one (tests); it is not closed on close(). */
  db?: Database;
  /** Run the janitor and key refresh timers (off in tests that drive them by hand). */
  background?: boolean;
  /** The clock the oidc storage decides expiry and the refresh retry window by (tests move it). */
  now?: () => number;
  /**
   * Open the METRICS_PORT listener (default true). A cluster worker passes false: the primary
   * serves its workers' metrics together (src/observability/scrape.ts).
   */
  metricsListener?: boolean;
}

export async function startGatehouse(config: Config, logger: Logger, options: StartOptions = {}): Promise<Gatehouse> {
  const opened = options.db ? undefined : openDatabase(config, { logger });
  const db = options.db ?? opened!.db;
  let changes: Awaited<ReturnType<typeof startChangeFeed>> | undefined;
  // Outside the try so a start that fails after it stops the sender, as it does the change feed.
  let deliveries: Deliveries | undefined;
  let observation: Observation | undefined;
  try {
    const applied = await migrateToLatest(db);
    if (applied.length) logger.info({ event: 'database.migrated', applied });
    // After migrating: the triggers that feed it come with migration 003. Caches stay bypassed
    // until it is connected (and on PGlite, for good).
    changes = await startChangeFeed(db, logger);
    observation = await startObserving({ config, db, changes, logger, metricsListener: options.metricsListener, now: options.now });
    const observing = observation;

    const users = new UserStore(db, new PasswordHasher(config.argon2, { concurrency: config.load.argon2Concurrency, queue: config.load.argon2Queue }));
    // The one owner of oidc-provider's records, and the clock every expiry among them follows.
    const records = new OidcRecords(db, options.now, config.secrets.keyEncryptionKey, { sessionMaxLifetimeSeconds: config.ttl.sessionMax });
    const clients = new ClientStore(db, records, { httpsOnly: config.env === 'production' });
    const resources = new ResourceServerStore(db, { httpsOnly: config.env === 'production', issuer: config.issuer });
    const languages = new Languages(config.defaultLocale);
    const pages = new Pages(languages);
    const audit = new AuditLog(db, (error, event) => logger.error({ event: 'audit.append_failed', type: event.type, err: error }));
    // Logout tokens are signed when delivered, with the provider's current key: the channel asks
    // the provider, which needs the outbox to write them, so it is looked up once both exist.
    let signer: OidcService | undefined;
    const grants = new GrantStore(db, records);
    // Apps registering themselves (RFC 7591/7592): the operator's tokens, and the one writer.
    const registrationTokens = new RegistrationTokens(db);
    const registrar = new Registrar({ clients, grants, tokens: registrationTokens, audited: auditedActs({ db, audit, changes }) });
    const keys = keyStoreFor(config, db);
    // The security events of receivers that poll for them (RFC 8936), and the polls held open.
    const polls = new SecurityEventPolls(db, config.secrets.keyEncryptionKey, options.now);
    const stopListening = polls.listen(changes);
    const outgoing = createDeliveries(config, db, logger, changes, options.now, {
      'backchannel-logout': new BackchannelLogoutChannel({ issuer: config.issuer, signingKey: (alg) => signer?.signingKey(alg) }),
    }, { keys, polls });
    deliveries = outgoing;
    // From here every revocation and every act that concerns an app or API is pushed to it, or kept for its poll.
    watchForSecurityEvents({ records, audit, clients, resources, outbox: outgoing.outbox, polls, issuer: config.issuer, now: options.now });
    const logout = new BackchannelLogout({ db, outbox: outgoing.outbox, records, receivers: (ids, trx) => clients.logoutReceivers(ids, trx) });
    const oidc = await OidcService.start({
      config, db, users, clients, resources, pages, logger, changes, audit, records, logout,
      registration: { registrar, initialAccessTokens: new InitialAccessTokenStorage(registrationTokens) },
    });
    signer = oidc;
    const links = new OneTimeLinks(db, options.now);
    const sessions = new SessionStore(db, records, (trx, userId, signedOut, how) => logout.sessionsEnded(trx, userId, signedOut, how));
    const notices = new AccountNotices({
      db, outbox: outgoing.outbox, issuer: config.issuer, enabled: config.emailNotifications, recoveryOffered: config.passwordRecovery, defaultLocale: config.defaultLocale, now: options.now,
    });
    const enrolmentMail = new EnrolmentMail({ outbox: outgoing.outbox, links, issuer: config.issuer, signup: config.signup, defaultLocale: config.defaultLocale });
    const addresses = new Addresses({ db, users, links, audit, changes, enabled: config.emailVerification, mail: new AddressMail(links, outgoing.outbox, config.issuer, config.defaultLocale), ...(options.now ? { now: options.now } : {}) });
    const factorStore = new FactorStore(db, config.secrets.keyEncryptionKey, options.now);
    const passkeys = new Passkeys({
      db, audit, changes, notices, issuer: config.issuer, now: options.now,
      lastPasskeyRemoved: (trx, userId) => factorStore.removeLoneRecoveryCodes(trx, userId),
    });
    const factors = new FactorActs({
      db, audit, notices, users, sessions, grants, passkeys: passkeys.store,
      store: factorStore,
      audited: auditedActs({ db, audit, changes }),
    });
    const operations = adminOperations({ db, users, clients, resources, keys, audit, sessions, grants, changes, notices, enrolment: enrolmentMail, addresses, links, registrationTokens, factors });
    const enrolment = new Enrolment({
      db, audit, changes, users, logger, now: options.now,
      abandonedAfterDays: config.signupAbandonedAfterDays,
      mail: enrolmentMail,
      throttle: signUpThrottle(db, config.secrets.keyEncryptionKey),
    });
    const janitor = new Janitor({
      db, records, links, keys, logger,
      intervalSeconds: config.cleanupIntervalSeconds,
      refreshRetryWindowSeconds: config.refreshRetryWindowSeconds,
      outboxRetentionSeconds: config.outbox.retentionSeconds,
      polledEvents: { polls, dropAfterSeconds: config.securityEvents.dropAfterSeconds },
      signUps: enrolment,
    });
    const selfService = new SelfService({ db, users, resources, audit, sessions, grants, changes, notices, links });
    const recovery = config.passwordRecovery
      ? recoveryServices({ config, db, users, links, outbox: outgoing.outbox, audit, sessions, grants, notices, logger, changes })
      : undefined;
    if (options.background !== false) {
      oidc.watchKeys();
      janitor.start();
      outgoing.start();
    }

    const drain = new ConnectionDrain();
    // Aborted as a graceful stop begins: what waits on the server's behalf (a held poll) answers at once.
    const stopping = new AbortController();
    const app = createApp({
      config, db, logger, oidc, users, clients, resources, pages, audit, operations, selfService, enrolment, notices, recovery, addresses, links, registrationTokens, records, factors, passkeys,
      devMailbox: outgoing.devMailbox, draining: () => drain.draining, ...(options.now ? { now: options.now } : {}),
      securityEventPolls: {
        polls,
        signer: new SetSigner({ keys, keyRefreshMs: config.keys.refreshIntervalSeconds * 1000, now: options.now }),
        waitMs: config.securityEvents.pollWaitSeconds * 1000,
        stopping: stopping.signal,
      },
    });
    const server = http.createServer(drain.wrap(app.callback()));
    drain.attach(server);
    // Keep-alive longer than a typical load balancer's idle timeout, so the proxy closes first.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const address = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

    let closing: Promise<void> | undefined;
    return {
      config,
      db,
      oidc,
      changes,
      server,
      address,
      metricsAddress: observing.metricsAddress,
      stores: { users, clients, resources },
      audit,
      operations,
      selfService,
      addresses,
      logout,
      factors,
      passkeys,
      deliveries: outgoing,
      janitor,
      securityEventPolls: polls,
      close(closeOptions = {}) {
        closing ??= (async () => {
          stopping.abort();
          // The sender stops claiming at once and its delivery in progress finishes during the
          // drain, recording its outcome before the database closes (its passes never reject).
          await Promise.all([drain.close(server, { drainDelayMs: closeOptions.drainDelayMs ?? 0 }), outgoing.stop()]);
          oidc.stop();
          await janitor.stop();
          await audit.flush();
          stopListening();
          await changes?.stop();
          // After the last statement (its span ends) and before the database closes.
          await observing.stop();
          await opened?.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await deliveries?.stop();
    await changes?.stop();
    await observation?.stop();
    await opened?.close();
    throw error;
  }
}
