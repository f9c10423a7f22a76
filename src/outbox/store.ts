// The outbox table's every statement (migration 008), in one place, so the guarantees rest on a
// few queries that can be read together:
//   - a row is written only inside its cause's transaction (insert), so it exists iff the act does;
//   - a sender claims due rows under a lease in one atomic statement that skips rows another
//     transaction has locked, so two senders never hold one row, and a lapsed lease is claimable;
//   - a sender settles or releases only rows it still leases, and settling erases the payload.
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
}

export interface NewRow {
  id: string;
  kind: string;
  payload: string;
  now: Date;
}

export async function insertRow(trx: Knex.Transaction, row: NewRow): Promise<void> {
  await trx(OUTBOX_TABLE).insert({
    id: row.id,
    kind: row.kind,
    payload: row.payload,
    created_at: row.now,
    next_attempt_at: row.now,
    attempts: 0,
  });
}

const PENDING = 'delivered_at is null and failed_at is null';

/**
 * Leases up to `limit` due rows of `kinds` to `sender` until `leaseUntil`, oldest due first, and
 * counts the attempt. `for update skip locked` keeps two senders claiming at once off each other's
 * rows; the lease keeps them off afterwards, until it lapses.
 */
export async function claimDue(db: Database, options: { kinds: readonly string[]; sender: string; now: Date; leaseUntil: Date; limit: number }): Promise<ClaimedRow[]> {
  const { rows } = (await db.raw(
    `update ${OUTBOX_TABLE} set leased_by = :sender, leased_until = :leaseUntil, attempts = attempts + 1
      where id in (
        select id from ${OUTBOX_TABLE}
         where ${PENDING} and next_attempt_at <= :now and (leased_until is null or leased_until <= :now)
           and kind = any(:kinds)
         order by next_attempt_at
         limit :limit
         for update skip locked)
      returning id, kind, payload, attempts, created_at`,
    { sender: options.sender, leaseUntil: options.leaseUntil, now: options.now, kinds: [...options.kinds], limit: options.limit },
  )) as { rows: Array<{ id: string; kind: string; payload: string | null; attempts: number; created_at: Date | string }> };
  return rows.map((row) => ({ id: row.id, kind: row.kind, payload: row.payload, attempts: row.attempts, createdAt: new Date(row.created_at) }));
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
  const row = (await db(OUTBOX_TABLE)
    .whereRaw(PENDING)
    .whereIn('kind', [...kinds])
    .min({ at: db.raw('greatest(next_attempt_at, coalesce(leased_until, next_attempt_at))') })
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
