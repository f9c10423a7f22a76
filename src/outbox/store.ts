// The outbox table's every statement (migration 008), in one place, so the guarantees rest on a
// few queries that can be read together:
//   - a row is written only inside its cause's transaction (insert), so it exists iff the act does;
//   - a sender claims due rows under a lease in one atomic statement that skips rows another
//     transaction has locked, so two senders never hold one row, and a lapsed lease is claimable;
//   - a sender settles or releases only rows it still leases, and settling erases the payload;
//   - a row with a queue is claimable only while no earlier row of its queue is pending, so a
//     queue's rows are delivered one at a time in the order written (migration 013).
// Times are the sender's clock, passed in, so tests move time instead of waiting for it. Instances
// compare their clocks with leases other instances wrote: they must agree to well within a lease
// (minutes), which NTP gives.
import type { Knex } from 'knex';
import { deleteInBatches, deletedRows, type Database } from '../db/knex.js';

export const OUTBOX_TABLE = 'outbox';

/** A claimed row: everything a channel needs to deliver it. */
export interface ClaimedRow {
  id: string;
  kind: string;
  /** Sealed; null only if something erased it under a live lease (not done by Gatehouse). */
  payload: string | null;
  /** Attempts begun, this one included. */
  attempts: number;
  createdAt: Date;
  queue: string | null;
}

export interface NewRow {
  id: string;
  kind: string;
  payload: string;
  now: Date;
  /** Rows sharing a queue are delivered in the order written, one at a time; none: no order. */
  queue?: string | undefined;
}

export async function insertRow(trx: Knex, row: NewRow): Promise<void> {
  await trx(OUTBOX_TABLE).insert({
    id: row.id,
    kind: row.kind,
    payload: row.payload,
    created_at: row.now,
    next_attempt_at: row.now,
    attempts: 0,
    queue: row.queue ?? null,
  });
}

const PENDING = 'delivered_at is null and failed_at is null';

/**
 * The row `o` heads its queue (or has none): no earlier row of the queue is pending, leased or
 * not. A later row waits while an earlier one is being delivered or retried; two senders claiming
 * at once cannot each take one of a queue's rows, since the later one is never a head while the
 * earlier one is pending, whoever has it locked.
 */
const HEADS_QUEUE = `(o.queue is null or not exists (
  select 1 from ${OUTBOX_TABLE} earlier
   where earlier.queue = o.queue and earlier.seq < o.seq
     and earlier.delivered_at is null and earlier.failed_at is null))`;

/**
 * Leases up to `limit` due rows of `kinds` to `sender` until `leaseUntil`, oldest due first, and
 * counts the attempt. `for update skip locked` keeps two senders claiming at once off each other's
 * rows; the lease keeps them off afterwards, until it lapses.
 */
export async function claimDue(db: Database, options: { kinds: readonly string[]; sender: string; now: Date; leaseUntil: Date; limit: number }): Promise<ClaimedRow[]> {
  const { rows } = (await db.raw(
    `update ${OUTBOX_TABLE} set leased_by = :sender, leased_until = :leaseUntil, attempts = attempts + 1
      where id in (
        select id from ${OUTBOX_TABLE} o
         where o.delivered_at is null and o.failed_at is null and o.next_attempt_at <= :now
           and (o.leased_until is null or o.leased_until <= :now)
           and o.kind = any(:kinds) and ${HEADS_QUEUE}
         order by o.next_attempt_at, o.seq
         limit :limit
         for update skip locked)
      returning id, kind, payload, attempts, created_at, queue`,
    { sender: options.sender, leaseUntil: options.leaseUntil, now: options.now, kinds: [...options.kinds], limit: options.limit },
  )) as { rows: Array<{ id: string; kind: string; payload: string | null; attempts: number; created_at: Date | string; queue: string | null }> };
  return rows.map((row) => ({ id: row.id, kind: row.kind, payload: row.payload, attempts: row.attempts, createdAt: new Date(row.created_at), queue: row.queue }));
}

/** Whether `sender` still leased the row, i.e. whether the update below found it. */
async function updateLeased(db: Database, id: string, sender: string, changes: Record<string, unknown>): Promise<boolean> {
  const updated = await db(OUTBOX_TABLE).where({ id, leased_by: sender }).whereRaw(PENDING).update(changes);
  return deletedRows(updated) === 1;
}

