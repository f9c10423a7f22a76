// Security events waiting for receivers that poll for them (RFC 8936) rather than take pushes:
// every statement on security_event_polls (migration 023), and the wake-up of a poll held open
// while its receiver has nothing waiting.
//
// A SET is written in the transaction of the act that caused it (./observer.ts), as a pushed one
// is written to the outbox, so it exists if and only if the act does. Its claims are sealed, as
// the outbox's payloads are: they name people, and a claims change carries the new address or
// name. It stays until its receiver acknowledges it, is handed out again on every poll until then
// (RFC 8936 §2.4: delivery is assured by the acknowledgement, not by the answer), and is dropped
// SECURITY_EVENTS_DROP_AFTER after the act if it never is, or once its receiver no longer polls.
import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import { openJson, sealJson, subkey } from '../crypto/sealed.js';
import type { ChangeFeed } from '../db/notifications.js';
import type { Database } from '../db/knex.js';
import { isStorableKey } from '../db/text.js';
import type { Logger } from '../logger.js';
import { securityEventsPolled } from '../observability/metrics.js';
import type { SecurityEventClaims } from './delivery.js';
import { queueOf, type Receiver } from './receivers.js';
import { POLL_DELIVERY } from './vocabulary.js';

const TABLE = 'security_event_polls';
/** The change feed's key prefix for an insert (migration 023): `security-event-poll:<receiver queue>`. */
const CHANGE_PREFIX = 'security-event-poll:';
/** How many rows one janitor statement deletes. */
const SWEEP_BATCH = 1000;
/** Polls of one receiver held open at once on an instance: a receiver run as a few replicas keeps each one's. */
export const MAX_HELD_PER_RECEIVER = 4;
/** The longest jti a receiver may name; Gatehouse's own are far shorter. */
export const MAX_JTI_LENGTH = 255;

/** A SET waiting for its receiver, oldest first. */
export interface WaitingSet {
  jti: string;
  claims: SecurityEventClaims;
}

/** Why a held poll stopped waiting: something was written, its time ran out, it was called off, or a newer poll of its receiver took its place. */
export type WakeReason = 'written' | 'timeout' | 'aborted' | 'superseded';

/** What a poll saw before it read: passed back to whenWritten, so a write between the read and the wait is not slept through. */
export type Seen = string;

/**
 * Emits `held` (the receiver's queue) as a poll begins to wait, and `woken` (the queue, the
 * WakeReason) as it stops: tests act and assert on them rather than on time.
 */
export class SecurityEventPolls extends EventEmitter {
  readonly #key: Uint8Array;
  /** Resolvers of the polls held open, by receiver queue, oldest first: at most MAX_HELD_PER_RECEIVER each. */
  readonly #waiting = new Map<string, Set<(reason: WakeReason) => void>>();
  /** Wake-ups per queue, and for all of them at once (the change feed lost): compared by `Seen`. */
  readonly #written = new Map<string, number>();
  #everyone = 0;

  constructor(
    private readonly db: Database,
    keyEncryptionKey: Uint8Array,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.#key = subkey(keyEncryptionKey, 'security event polls');
  }

