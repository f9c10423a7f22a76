// One place that knows how to reach the database: PostgreSQL through `pg` when DATABASE_URL is set,
// otherwise the embedded PGlite under the data directory (development and newcomers' machines).
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type Database = Knex;

// Postgres BIGINT/COUNT come back as strings by default; every count we read fits a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number.parseInt(value, 10));

export interface DatabaseTarget {
  /** postgres:// URL, or undefined for PGlite. */
  url: string | undefined;
  /** Folder for PGlite's files; `null` keeps PGlite in memory (tests without a PostgreSQL server). */
  embeddedDir: string | null;
  /** An in-memory PGlite already open, used instead of a new one (tests load a migrated copy into it). */
  pglite?: PGlite;
  poolMax?: number;
  /** Keep knex's own console warnings (e.g. a failed connection, with its stack) to the caller's error. */
  quiet?: boolean;
  /**
   * PostgreSQL only: how long a statement may run and a connection may take to get, so a hung or
   * unreachable server fails a request in about a second instead of holding it (and every request
   * behind it) for as long as the outage lasts. Without it, statements wait as long as they take.
   */
  timeouts?: DatabaseTimeouts;
  /** Where knex's and the driver's own warnings go, as one log line each (default: the console). */
  log?: (level: 'warn' | 'debug', message: string) => void;
}

const require = createRequire(import.meta.url);
const SILENT_LOG = { warn() {}, error() {}, deprecate() {}, debug() {} };

export interface DatabaseTimeouts {
  statementMs: number;
  acquireMs: number;
}

/**
 * The client-side wait for an answer, beyond the server's own statement_timeout: a live server
 * cancels a slow statement itself (cleanly, the connection stays usable); only a server that says
 * nothing at all (frozen, or the network gone) meets this one.
 */
const ANSWER_GRACE_MS = 500;

/** No request holds a transaction open while it waits on anything but the database itself. */
const IDLE_IN_TRANSACTION_MS = 10_000;

/**
 * Whether a pooled pg connection may serve the next request: only when it is waiting for a query
 * and outside any transaction. A statement the client stopped waiting for (query_timeout) stays on
 * its connection; so may a transaction whose ROLLBACK queued behind it. Handed on, the next
 * request's statements would wait behind the first, or run inside a transaction that never
 * commits. The pool discards such a connection and opens a fresh one.
 */
function reusable(connection: unknown): boolean {
  const client = connection as { readyForQuery?: unknown; getTransactionStatus?: () => unknown };
  return client.readyForQuery === true && (client.getTransactionStatus?.() ?? 'I') === 'I';
}

export function embeddedDirFor(dataDir: string): string {
  return path.join(dataDir, 'pglite');
}

export function createDatabase(target: DatabaseTarget): Database {
  const log = target.log ? knexLog(target.log) : undefined;
  if (target.url) {
    const { timeouts } = target;
    return knexFactory({
      client: 'pg',
      connection: timeouts
        ? {
          connectionString: target.url,
          statement_timeout: timeouts.statementMs,
          query_timeout: timeouts.statementMs + ANSWER_GRACE_MS,
          connectionTimeoutMillis: timeouts.acquireMs,
          // A connection to a server that vanished without a word is found dead by TCP keepalive
          // (probes after 10 s idle, not the system's default two hours).
          keepAlive: true,
          keepAliveInitialDelayMillis: 10_000,
          // The server's own backstop for a transaction whose client went quiet mid-way.
          idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
        }
        : target.url,
      pool: { min: 0, max: target.poolMax ?? 10, ...(timeouts ? { validate: reusable } : {}) },
      acquireConnectionTimeout: timeouts?.acquireMs ?? 10_000,
      ...(log ? { log } : target.quiet ? { log: SILENT_LOG } : {}),
    });
  }
  if (target.embeddedDir) mkdirSync(target.embeddedDir, { recursive: true });
  // Loaded only here: PGlite takes a few hundred milliseconds to load, which a process on
  // PostgreSQL (every CLI run there) should not pay. knex-pglite is CommonJS, so require() is sync.
  const ClientPgLite = require('knex-pglite') as unknown;
  return knexFactory({
    client: ClientPgLite as typeof knexFactory.Client,
    dialect: 'postgres',
    connection: target.embeddedDir ? { filename: target.embeddedDir } : target.pglite ? { pglite: target.pglite } : {},
    ...(log ? { log } : target.quiet ? { log: SILENT_LOG } : {}),
  } as Knex.Config);
}

