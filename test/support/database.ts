// Every test file gets a database of its own: a fresh PostgreSQL database when a server answers
// (CI and every developer machine), otherwise an in-memory PGlite, so `npm test` still runs on a
// machine with no PostgreSQL at all.
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { createDatabase, type Database } from '../../src/db/knex.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { keepEmptied, knowFreshCopy, takeEmptied } from './database-reuse.js';

export interface TestDatabase {
  db: Database;
  /** postgres:// URL of the fresh database, or undefined on PGlite. */
  url: string | undefined;
  kind: 'postgres' | 'pglite';
  destroy(): Promise<void>;
}

export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<boolean> | undefined;

function postgresAnswers(): Promise<boolean> {
  if (process.env.TEST_DATABASE === 'pglite') return Promise.resolve(false);
  reachable ??= new Promise((resolve) => {
    const { hostname, port } = new URL(ADMIN_URL);
    const socket = net.connect({ host: hostname, port: Number(port || 5432) });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
  return reachable;
}

export async function usingPostgres(): Promise<boolean> {
  return postgresAnswers();
}

/** A connection to the server's maintenance database, for creating and dropping test databases. */
export function adminDatabase(): Database {
  return createDatabase({ url: ADMIN_URL, embeddedDir: null, poolMax: 1 });
}

/**
 * How test databases are named: this prefix, then `r` and the run's id, so a run's leftovers can
 * be told from a live run's (test/support/test-databases.ts).
 */
export const TEST_DATABASE_PREFIX = 'gatehouse_test_';

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.href;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MIGRATIONS_DIR = path.join(ROOT, 'migrations');

/** What the migrations are, in 16 hex digits: a migrated copy made from other ones is not used. */
function migrationsDigest(): string {
  const digest = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_DIR).sort()) digest.update(file).update(readFileSync(path.join(MIGRATIONS_DIR, file)));
  return digest.digest('hex').slice(0, 16);
}
let template: Promise<{ name: string; copy: string }> | undefined;

/**
 * A database holding every migration, copied by CREATE DATABASE … TEMPLATE for each test file:
 * a copy takes a fraction of running the migrations again, which about 200 databases a run did.
 * Its name carries a digest of the migrations, so an edited or added migration makes a new one;
 * it is built under a name of its own and renamed when complete, so a test worker that loses
 * the race to build it, or a run stopped halfway, never leaves a half-migrated template in use.
 */
function migratedTemplate(): Promise<{ name: string; copy: string }> {
  template ??= (async () => {
    const name = `${TEST_DATABASE_PREFIX}template_${migrationsDigest()}`;
    const admin = adminDatabase();
    try {
      // PostgreSQL 15's default copies through the WAL, twice as slow for a database this small.
      const version = Number((await admin.raw('show server_version_num')).rows[0].server_version_num);
      const built = { name, copy: version >= 150000 ? ' strategy file_copy' : '' };
      const exists = async () => (await admin('pg_database').where({ datname: name }).first()) !== undefined;
      if (await exists()) return built;
      const building = `${TEST_DATABASE_PREFIX}building_r${inject('testRun')}_${randomBytes(4).toString('hex')}`;
      await admin.raw(`create database "${building}"`);
      const db = createDatabase({ url: databaseUrl(building), embeddedDir: null });
      try {
        await migrateToLatest(db);
      } finally {
        await db.destroy();
      }
      try {
        await admin.raw(`alter database "${building}" rename to "${name}"`);
      } catch (error) {
        // Another test worker built it first: use theirs, drop ours.
        await admin.raw(`drop database "${building}"`);
        if (!(await exists())) throw error;
      }
      return built;
    } finally {
      await admin.destroy();
    }
  })();
  return template;
}