  /**
   * Writes a SET for `receiver` in `trx`, the act's transaction. `writtenAt` is when the act was:
   * a SET moved here from the outbox is ordered by its act's time (to the second), though a poll
   * in between may already have handed out newer ones. A SET already written (the same jti) is
   * left as it is.
   */
  async enqueue(trx: Database, receiver: Receiver, claims: SecurityEventClaims, writtenAt = new Date(this.now())): Promise<void> {
    await trx(TABLE)
      .insert({ receiver: queueOf(receiver), jti: claims.jti, sealed: await sealJson(claims, this.#key, claims.jti), created_at: writtenAt })
      .onConflict('jti').ignore();
    // This instance's polls hear of it when the transaction ends, without the change feed (the
    // embedded database has none); after a rollback they find nothing and wait on.
    const wake = () => this.#wake(queueOf(receiver));
    const execution = (trx as Knex.Transaction).executionPromise;
    if (execution) execution.then(wake, wake);
    else wake();
  }

  /** Taken before reading the receiver's SETs, for whenWritten. */
  seen(receiver: Receiver): Seen {
    return `${this.#everyone}:${this.#written.get(queueOf(receiver)) ?? 0}`;
  }

  /**
   * Up to `max` of the receiver's SETs, oldest first, and whether more are waiting behind them
   * (with `max` 0: whether any is).
   */
  async waiting(receiver: Receiver, max: number, logger: Logger): Promise<{ sets: WaitingSet[]; moreAvailable: boolean }> {
    const rows: Array<{ jti: string; sealed: string }> = await this.db(TABLE)
      .select('jti', 'sealed')
      .where({ receiver: queueOf(receiver) })
      .orderBy([{ column: 'created_at' }, { column: 'id' }])
      .limit(max + 1);
    const opened = await Promise.all(rows.slice(0, max).map(async (row): Promise<WaitingSet | { jti: string; error: unknown }> => {
      try {
        return { jti: row.jti, claims: await openJson(row.sealed, this.#key, row.jti) as SecurityEventClaims };
      } catch (error) {
        return { jti: row.jti, error };
      }
    }));
    // One that no longer opens (KEY_ENCRYPTION_KEY changed, the row altered) would stop the
    // receiver's queue for good, as nobody could acknowledge it: it is dropped, as the outbox drops
    // an unreadable payload.
    const unreadable = opened.flatMap((set) => ('error' in set ? [set] : []));
    if (unreadable.length) {
      await this.db(TABLE).where({ receiver: queueOf(receiver) }).whereIn('jti', unreadable.map((set) => set.jti)).delete();
      for (const { jti, error } of unreadable) logger.error({ event: 'security_events.poll_unreadable', receiver: queueOf(receiver), jti, err: error });
      securityEventsPolled.inc({ outcome: 'dropped' }, unreadable.length);
    }
    const sets = opened.flatMap((set) => ('claims' in set ? [set] : []));
    return { sets, moreAvailable: rows.length > max };
  }

  /** Forgets the receiver's SETs with these jtis (acknowledged, or refused for good); the jtis that were its. */
  async settle(receiver: Receiver, jtis: readonly string[]): Promise<string[]> {
    // A jti the database cannot hold (a NUL in it) names none of ours: it settles nothing.
    const storable = [...new Set(jtis)].filter((jti) => isStorableKey(jti, MAX_JTI_LENGTH));
    if (!storable.length) return [];
    const rows: Array<{ jti: string }> = await this.db(TABLE).where({ receiver: queueOf(receiver) }).whereIn('jti', storable).delete().returning('jti');
    return rows.map((row) => row.jti);
  }

  /**
   * The janitor's sweep: drops the SETs written before `before` that no receiver acknowledged, and
   * those of receivers that no longer poll (deleted, or registered for pushes or nothing since:
   * they could not acknowledge them, and a new receiver of the same name must not inherit them).
   * Each receiver's losses are logged and counted; the total is returned.
   */
  async sweep(before: Date, logger: Logger): Promise<number> {
    // Receivers are named by queueOf; the prefixes come from it, so a change there cannot orphan every SET.
    // This one reads the whole table: SECURITY_EVENTS_DROP_AFTER keeps it to a day or so of events.
    // Rows an acknowledgement holds are passed over, not waited on (it locks in its own order: a
    // deadlock otherwise); they are acknowledged, or go at the next sweep.
    const orphaned = `not exists (select 1 from clients c where c.events_endpoint = ? and ${TABLE}.receiver = ? || c.client_id)
      and not exists (select 1 from resource_servers r where r.events_endpoint = ? and ${TABLE}.receiver = ? || r.identifier)`;
    const orphanedBindings = [POLL_DELIVERY, queueOf({ type: 'app', clientId: '' }), POLL_DELIVERY, queueOf({ type: 'api', identifier: '' })];
    const dropped = new Map<string, { unacknowledged: number; noLongerPolling: number }>();
    for (const [why, where, bindings] of [['unacknowledged', 'created_at < ?', [before]], ['noLongerPolling', orphaned, orphanedBindings]] as const) {
      for (;;) {
        const rows: Array<{ receiver: string }> = await this.db(TABLE)
          .whereRaw(`id = any(array(select id from ${TABLE} where ${where} limit ? for update skip locked))`, [...bindings, SWEEP_BATCH] as never)
          .delete()
          .returning('receiver');
        for (const { receiver } of rows) {
          const counts = dropped.get(receiver) ?? { unacknowledged: 0, noLongerPolling: 0 };
          counts[why] += 1;
          dropped.set(receiver, counts);
        }
        if (rows.length < SWEEP_BATCH) break;
      }
    }
    let total = 0;
    for (const [receiver, counts] of dropped) {
      logger.warn({ event: 'security_events.poll_dropped', receiver, ...counts });
      const count = counts.unacknowledged + counts.noLongerPolling;
      securityEventsPolled.inc({ outcome: 'dropped' }, count);
      total += count;
    }
    return total;
  }

  /**
   * Resolves when a SET may have been written for `receiver` since `seen` (on this instance, or on
   * another as the change feed tells), when `signal` aborts, after `ms`, or when more than
   * MAX_HELD_PER_RECEIVER polls of the receiver are held (the oldest answers: a receiver run as a
   * few replicas keeps each one's poll, one that opens poll after poll cannot pile them up). The
   * caller reads again: a wake-up promises nothing.
   */
  whenWritten(receiver: Receiver, seen: Seen, ms: number, signal?: AbortSignal): Promise<WakeReason> {
    const queue = queueOf(receiver);
    if (this.seen(receiver) !== seen) return Promise.resolve('written');
    const held = this.#waiting.get(queue) ?? new Set();
    this.#waiting.set(queue, held);
    if (held.size >= MAX_HELD_PER_RECEIVER) held.values().next().value!('superseded');
    return new Promise((resolve) => {
      const done = (reason: WakeReason) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        held.delete(done);
        if (!held.size && this.#waiting.get(queue) === held) this.#waiting.delete(queue);
        resolve(reason);
        this.emit('woken', queue, reason);
      };
      const aborted = () => done('aborted');
      const timer = setTimeout(() => done('timeout'), ms);
      held.add(done);
      if (signal?.aborted) return aborted();
      signal?.addEventListener('abort', aborted, { once: true });
      this.emit('held', queue);
    });
  }

  /** Wakes this instance's held polls from the change feed: an insert on any instance, or anything missed. */
  listen(feed: ChangeFeed): () => void {
    const onChange = (key: string) => { if (key.startsWith(CHANGE_PREFIX)) this.#wake(key.slice(CHANGE_PREFIX.length)); };
    // Notifications sent while the feed was down went unheard: every held poll looks again.
    const onMissed = () => {
      this.#everyone += 1;
      for (const held of [...this.#waiting.values()]) for (const wake of [...held]) wake('written');
    };
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
    this.#written.set(queue, (this.#written.get(queue) ?? 0) + 1);
    for (const wake of [...(this.#waiting.get(queue) ?? [])]) wake('written');
  }
}

/** How many SETs the receiver has waiting for its poll, and since when the oldest has (for the console). */
export async function waitingForPoll(db: Database, receiver: Receiver): Promise<{ waiting: number; oldest: Date | null }> {
  const row = await db(TABLE).where({ receiver: queueOf(receiver) }).count<Array<{ count: string | number }>>({ count: '*' }).min({ oldest: 'created_at' }).first() as { count: string | number; oldest: Date | string | null } | undefined;
  return { waiting: Number(row?.count ?? 0), oldest: row?.oldest ? new Date(row.oldest) : null };
}

/**
 * Forgets what waits for `receiver`, in `trx`: it is deleted, or no longer polls, so nobody could
 * acknowledge it, and a receiver given its name later must not inherit it (the stores call this).
 */
export async function forgetPolledEvents(trx: Database, receiver: Receiver): Promise<void> {
  await trx(TABLE).where({ receiver: queueOf(receiver) }).delete();
}
