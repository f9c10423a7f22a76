// Where sign-in throttling keeps its counters: the `rate_limits` table (migration 004), through
// rate-limiter-flexible's RateLimiterPostgres on the app's own knex instance, so every instance
// sharing the database sees — and atomically updates — the same counts. Each counter is one
// `INSERT … ON CONFLICT DO UPDATE … RETURNING`: one round trip, no read-modify-write race.
//
// On PostgreSQL the library's named `{ name, text, values }` statements run on a connection
// borrowed from knex's pool, as its own knex store would run them, but through queryPooled
// (src/db/prepared.ts), which announces them as knex announces its own: so they are timed and
// traced with every other statement. That cannot run on the embedded database: PGlite's
// `query(text, params)` refuses a query object — and the failed call leaves PGlite's protocol
// state broken for the next query. There the same statements go through knex.raw instead, which
// also queues them behind whatever else holds PGlite's single connection (a transaction, say).
import type { Knex } from 'knex';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { deleteInBatches, isEmbedded, type Database } from '../db/knex.js';
import { queryPooled, type PooledQuery } from '../db/prepared.js';

export const RATE_LIMITS_TABLE = 'rate_limits';

export interface CounterOptions {
  /** Distinguishes this counter's rows in the shared table. */
  keyPrefix: string;
  points: number;
  /** The window, in seconds. */
  duration: number;
}

/** A fixed-window counter kept in PostgreSQL. */
export function databaseCounter(db: Database, options: CounterOptions): RateLimiterPostgres {
  return new RateLimiterPostgres({
    ...options,
    storeClient: isEmbedded(db) ? knexRawClient(db) : { query: (query: PooledQuery) => queryPooled(db, query) },
    storeType: 'pool',
    tableName: RATE_LIMITS_TABLE,
    // The migration made the table: no DDL at request time.
    tableCreated: true,
    // The library's own sweeper is an unref'd timer per counter that nothing can stop, firing
    // into a closed pool after shutdown; the janitor deletes expired rows instead.
    clearExpiredByTimeout: false,
  });
}

/**
 * Deletes counters whose window has ended; for the janitor. The library never reads an expired
 * row (it resets one on its next use), so this only keeps the table small, in batches so a sweep
 * after an attack (many distinct keys) never holds one long delete.
 */
export async function deleteExpiredRateLimits(db: Database, options: { now?: number; batchSize?: number } = {}): Promise<number> {
  return deleteInBatches(db, RATE_LIMITS_TABLE, 'expire <= ?', [options.now ?? Date.now()], options.batchSize);
}


interface StoreQuery {
  text: string;
  values?: unknown[];
}

/**
 * What RateLimiterPostgres needs of a "pool" (`query({ text, values })` resolving to
 * `{ rows, rowCount }`), answered by knex.raw: `$n` placeholders become knex's `?` bindings, in the
 * order they appear (the library reuses some). knex-pglite reports no row count for a SELECT,
 * which the library reads as "no row", so the count of returned rows stands in for it.
 */
function knexRawClient(db: Database) {
  return {
    async query(q: StoreQuery): Promise<{ rows: unknown[]; rowCount: number }> {
      if (q.text.includes('?')) throw new Error('unexpected "?" in a rate limiter statement');
      const bindings: Knex.Value[] = [];
      const sql = q.text.replace(/\$(\d+)/g, (_match, index: string) => {
        bindings.push((q.values?.[Number(index) - 1] ?? null) as Knex.Value);
        return '?';
      });
      const result = (await db.raw(sql, bindings)) as { rows?: unknown[]; rowCount?: number | null };
      const rows = result.rows ?? [];
      return { rows, rowCount: typeof result.rowCount === 'number' && result.rowCount > 0 ? result.rowCount : rows.length };
    },
  };
}
