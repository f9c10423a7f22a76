// The janitor's part of oidc_records: what has outlived its use goes, a batch at a time so no
// statement holds many row locks or runs long. Find already ignores expired rows, so deleting them
// changes nothing a caller can observe.
import { deleteInBatches, deletedRows, type Database } from '../db/knex.js';
import { TABLE } from './rows.js';

/** Deletes records whose expiry has passed by `cutoff` (grants and sessions too); returns how many went. */
export function deleteExpired(db: Database, cutoff: Date, batchSize?: number): Promise<number> {
  return deleteInBatches(db, TABLE, 'expires_at <= ?', [cutoff], batchSize);
}

/**
 * Once a rotation is past the retry window (consumed at or before `cutoff`), what it kept for a
 * retry goes: together with the old token, it would hand out a live successor without tripping
 * reuse detection. Returns how many rotations it cleared. Like deleteInBatches, it passes over rows
 * an act holds (revoking a person's grants locks their tokens grant by grant, in no order of ours)
 * rather than wait on them, which could deadlock: the next sweep clears them.
 */
export async function clearKeptSuccessors(db: Database, cutoff: Date, batchSize = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const cleared = deletedRows(await db(TABLE)
      .whereRaw(`ctid = any(array(select ctid from ${TABLE} where successor_sealed is not null and consumed_at <= ? limit ? for update skip locked))`, [cutoff, batchSize])
      .update({ successor_sealed: null, successor_digest: null }));
    total += cleared;
    if (cleared < batchSize) return total;
  }
}