export async function createTestDatabase(options: { migrate?: boolean; engine?: 'pglite' } = {}): Promise<TestDatabase> {
  const migrate = options.migrate ?? true;
  if (options.engine !== 'pglite' && (await postgresAnswers())) {
    const name = (migrate ? takeEmptied() : undefined) ?? (await copyOf(migrate ? await migratedTemplate() : { name: 'template1', copy: '' }));
    const url = databaseUrl(name);
    if (migrate) await knowFreshCopy(url);
    const db = createDatabase({ url, embeddedDir: null });
    // A database whose URL the test never read was used through `db` alone: no process, CLI or
    // second connection of the test's can still reach it, so it can be emptied for the next file.
    let shared = false;
    let destroyed: Promise<void> | undefined;
    return {
      db,
      get url() {
        shared = true;
        return url;
      },
      kind: 'postgres',
      destroy() {
        destroyed ??= (async () => {
          await db.destroy();
          if (!migrate || shared || !(await keepEmptied(name, url))) await dropDatabase(name);
        })();
        return destroyed;
      },
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = migrate ? new PGlite({ loadDataDir: await migratedPGliteData() }) : new PGlite();
  const db = createDatabase({ url: undefined, embeddedDir: null, pglite });
  return { db, url: undefined, kind: 'pglite', destroy: () => db.destroy() };
}

async function copyOf(template: { name: string; copy: string }): Promise<string> {
  const name = `${TEST_DATABASE_PREFIX}r${inject('testRun')}_${randomBytes(4).toString('hex')}`;
  const admin = adminDatabase();
  try {
    await admin.raw(`create database "${name}" template "${template.name}"${template.copy}`);
  } finally {
    await admin.destroy();
  }
  return name;
}

async function dropDatabase(name: string): Promise<void> {
  const admin = adminDatabase();
  try {
    await admin.raw(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.destroy();
  }
}

let pgliteData: Promise<Blob> | undefined;
/** Beside the run's compiled sources (test/support/compiled-server.ts). */
const PGLITE_CACHE = path.join(ROOT, 'node_modules', '.cache', 'gatehouse-test');

/**
 * The data directory of a PGlite holding every migration, loaded into each new in-memory PGlite,
 * as the PostgreSQL template is copied: running the migrations on PGlite costs about 5 s of CPU,
 * loading the copy about 1. Made once and kept on disk for every worker and later runs, named by
 * the migrations and PGlite's version; written and synced under a name of its own and renamed when
 * complete, so a worker never loads a half-written one. Two workers that both find none both make
 * one, the same.
 */
function migratedPGliteData(): Promise<Blob> {
  pgliteData ??= (async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version: string };
    const file = path.join(PGLITE_CACHE, `pglite-${version}-${migrationsDigest()}.tar`);
    try {
      return new Blob([readFileSync(file)]);
    } catch {
      // Not made yet (or removed since by a run on other migrations): make it.
    }
    const { PGlite } = await import('@electric-sql/pglite');
    const pglite = new PGlite();
    const db = createDatabase({ url: undefined, embeddedDir: null, pglite });
    let data: Blob;
    try {
      await migrateToLatest(db);
      data = await pglite.dumpDataDir('none');
    } finally {
      await db.destroy();
    }
    mkdirSync(PGLITE_CACHE, { recursive: true });
    const writing = `${file}.${process.pid}`;
    const fd = openSync(writing, 'w');
    try {
      writeFileSync(fd, Buffer.from(await data.arrayBuffer()));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(writing, file);
    // Copies made from other migrations or another PGlite are no use, nor what a killed worker
    // was writing, told by its age: the writer may be in another container sharing the checkout.
    for (const other of readdirSync(PGLITE_CACHE)) {
      if (!other.startsWith('pglite-') || other === path.basename(file)) continue;
      const beingWritten = /\.tar\.\d+$/.test(other) && statSync(path.join(PGLITE_CACHE, other)).mtimeMs > Date.now() - 3_600_000;
      if (!beingWritten) rmSync(path.join(PGLITE_CACHE, other), { force: true });
    }
    return data;
  })().catch((error: unknown) => {
    pgliteData = undefined;
    throw error;
  });
  return pgliteData;
}

/** The SQL a database handle sends while `work` runs, to count round trips. */
export async function queriesDuring(db: Database, work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const record = (query: { sql: string }) => seen.push(query.sql);
  db.on('query', record);
  try {
    await work();
  } finally {
    db.off('query', record);
  }
  return seen;
}

/**
 * Whether `work` (already running) was seen waiting on a row lock before it ended: PostgreSQL only,
 * where another session of `db`'s database can be watched. A statement that must never wait on a
 * row a request holds (the janitor's sweeps) is checked with a transaction holding one.
 */
export async function waitedOnALock(db: Database, work: Promise<unknown>): Promise<boolean> {
  let done = false;
  // Its outcome is the caller's to await; this only watches for its end.
  void work.then(() => { done = true; }, () => { done = true; });
  while (!done) {
    if (await lockWaiters(db) > 0) return true;
    await delay(10);
  }
  return false;
}

/** How many sessions of `db`'s database are waiting on a lock (PostgreSQL only). */
export async function lockWaiters(db: Database): Promise<number> {
  const { rows } = await db.raw<{ rows: Array<{ n: number }> }>(
    "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
  );
  return rows[0]!.n;
}

/**
 * How many rows of `table` whose `column` is `value` another transaction holds locked (PostgreSQL
 * only): what a statement under test took before it began to wait.
 */
export async function rowsHeldElsewhere(db: Database, table: string, column: string, value: string): Promise<number> {
  return db.transaction(async (look) => {
    const [all] = await look(table).where(column, value).count<Array<{ count: string | number }>>('* as count');
    const free = await look.raw<{ rows: unknown[] }>(`select 1 from ${table} where ${column} = ? for update skip locked`, [value]);
    return Number(all!.count) - free.rows.length;
  });
}

/** How long a test watches for the statement under test to wait on a held row before it says so. */
const LOCK_WAIT_DEADLINE_MS = 10_000;

/**
 * Resolves once some session of `db`'s database waits on a lock: `work`, the statement under test,
 * reached one. Throws, saying which, when `work` ends without waiting or nothing waits within
 * ten seconds, so a regression in the order rows are taken reads as such rather than as the
 * test's timeout.
 */
export async function untilWaitingOnALock(db: Database, work: Promise<unknown>): Promise<void> {
  let ended = false;
  // Its outcome is the caller's to await; this only watches for its end.
  void work.then(() => { ended = true; }, () => { ended = true; });
  const giveUpAt = Date.now() + LOCK_WAIT_DEADLINE_MS;
  while (await lockWaiters(db) === 0) {
    if (ended) throw new Error('The work under test ended without waiting on a lock: it never reached the held row.');
    if (Date.now() > giveUpAt) throw new Error(`Nothing waited on a lock within ${LOCK_WAIT_DEADLINE_MS / 1000} s: the work under test is stuck elsewhere.`);
    await delay(10);
  }
}

/**
 * The next hole in validation, stood in for: a trigger that refuses each `event` on `table` whose
 * row (`new` on insert, `old` on delete) matches `when`, as PostgreSQL refuses 30 February: a data
 * exception (SQLSTATE 22008) whose message quotes `quoted`. Returns what removes it.
 */
export async function refuseAsDataException(db: Database, trigger: {
  name: string;
  table: string;
  event: 'insert' | 'delete';
  when: string;
  quoted: string;
}): Promise<() => Promise<void>> {
  const row = trigger.event === 'insert' ? 'new' : 'old';
  // One statement per call: the embedded database prepares every query, and a prepared statement
  // holds one command.
  await db.raw(`create function ${trigger.name}() returns trigger language plpgsql as $$
    begin
      if ${trigger.when} then
        raise exception 'date/time field value out of range: "%"', '${trigger.quoted}' using errcode = '22008';
      end if;
      return ${row};
    end $$`);
  await db.raw(`create trigger ${trigger.name} before ${trigger.event} on ${trigger.table} for each row execute function ${trigger.name}()`);
  return async () => {
    await db.raw(`drop trigger ${trigger.name} on ${trigger.table}`);
    await db.raw(`drop function ${trigger.name}()`);
  };
}

