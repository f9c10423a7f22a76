// Security events waiting for receivers that poll for them (RFC 8936) rather than take pushes:
// every statement on security_event_polls (migration 023), and the wake-up of a poll held open
// while its receiver has nothing waiting.
//
// A SET is written in the transaction of the act that caused it (./observer.ts), as a pushed one
// is written to the outbox, so it exists if and only if the act does. It stays until its receiver
// acknowledges it, is handed out again on every poll until then (RFC 8936 §2.4: delivery is
// assured by the acknowledgement, not by the answer), and is dropped SECURITY_EVENTS_DROP_AFTER
// after the act if it never is.
import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/notifications.js';
import { deleteInBatches, deletedRows, type Database } from '../db/knex.js';
import type { SecurityEventClaims } from './delivery.js';
import { queueOf, type Receiver } from './receivers.js';

const TABLE = 'security_event_polls';
/** The change feed's key prefix for an insert (migration 023): `security-event-poll:<receiver queue>`. */
const CHANGE_PREFIX = 'security-event-poll:';

/** A SET waiting for its receiver, oldest first. */
export interface WaitingSet {
  jti: string;
  claims: SecurityEventClaims;
}

/** Emits `held` (the receiver's queue) as a poll begins to wait: tests act on it rather than on time. */
export class SecurityEventPolls extends EventEmitter {
  /** Resolvers of the polls held open, by receiver queue. */
  readonly #waiting = new Map<string, Set<() => void>>();

  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /**
   * Writes a SET for `receiver` in `trx`, the act's transaction. A SET already written (the same
   * jti: a push moved here when its receiver took to polling) is left as it is.
   */
  async enqueue(trx: Database, receiver: Receiver, claims: SecurityEventClaims): Promise<void> {
    await trx(TABLE)
      .insert({ receiver: queueOf(receiver), jti: claims.jti, claims: JSON.stringify(claims), created_at: new Date(this.now()) })
      .onConflict('jti').ignore();
    // This instance's polls hear of it when the transaction ends, without the change feed (the
    // embedded database has none); after a rollback they find nothing and wait on.
    const wake = () => this.#wake(queueOf(receiver));
    const execution = (trx as Knex.Transaction).executionPromise;
    if (execution) execution.then(wake, wake);
    else wake();
  }

  /** Up to `max` of the receiver's SETs, oldest first, and whether more are waiting behind them. */
  async waiting(receiver: Receiver, max: number): Promise<{ sets: WaitingSet[]; moreAvailable: boolean }> {
    if (max <= 0) return { sets: [], moreAvailable: false };
    const rows: Array<{ jti: string; claims: SecurityEventClaims | string }> = await this.db(TABLE)
      .select('jti', 'claims')
      .where({ receiver: queueOf(receiver) })
      .orderBy('id')
      .limit(max + 1);
    const sets = rows.slice(0, max).map((row) => ({ jti: row.jti, claims: typeof row.claims === 'string' ? JSON.parse(row.claims) as SecurityEventClaims : row.claims }));
    return { sets, moreAvailable: rows.length > max };
  }

  /** Forgets the receiver's SETs with these jtis (acknowledged, or refused for good); how many there were. */
  async settle(receiver: Receiver, jtis: readonly string[]): Promise<number> {
    if (!jtis.length) return 0;
    return deletedRows(await this.db(TABLE).where({ receiver: queueOf(receiver) }).whereIn('jti', [...new Set(jtis)]).delete());
  }

  /** How many SETs the receiver has waiting, and since when the oldest has (for the console). */
  async summary(receiver: Receiver): Promise<{ waiting: number; oldest: Date | null }> {
    const row = await this.db(TABLE).where({ receiver: queueOf(receiver) }).count<Array<{ count: string | number }>>({ count: '*' }).min({ oldest: 'created_at' }).first() as { count: string | number; oldest: Date | string | null } | undefined;
    return { waiting: Number(row?.count ?? 0), oldest: row?.oldest ? new Date(row.oldest) : null };
  }

  /** Drops SETs written before `before` that no receiver acknowledged (the janitor). */
  deleteUnacknowledgedBefore(before: Date): Promise<number> {
    return deleteInBatches(this.db, TABLE, 'created_at < ?', [before]);
  }

  /**
   * Resolves when a SET may have been written for `receiver` (on this instance, or on another as
   * the change feed tells), when `signal` aborts, or after `ms`, whichever comes first. The caller
   * reads again: a wake-up promises nothing.
   */
  whenWritten(receiver: Receiver, ms: number, signal?: AbortSignal): Promise<void> {
    const queue = queueOf(receiver);
    return new Promise((resolve) => {
      const waiters = this.#waiting.get(queue) ?? new Set();
      this.#waiting.set(queue, waiters);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        if (!waiters.size && this.#waiting.get(queue) === waiters) this.#waiting.delete(queue);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
      if (signal?.aborted) return done();
      signal?.addEventListener('abort', done, { once: true });
      this.emit('held', queue);
    });
  }

  /** Wakes this instance's held polls from the change feed: an insert on any instance, or anything missed. */
  listen(feed: ChangeFeed): () => void {
    const onChange = (key: string) => { if (key.startsWith(CHANGE_PREFIX)) this.#wake(key.slice(CHANGE_PREFIX.length)); };
    // Notifications sent while the feed was down went unheard: every held poll looks again.
    const onMissed = () => { for (const queue of [...this.#waiting.keys()]) this.#wake(queue); };
    feed.on('change', onChange);
    feed.on('reset', onMissed);
    feed.on('connected', onMissed);
    return () => {
      feed.off('change', onChange);
      feed.off('reset', onMissed);
      feed.off('connected', onMissed);
    };
  }

  #wake(queue: string): void {
    for (const resolve of [...(this.#waiting.get(queue) ?? [])]) resolve();
  }
}