/**
 * knex prints its warnings with their stack traces straight to the console, outside the JSON log.
 * Each becomes one line. A failed connection attempt is also thrown to whoever asked, and logged
 * there with its request: knex's own word on it is only worth a debug line.
 */
function knexLog(log: NonNullable<DatabaseTarget['log']>): Knex.Config['log'] {
  const firstLine = (message: unknown) => (typeof message === 'string' ? message : String(message)).split('\n')[0]!;
  return {
    warn: (message: unknown) => {
      const line = firstLine(message);
      log(line.startsWith('Acquire connection error') ? 'debug' : 'warn', line);
    },
    error: (message: unknown) => log('warn', firstLine(message)),
    deprecate: (message: unknown) => log('debug', firstLine(message)),
    debug: (message: unknown) => log('debug', firstLine(message)),
  };
}

/**
 * The same PostgreSQL database without statement timeouts, for work that may rightly take long
 * (migrations building an index over a large table). The caller destroys it. On PGlite, which has
 * no timeouts, the database itself.
 */
export function withoutTimeouts(db: Database): { db: Database; release(): Promise<void> } {
  const connection = (db.client as { config?: { connection?: { connectionString?: unknown; statement_timeout?: unknown } | string } }).config?.connection;
  if (isEmbedded(db) || typeof connection !== 'object' || typeof connection.connectionString !== 'string' || connection.statement_timeout === undefined) {
    return { db, release: async () => {} };
  }
  // Quiet: whatever fails here is thrown to the migration's caller, which reports it once.
  const patient = createDatabase({ url: connection.connectionString, embeddedDir: null, poolMax: 1, quiet: true });
  return { db: patient, release: () => patient.destroy() };
}

/**
 * True when `db` is the embedded PGlite rather than a PostgreSQL server through pg. Asked by
 * what talks to pg's connections directly (prepared statements, the change listener, the sign-in
 * throttle's store), which PGlite does not have. knex-pglite calls itself a pg driver too; only
 * knex's own 'pg' client is configured by that name.
 */
export function isEmbedded(db: Database): boolean {
  return (db.client as { config?: { client?: unknown } }).config?.client !== 'pg';
}

/**
 * True when the database answers a trivial query within `withinMs`; used by /readyz, which a load
 * balancer polls with its own short timeout and must get an answer from whatever the database does.
 */
export async function isReachable(db: Database, withinMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), withinMs); });
  // A query that fails after we stopped waiting is still answered: nobody is left to hear it.
  const answered = db.raw('select 1').then(() => true, () => false);
  try {
    return await Promise.race([answered, gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Deletes the rows of `table` matching `where` (SQL with ? bindings) in batches of `batchSize`,
 * so a sweep never holds one long delete; returns how many went. For the janitor.
 *
 * Rows another transaction has locked are skipped, left for the next sweep: a batch locks its rows
 * in its own order, and waiting on a row that a request holds while the request waits on one of
 * the batch's is a deadlock, which PostgreSQL ends by failing one side (a sign-in counting on
 * an expired throttle counter, a grant revoked with its expired tokens: told to try again).
 */
export async function deleteInBatches(db: Database, table: string, where: string, bindings: unknown[], batchSize = 1000): Promise<number> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  let total = 0;
  for (;;) {
    const deleted = deletedRows(
      await db(table)
        .whereRaw(`ctid = any(array(select ctid from ${table} where ${where} limit ? for update skip locked))`, [...bindings, batchSize] as never)
        .delete(),
    );
    total += deleted;
    if (deleted < batchSize) return total;
  }
}

/** Rows a delete removed: pg resolves to the count, knex-pglite to the raw result. */
export function deletedRows(result: unknown): number {
  if (typeof result === 'number') return result;
  if (result && typeof result === 'object' && 'rowCount' in result && typeof result.rowCount === 'number') {
    return result.rowCount;
  }
  return 0;
}
