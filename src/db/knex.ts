// One place that knows how to reach the database: PostgreSQL through `pg` when DATABASE_URL is set,
// otherwise the embedded PGlite under the data directory (development and newcomers' machines).
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
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
  poolMax?: number;
  /** Keep knex's own console warnings (e.g. a failed connection, with its stack) to the caller's error. */
  quiet?: boolean;
}

const require = createRequire(import.meta.url);
const SILENT_LOG = { warn() {}, error() {}, deprecate() {}, debug() {} };

export function embeddedDirFor(dataDir: string): string {
  return path.join(dataDir, 'pglite');
}

export function createDatabase(target: DatabaseTarget): Database {
  if (target.url) {
    return knexFactory({
      client: 'pg',
      connection: target.url,
      pool: { min: 0, max: target.poolMax ?? 10 },
      acquireConnectionTimeout: 10_000,
      ...(target.quiet ? { log: SILENT_LOG } : {}),
    });
  }
  if (target.embeddedDir) mkdirSync(target.embeddedDir, { recursive: true });
  // Loaded only here: PGlite takes a few hundred milliseconds to load, which a process on
  // PostgreSQL (every CLI run there) should not pay. knex-pglite is CommonJS, so require() is sync.
  const ClientPgLite = require('knex-pglite') as unknown;
  return knexFactory({
    client: ClientPgLite as typeof knexFactory.Client,
    ...(target.quiet ? { log: SILENT_LOG } : {}),
    dialect: 'postgres',
    connection: target.embeddedDir ? { filename: target.embeddedDir } : {},
  } as Knex.Config);
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

/** True when the database answers a trivial query; used by /readyz. */
export async function isReachable(db: Database): Promise<boolean> {
  try {
    await db.raw('select 1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Deletes the rows of `table` matching `where` (SQL with ? bindings) in batches of `batchSize`,
 * so a sweep never holds one long delete; returns how many went. For the janitor.
 */
export async function deleteInBatches(db: Database, table: string, where: string, bindings: unknown[], batchSize = 1000): Promise<number> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  let total = 0;
  for (;;) {
    const deleted = deletedRows(
      await db(table)
        .whereRaw(`ctid = any(array(select ctid from ${table} where ${where} limit ?))`, [...bindings, batchSize] as never)
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
