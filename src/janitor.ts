// Deletes what has expired: oidc-provider records past their expiry, successors kept for a refresh
// retry past its window, remembered revocations of JWTs that have expired anyway, sign-in
// throttling counters, signing keys past their unpublication, outbox rows settled longer ago
// than OUTBOX_RETENTION, one-time links past their expiry, security events a polling receiver left
// unacknowledged past SECURITY_EVENTS_DROP_AFTER (or can no longer poll for), and sign-ups nobody verified within
// SIGNUP_ABANDONED_DAYS (src/enrolment/acts.ts). Every instance runs it; the deletes are idempotent, so overlap is
// harmless.
import type { Logger } from './logger.js';
import type { OidcRecords } from './records/index.js';
import { deleteExpiredRevocations } from './tokens/jwt-access-tokens.js';
import type { KeyStore } from './keys/signing-keys.js';
import { deleteExpiredRateLimits } from './security/rate-limit-store.js';
import type { Database } from './db/knex.js';
import { deleteSettledBefore } from './outbox/store.js';
import type { OneTimeLinks } from './links/store.js';
import type { SecurityEventPolls } from './security-events/polls.js';

/** What the janitor sweeps, and how often. */
export interface JanitorParts {
  db: Database;
  /** oidc-provider's records: what expired by the repository's clock goes. */
  records: OidcRecords;
  links: OneTimeLinks;
  keys: KeyStore;
  logger: Logger;
  intervalSeconds: number;
  /** REFRESH_TOKEN_RETRY_WINDOW: how long a rotation keeps its successor for a retry. */
  refreshRetryWindowSeconds: number;
  /** OUTBOX_RETENTION: how long delivered and given-up outbox rows stay. */
  outboxRetentionSeconds: number;
  /**
   * Security events kept for receivers that poll (src/security-events/polls.ts): dropped when left
   * unacknowledged past SECURITY_EVENTS_DROP_AFTER, or when their receiver no longer polls.
   */
  polledEvents?: { polls: Pick<SecurityEventPolls, 'sweep'>; dropAfterSeconds: number };
  /** Sign-ups (src/enrolment/): deletes those nobody verified, audited. The server always gives it. */
  signUps?: { deleteAbandoned(): Promise<number> };
}

export interface Swept {
  records: number;
  keptSuccessors: number;
  revocations: number;
  rateLimits: number;
  keys: number;
  outbox: number;
  links: number;
  polledEvents: number;
  abandonedSignUps: number;
}

export class Janitor {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(private readonly parts: JanitorParts) {}

  async sweep(): Promise<Swept> {
    const { db, records, links, keys, refreshRetryWindowSeconds, outboxRetentionSeconds } = this.parts;
    const swept: Swept = {
      records: await records.deleteExpired(),
      keptSuccessors: await records.clearKeptSuccessors(refreshRetryWindowSeconds),
      revocations: await deleteExpiredRevocations(db),
      rateLimits: await deleteExpiredRateLimits(db),
      keys: await keys.deleteUnpublishedKeys(),
      outbox: await deleteSettledBefore(db, new Date(records.now() - outboxRetentionSeconds * 1000)),
      links: await links.deleteExpired(),
      polledEvents: await this.#sweepPolledEvents(),
      abandonedSignUps: (await this.parts.signUps?.deleteAbandoned()) ?? 0,
    };
    if (Object.values(swept).some((count) => count > 0)) this.parts.logger.info({ event: 'janitor.swept', ...swept });
    return swept;
  }

  #sweepPolledEvents(): Promise<number> {
    const polled = this.parts.polledEvents;
    return polled ? polled.polls.sweep(new Date(this.parts.records.now() - polled.dropAfterSeconds * 1000), this.parts.logger) : Promise.resolve(0);
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.sweep()
        .then(() => undefined)
        .catch((error: unknown) => this.parts.logger.error({ event: 'janitor.failed', err: error }))
        .finally(() => { this.#running = undefined; });
    }, this.parts.intervalSeconds * 1000).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
