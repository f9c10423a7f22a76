// Deletes what has expired: oidc-provider records past their expiry, successors kept for a refresh
// retry past its window, remembered revocations of JWTs that have expired anyway, sign-in
// throttling counters, signing keys past their unpublication, and outbox rows settled longer ago
// than OUTBOX_RETENTION. Every instance runs it; the deletes are idempotent, so overlap is harmless.
import type { Logger } from './logger.js';
import type { OidcRecords } from './records/index.js';
import { deleteExpiredRevocations } from './tokens/jwt-access-tokens.js';
import type { KeyStore } from './keys/signing-keys.js';
import { deleteExpiredRateLimits } from './security/rate-limit-store.js';
import type { Database } from './db/knex.js';
import { deleteSettledBefore } from './outbox/store.js';

export class Janitor {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    /** oidc-provider's records: what expired by the repository's clock goes. */
    private readonly records: OidcRecords,
    private readonly keys: KeyStore,
    private readonly logger: Logger,
    private readonly intervalSeconds: number,
    /** REFRESH_TOKEN_RETRY_WINDOW: how long a rotation keeps its successor for a retry. */
    private readonly refreshRetryWindowSeconds: number,
    /** OUTBOX_RETENTION: how long delivered and given-up outbox rows stay. */
    private readonly outboxRetentionSeconds: number,
  ) {}

  async sweep(): Promise<{ records: number; keptSuccessors: number; revocations: number; rateLimits: number; keys: number; outbox: number }> {
    const records = await this.records.deleteExpired();
    const keptSuccessors = await this.records.clearKeptSuccessors(this.refreshRetryWindowSeconds);
    const revocations = await deleteExpiredRevocations(this.db);
    const rateLimits = await deleteExpiredRateLimits(this.db);
    const keys = await this.keys.deleteUnpublishedKeys();
    const outbox = await deleteSettledBefore(this.db, new Date(this.records.now() - this.outboxRetentionSeconds * 1000));
    if (records || keptSuccessors || revocations || rateLimits || keys || outbox) this.logger.info({ event: 'janitor.swept', records, keptSuccessors, revocations, rateLimits, keys, outbox });
    return { records, keptSuccessors, revocations, rateLimits, keys, outbox };
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.sweep()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.error({ event: 'janitor.failed', err: error }))
        .finally(() => { this.#running = undefined; });
    }, this.intervalSeconds * 1000).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
