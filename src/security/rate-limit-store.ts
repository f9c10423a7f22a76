// Where the database-backed rate limits keep their counters: the `rate_limits` table (migration
// 004), so every instance sharing the database sees — and atomically updates — the same counts.
// Each change is one `INSERT … ON CONFLICT DO UPDATE … RETURNING`: one round trip, no
// read-modify-write race. The throttles that hand attempts back (sign-in, second factors, device
// codes) count through countAttempt/countOne/settleAttempt below, by the clock they are given;
// the other limits (registration, mail) through rate-limiter-flexible's RateLimiterPostgres on the
// app's own knex instance, by Date.now.
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

/** One counter of the shared table: the prefix that sets its rows apart, and its key within it. */
export interface CounterKey {
  prefix: string;
  key: string;
}

/** A counter after a change: its points in the window, and the milliseconds until the window ends. */
export interface Count {
  points: number;
  msBeforeNext: number;
  /** When the window the change landed in ends (epoch ms; null: never): which window it was. */
  window: number | null;
}

/** A point taken from a counter's window, to be given back to that window and no other. */
export type Reservation = CounterKey & { window: number | null };

/** What `counter` reserved when it was counted as `count`. */
export function reservation(counter: CounterKey, count: Count): Reservation {
  return { prefix: counter.prefix, key: counter.key, window: count.window };
}

/** The row's key, as RateLimiterPostgres names it, so both kinds of counter share rows and the janitor. */
function rowKey(counter: CounterKey): string {
  return `${counter.prefix}:${counter.key}`;
}

function countOf(row: { points: number | string; expire: number | string | null }, now: number): Count {
  return { points: Number(row.points), msBeforeNext: row.expire === null ? -1 : Math.max(Number(row.expire) - now, 0), window: row.expire === null ? null : Number(row.expire) };
}

/**
 * Adds one to each counter, in one statement, as RateLimiterPostgres's penalty() does to one
 * (a window that has ended starts again with this one) — unless `unlessSpent` names a counter at
 * or past its limit in a live window: then nothing is added, and how long until it reopens is the
 * answer. Several counters for one attempt cost one round trip instead of one each.
 */
export async function countAttempt(
  db: Database,
  counters: ReadonlyArray<CounterKey & { durationSeconds: number }>,
  unlessSpent?: CounterKey & { limit: number },
  now = Date.now(),
): Promise<{ spentMsBeforeNext: number } | { counts: Count[] }> {
  const values = counters.map(() => '(?, ?::bigint)').join(', ');
  const bindings: Knex.Value[] = [];
  let spent = 'select null::bigint as expire where false';
  if (unlessSpent) {
    spent = `select expire from ${RATE_LIMITS_TABLE} where key = ? and points >= ? and (expire is null or expire > ?)`;
    bindings.push(rowKey(unlessSpent), unlessSpent.limit, now);
  }
  for (const counter of counters) bindings.push(rowKey(counter), now + counter.durationSeconds * 1000);
  bindings.push(now, now);
  // Rows are locked in key order here and in settleAttempt: concurrent attempts on the same
  // counters (a burst on one account from one address) would otherwise lock them in opposite
  // orders and deadlock, which the database breaks by failing one of them.
  const result = (await db.raw(`
    with spent as (${spent}),
    added as (
      insert into ${RATE_LIMITS_TABLE} (key, points, expire)
      select v.key, 1, v.expire from (values ${values}) as v(key, expire)
      where not exists (select 1 from spent)
      order by v.key
      on conflict (key) do update set
        points = case when ${RATE_LIMITS_TABLE}.expire <= ? then 1 else ${RATE_LIMITS_TABLE}.points + 1 end,
        expire = case when ${RATE_LIMITS_TABLE}.expire <= ? then excluded.expire else ${RATE_LIMITS_TABLE}.expire end
      returning key, points, expire
    )
    select null as key, 0 as points, expire, true as spent from spent
    union all
    select key, points, expire, false as spent from added`, bindings)) as { rows?: Array<{ key: string | null; points: number; expire: string | number | null; spent: boolean }> };
  const rows = result.rows ?? [];
  const refusal = rows.find((row) => row.spent);
  if (refusal) return { spentMsBeforeNext: countOf(refusal, now).msBeforeNext };
  const byKey = new Map(rows.map((row) => [row.key, row]));
  return {
    counts: counters.map((counter) => {
      const row = byKey.get(rowKey(counter));
      if (!row) throw new Error(`the counter ${counter.prefix} was not counted`);
      return countOf(row, now);
    }),
  };
}

/** Adds one to each counter (countAttempt with no counter that may refuse), and returns them after the change, in order. */
export async function countEach(db: Database, counters: ReadonlyArray<CounterKey & { durationSeconds: number }>, now = Date.now()): Promise<Count[]> {
  const counted = await countAttempt(db, counters, undefined, now);
  // Nothing can be spent without `unlessSpent`: there is always a count.
  if (!('counts' in counted)) throw new Error(`the counters ${counters.map((c) => c.prefix).join(', ')} were not counted`);
  return counted.counts;
}

/** Adds one to a single counter, and returns it after the change. */
export async function countOne(db: Database, counter: CounterKey & { durationSeconds: number }, now = Date.now()): Promise<Count> {
  return (await countEach(db, [counter], now))[0]!;
}

/**
 * In one statement: deletes the counters in `remove`, and gives each point in `giveBack` back to
 * the window it was taken from, while that window is open. A window that has ended holds nothing to
 * give back, and a point given to the window after it would be a try more than its limit: tries
 * refused in flight as a window ends would each open one more in the next.
 */
export async function settleAttempt(db: Database, counters: { remove?: readonly CounterKey[]; giveBack?: readonly Reservation[] }, now = Date.now()): Promise<void> {
  const remove = (counters.remove ?? []).map(rowKey);
  const refunds = (counters.giveBack ?? []).filter((taken) => taken.window !== null);
  const giveBack = refunds.map(rowKey);
  if (remove.length + giveBack.length === 0) return;
  const list = (keys: string[]) => keys.map(() => '?').join(', ');
  // Every row is locked first, in key order, as countAttempt locks them: a scan's own order (the
  // heap's, on a small table) could be the opposite of a concurrent attempt's, and deadlock.
  const touched = [...remove, ...giveBack];
  const locked = `locked as (select key from ${RATE_LIMITS_TABLE} where key in (${list(touched)}) order by key for update)`;
  const removal = remove.length ? `removed as (delete from ${RATE_LIMITS_TABLE} r using locked where r.key = locked.key and r.key in (${list(remove)}))` : '';
  const refund = giveBack.length
    ? `update ${RATE_LIMITS_TABLE} r set points = r.points - 1 from locked where r.key = locked.key
        and (r.key, r.expire) in (${refunds.map(() => '(?, ?::bigint)').join(', ')}) and r.expire > ?`
    : 'select count(*) from locked';
  const refundBindings = refunds.flatMap((taken) => [rowKey(taken), taken.window!]);
  // Bindings in the order their placeholders appear: locked, removed, then the refund's.
  await db.raw(`with ${[locked, removal].filter(Boolean).join(', ')} ${refund}`, [...touched, ...remove, ...refundBindings, ...(giveBack.length ? [now] : [])]);
}

/**
 * Deletes counters whose window has ended; for the janitor. Nothing reads an expired row as a
 * count (the library and countAttempt alike reset one on its next use), so this only keeps the
 * table small, in batches so a sweep
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
