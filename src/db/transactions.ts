// Transactions that PostgreSQL may fail for a conflict with another one, run again. Acts on one
// person, app or API take their rows in one order where it was found to matter, but two acts on
// overlapping rows can still meet (an admin disabling an app while a person it served is deleted).
// PostgreSQL then rolls one of them back whole (40P01, a deadlock; 40001, a serialization failure)
// and its documentation asks the application to run it again, rather than answer with a 503.
import type { Knex } from 'knex';
import { isTransactionConflict } from './errors.js';
import type { Database } from './knex.js';
import { transactionConflicts } from '../observability/metrics.js';

/** How many times in all a transaction runs while PostgreSQL fails it for a conflict. */
export const TRANSACTION_ATTEMPTS = 3;

/**
 * `work` in a transaction of its own, run again in a new one (up to TRANSACTION_ATTEMPTS in all)
 * when PostgreSQL fails it for a conflict, and for nothing else. `work` must therefore have no
 * effect outside `trx`: what it sends (mail, logout tokens, security events) goes through the
 * outbox in the same transaction, and what it generates is only handed out once it commits.
 */
export async function inTransaction<T>(db: Database, work: (trx: Knex.Transaction) => Promise<T>, config?: Knex.TransactionConfig): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await db.transaction(work, config);
    } catch (error) {
      if (!isTransactionConflict(error)) throw error;
      // Counted, so that acts meeting each other often show before they run out of attempts.
      transactionConflicts.inc({ outcome: attempt < TRANSACTION_ATTEMPTS ? 'retried' : 'failed' });
      if (attempt >= TRANSACTION_ATTEMPTS) throw error;
    }
  }
}