/** Delivered: the payload is erased, the metadata stays until the janitor's sweep. */
export function markDelivered(db: Database, id: string, sender: string, now: Date): Promise<boolean> {
  return updateLeased(db, id, sender, { delivered_at: now, payload: null, leased_by: null, leased_until: null });
}

/** This attempt failed: try again at `retryAt`. */
export function scheduleRetry(db: Database, id: string, sender: string, retryAt: Date, error: string): Promise<boolean> {
  return updateLeased(db, id, sender, { next_attempt_at: retryAt, last_error: error, leased_by: null, leased_until: null });
}

/** Given up: the payload is erased, and the reason kept. */
export function markFailed(db: Database, id: string, sender: string, now: Date, error: string): Promise<boolean> {
  return updateLeased(db, id, sender, { failed_at: now, last_error: error, payload: null, leased_by: null, leased_until: null });
}

/** Hands back rows claimed but not attempted (a sender stopping): as if never claimed. */
export async function release(db: Database, ids: readonly string[], sender: string): Promise<void> {
  if (!ids.length) return;
  await db(OUTBOX_TABLE).whereIn('id', [...ids]).where({ leased_by: sender }).whereRaw(PENDING)
    .update({ leased_by: null, leased_until: null, attempts: db.raw('attempts - 1') });
}

/**
 * When the next pending row of `kinds` becomes claimable (due, and any lease lapsed), or undefined
 * when none is pending: how long a sender may sleep.
 */
export async function nextClaimableAt(db: Database, kinds: readonly string[]): Promise<Date | undefined> {
  // Only queue heads: a row waiting behind a retrying one is not claimable when it is due.
  const row = (await db(`${OUTBOX_TABLE} as o`)
    .whereRaw('o.delivered_at is null and o.failed_at is null')
    .whereIn('o.kind', [...kinds])
    .whereRaw(HEADS_QUEUE)
    .min({ at: db.raw('greatest(o.next_attempt_at, coalesce(o.leased_until, o.next_attempt_at))') })
    .first()) as { at: Date | string | null } | undefined;
  return row?.at ? new Date(row.at) : undefined;
}

/** For the janitor: deletes rows settled (delivered or given up) before `cutoff`, in batches. */
export function deleteSettledBefore(db: Database, cutoff: Date): Promise<number> {
  return deleteInBatches(db, OUTBOX_TABLE, '(delivered_at is not null or failed_at is not null) and coalesce(delivered_at, failed_at) < ?', [cutoff]);
}

/**
 * How many deliveries are pending and when the oldest was written, for the metrics (read when
 * Prometheus scrapes, never on a request): one count over the partial index of pending rows.
 */
export async function pendingSummary(db: Database): Promise<{ pending: number; oldestCreatedAt: Date | undefined }> {
  const row = (await db(OUTBOX_TABLE).whereRaw(PENDING).count({ pending: '*' }).min({ oldest: 'created_at' }).first()) as { pending: number | string; oldest: Date | string | null } | undefined;
  return { pending: Number(row?.pending ?? 0), oldestCreatedAt: row?.oldest ? new Date(row.oldest) : undefined };
}

/** How one queue's deliveries stand, for operators (the console's app and API pages). */
export interface QueueSummary {
  /** Waiting or being retried. */
  pending: number;
  /** Given up or refused, among the rows still kept (OUTBOX_RETENTION). */
  dropped: number;
  lastDeliveredAt: Date | undefined;
  /** The newest failure kept: a retry's reason, or why a row was given up. */
  lastError: string | undefined;
}

/** One indexed read of a queue's rows (the janitor keeps them few). */
export async function queueSummary(db: Database, queue: string): Promise<QueueSummary> {
  const row = (await db(OUTBOX_TABLE)
    .where('queue', queue)
    .select(db.raw(`count(*) filter (where ${PENDING}) as pending`))
    .select(db.raw('count(*) filter (where failed_at is not null) as dropped'))
    .select(db.raw('max(delivered_at) as last_delivered_at'))
    .first()) as { pending: number | string; dropped: number | string; last_delivered_at: Date | string | null } | undefined;
  const failure = (await db(OUTBOX_TABLE)
    .where('queue', queue)
    .whereNotNull('last_error')
    .orderBy('seq', 'desc')
    .first('last_error')) as { last_error: string } | undefined;
  return {
    pending: Number(row?.pending ?? 0),
    dropped: Number(row?.dropped ?? 0),
    lastDeliveredAt: row?.last_delivered_at ? new Date(row.last_delivered_at) : undefined,
    lastError: failure?.last_error,
  };
}
