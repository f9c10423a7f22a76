// The outbox's delivering side: takes what committed transactions wrote (./outbox.ts) and hands it
// to the channel for its kind (mail: src/email/), with retries and backoff, so an outage of the
// receiving end delays deliveries but loses none, and a crashed instance's deliveries are picked
// up by another (or by itself on restart) once their lease lapses.
//
// Once, as far as the network allows: a row is leased to one sender at a time (./store.ts) and
// marked delivered as soon as the receiver accepted it. One window remains: the receiver accepted
// the message and the sender died (or lost the database) before recording it. Then the message is
// delivered again after the lease lapses, under the same id — for mail, the same Message-ID — so
// the receiving side can tell the copy apart. Nothing can close that window without the receiver's
// help; it is as narrow as one UPDATE.
//
// It queries only when there may be something to do: when a transaction that enqueued on this
// instance ends, when the change feed announces an insert from any instance (migration 008), when
// the earliest pending row becomes claimable, and otherwise at a slow idle interval that covers
// notifications missed while the feed was down. `deliverDue()` is the whole of one pass; tests
// call it directly with their own clock.
import { randomUUID } from 'node:crypto';
import type { ChangeFeed } from '../db/notifications.js';
import type { Database } from '../db/knex.js';
import type { Logger } from '../logger.js';
import { outboxDeliveries } from '../observability/metrics.js';
import { DeliveryRefused, describeFailure, retryDelayMs } from './failures.js';
import { openPayload, payloadKey, type Outbox, type OutboxKind } from './outbox.js';
import { claimDue, markDelivered, markFailed, nextClaimableAt, release, scheduleRetry, type ClaimedRow } from './store.js';

/**
 * Delivers one opened payload; resolves once the receiving end has accepted it, throws otherwise:
 * DeliveryRefused (./failures.ts) when retrying cannot help, anything else to be retried.
 */
export interface DeliveryChannel {
  deliver(id: string, payload: unknown): Promise<void>;
}

export interface RetryPolicy {
  /** The first retry's delay; each further one doubles it. */
  baseMs: number;
  /** No retry waits longer than this. */
  maxDelayMs: number;
  /** A message still undelivered this long after it was written is given up (and its payload erased). */
  giveUpAfterMs: number;
}

export interface SenderOptions {
  db: Database;
  keyEncryptionKey: Uint8Array;
  channels: Partial<Record<OutboxKind, DeliveryChannel>>;
  retry: RetryPolicy;
  /** A kind's own policy, where it differs (security events give up on a dead receiver sooner). */
  retryByKind?: Partial<Record<OutboxKind, RetryPolicy>>;
  logger: Logger;
  now?: () => number;
  /** How long a claim protects a row from other senders; longer than any one delivery may take. */
  leaseMs?: number;
  batchSize?: number;
}

export interface DeliveryReport {
  delivered: number;
  retried: number;
  failed: number;
}

/** Five minutes: well beyond the SMTP channel's own timeouts (src/email/smtp.ts). */
export const DEFAULT_LEASE_MS = 5 * 60_000;
/**
 * With the change feed listening, inserts wake the sender; this finds what no notification
 * announces: a lease that a crashed instance took after this sender last looked, and now lapses.
 * Two small indexed queries a minute.
 */
const IDLE_LISTENING_MS = 60_000;
/** Without it (the embedded database, or the feed down), inserts by other instances are found this late. */
const IDLE_DEAF_MS = 30_000;
/** After the database failed a pass; also the shortest sleep, so rows locked by a concurrent claim are not spun on. */
const PAUSE_MS = 1_000;

type Outcome = keyof DeliveryReport;

export class OutboxSender {
  /** Names this sender's leases. */
  readonly id = randomUUID();
  readonly #key: Uint8Array;
  readonly #kinds: OutboxKind[];
  readonly #now: () => number;
  readonly #leaseMs: number;
  readonly #batchSize: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopping = false;
  #detach: Array<() => void> = [];
  /** How long to sleep with nothing due; depends on whether the change feed is listening. */
  #idleMs: () => number = () => IDLE_DEAF_MS;

  constructor(private readonly options: SenderOptions) {
    this.#key = payloadKey(options.keyEncryptionKey);
    this.#kinds = (Object.keys(options.channels) as OutboxKind[]).filter((kind) => options.channels[kind]);
    this.#now = options.now ?? Date.now;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#batchSize = options.batchSize ?? 20;
  }

  /** One pass: delivers every row due now, batch by batch, until none is left or the sender stops. */
  async deliverDue(): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, retried: 0, failed: 0 };
    while (!this.#stopping) {
      const now = this.#now();
      const claimed = await claimDue(this.options.db, {
        kinds: this.#kinds, sender: this.id, now: new Date(now), leaseUntil: new Date(now + this.#leaseMs), limit: this.#batchSize,
      });
      let index = 0;
      let settledQueue = false;
      // Rows with a queue are each the head of a different queue (a receiver's), so they go out
      // side by side: a receiver that hangs until its timeout holds up no other. Rows without
      // one (mail) go one after the other, as the relay takes them.
      const alongside: Array<Promise<void>> = [];
      let failure: { error: unknown } | undefined;
      const deliver = async (row: ClaimedRow) => {
        const outcome = await this.#deliver(row);
        report[outcome] += 1;
        if (row.queue && outcome !== 'retried') settledQueue = true;
        outboxDeliveries.inc({ kind: row.kind, outcome: outcome === 'failed' ? 'dropped' : outcome });
      };
      // A delivery begins only in the first half of its lease, so however slow the ones before it
      // were, it ends before another sender may take the row.
      for (; index < claimed.length && !this.#stopping && this.#now() - now < this.#leaseMs / 2; index += 1) {
        const row = claimed[index]!;
        if (row.queue) alongside.push(deliver(row).catch((error: unknown) => { failure ??= { error }; }));
        else await deliver(row);
      }
      await Promise.all(alongside);
      if (failure) throw failure.error;
      await release(this.options.db, claimed.slice(index).map((rest) => rest.id), this.id);
      // A queue's next row became claimable when the one before it settled: look again for it.
      if (claimed.length < this.#batchSize && index === claimed.length && !settledQueue) break;
    }
    return report;
  }

  /** Runs passes in the background, woken as the file's header says, until stop(). */
  start(wakers: { outbox?: Outbox; feed?: ChangeFeed } = {}): void {
    // Nothing this instance can deliver (production without SMTP_URL): nothing to look for.
    if (!this.#kinds.length) return;
    const wake = () => this.wake();
    const onChange = (key: string) => { if (key.startsWith('outbox:')) wake(); };
    if (wakers.outbox) this.#detach.push(wakers.outbox.onCommitted(wake));
    if (wakers.feed) {
      const { feed } = wakers;
      feed.on('change', onChange);
      // Inserts announced while the feed was down went unheard.
      feed.on('connected', wake);
      this.#detach.push(() => { feed.off('change', onChange); feed.off('connected', wake); });
    }
    this.#idleMs = () => (wakers.feed?.connected ? IDLE_LISTENING_MS : IDLE_DEAF_MS);
    wake();
  }

  /** Stops claiming; the delivery in progress finishes, and rows claimed but not begun are released. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    for (const detach of this.#detach.splice(0)) detach();
    await this.#running;
  }

  /** Resolves once no background pass is running, e.g. the one start() begins. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Starts a pass now, or right after the one in progress. */
  wake(): void {
    if (this.#stopping) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = this.#pass().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  async #pass(): Promise<void> {
    let sleepMs: number;
    try {
      await this.deliverDue();
      // Woken while it ran (a commit's own wake-up, then the database's notice of the same
      // commit, say): the next pass starts at once, and it asks when to wake.
      if (this.#again) return;
      const next = await nextClaimableAt(this.options.db, this.#kinds);
      const idleMs = this.#idleMs();
      sleepMs = next ? Math.min(Math.max(next.getTime() - this.#now(), PAUSE_MS), idleMs) : idleMs;
    } catch (error) {
      this.options.logger.error({ event: 'outbox.pass_failed', err: error });
      sleepMs = PAUSE_MS * 5;
    }
    if (!this.#stopping && !this.#again) this.#timer = setTimeout(() => this.wake(), sleepMs).unref();
  }

  async #deliver(row: ClaimedRow): Promise<Outcome> {
    const { db, logger } = this.options;
    const facts = { id: row.id, kind: row.kind, attempts: row.attempts };
    let payload: unknown;
    try {
      if (row.payload === null) throw new Error('the payload is gone');
      payload = await openPayload(row.payload, this.#key, row.id);
    } catch (error) {
      // Not a passing outage: KEY_ENCRYPTION_KEY changed since it was written, or the row was
      // altered. No retry can open it.
      const reason = `unreadable: ${describeFailure(error)}`;
      await markFailed(db, row.id, this.id, new Date(this.#now()), reason);
      logger.error({ event: 'outbox.unreadable', ...facts, error: reason });
      return 'failed';
    }
    try {
      await this.options.channels[row.kind as OutboxKind]!.deliver(row.id, payload);
    } catch (error) {
      return this.#failed(row, error);
    }
    const recorded = await markDelivered(db, row.id, this.id, new Date(this.#now()));
    // The lease lapsed during the delivery and another sender took the row: it may deliver again.
    if (!recorded) logger.warn({ event: 'outbox.lease_lost', ...facts });
    logger.info({ event: 'outbox.delivered', ...facts });
    return 'delivered';
  }

  async #failed(row: ClaimedRow, error: unknown): Promise<Outcome> {
    const { db, logger } = this.options;
    const retry = this.options.retryByKind?.[row.kind as OutboxKind] ?? this.options.retry;
    const now = this.#now();
    const reason = describeFailure(error);
    const facts = { id: row.id, kind: row.kind, attempts: row.attempts, error: reason, ...(row.queue ? { queue: row.queue } : {}) };
    if (error instanceof DeliveryRefused) {
      await markFailed(db, row.id, this.id, new Date(now), reason);
      logger.error({ event: 'outbox.refused', ...facts });
      return 'failed';
    }
    if (now - row.createdAt.getTime() >= retry.giveUpAfterMs) {
      await markFailed(db, row.id, this.id, new Date(now), reason);
      logger.error({ event: 'outbox.gave_up', ...facts });
      return 'failed';
    }
    const retryAt = new Date(now + retryDelayMs(row.attempts, retry.baseMs, retry.maxDelayMs));
    await scheduleRetry(db, row.id, this.id, retryAt, reason);
    logger.warn({ event: 'outbox.retry_scheduled', ...facts, retryAt: retryAt.toISOString() });
    return 'retried';
  }
}
