// Vitest's global setup for the PostgreSQL databases test files work on (test/support/database.ts):
// it gives the run an id, which every database its workers make is named with, and drops what
// runs leave behind: a worker keeps the databases its files are done with for the next file, so
// some are still there when the run ends; a run killed before its teardown leaves them all.
//
// Whether a run is still going is asked of PostgreSQL, not of this machine's processes: for as
// long as the run lasts, this process holds an advisory lock named by the run's id. A run on
// another host or in another container, sharing the server, holds its own; a run that died has
// lost its lock with its connection.
import { randomInt } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { ADMIN_URL, TEST_DATABASE_PREFIX, usingPostgres } from './database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's id, in the name of every database it makes. */
    testRun: number;
  }
}

/** The advisory locks' first key, so that a run's id cannot meet another use of the server's locks. */
const RUNS_LOCK_SPACE = 0x67617465;
/** A test database's name: the run's id, whether a copy or a template half-built. */
const RUN_OF = new RegExp(`^${TEST_DATABASE_PREFIX}(?:building_)?r(\\d{1,10})_`);
const MAX_RUN = 2 ** 31 - 1;

function connect(): pg.Client {
  return new pg.Client({ connectionString: ADMIN_URL, keepAlive: true });
}

async function testDatabases(client: pg.Client): Promise<Array<{ name: string; run: number }>> {
  const { rows } = await client.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [TEST_DATABASE_PREFIX]);
  return rows.flatMap(({ datname }) => {
    const run = Number(RUN_OF.exec(datname)?.[1]);
    return run >= 1 && run <= MAX_RUN ? [{ name: datname, run }] : [];
  });
}

async function drop(client: pg.Client, name: string): Promise<void> {
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } catch (error) {
    // Say so and go on: a database this role may not drop is no reason to stop the run.
    console.warn(`could not drop the test database ${name}: ${(error as Error).message}`);
  }
}

/**
 * Drops the databases of runs whose lock nobody holds: runs that ended without their teardown.
 * Asked of pg_locks, which lists the locks taken in every database of the server (an advisory
 * lock belongs to the database its session is in, and two runs may name different ones).
 */
async function sweepAbandoned(client: pg.Client): Promise<void> {
  const found = await testDatabases(client);
  const { rows } = await client.query<{ run: number }>(
    "select objid::int as run from pg_locks where locktype = 'advisory' and classid = $1::int::oid and objsubid = 2",
    [RUNS_LOCK_SPACE],
  );
  const live = new Set(rows.map((row) => row.run));
  for (const { name, run } of found) {
    if (!live.has(run)) await drop(client, name);
  }
}

export default async function setUpTestDatabases(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!(await usingPostgres())) {
    project.provide('testRun', randomInt(1, MAX_RUN));
    return undefined;
  }
  // A connection of its own, not a pool's: the lock lasts as long as this one session.
  const holder = connect();
  holder.on('error', (error) => {
    console.warn(`the test run's lock on PostgreSQL was lost (${error.message}): another run may now drop this run's databases`);
  });
  let run = 0;
  try {
    await holder.connect();
    // A server set to end idle sessions would end this one, and the lock with it (PostgreSQL 14+).
    await holder.query('set idle_session_timeout = 0').catch(() => undefined);
    while (run === 0) {
      const candidate = randomInt(1, MAX_RUN);
      const { rows: [taken] } = await holder.query<{ taken: boolean }>('select pg_try_advisory_lock($1, $2) as taken', [RUNS_LOCK_SPACE, candidate]);
      if (taken!.taken) run = candidate;
    }
    await sweepAbandoned(holder);
  } catch (error) {
    await holder.end().catch(() => undefined);
    throw error;
  }
  project.provide('testRun', run);
  return async () => {
    // On a connection of its own: the holder's may be the one that was lost.
    const client = connect();
    try {
      await client.connect();
      for (const { name, run: of } of await testDatabases(client)) {
        if (of === run) await drop(client, name);
      }
    } finally {
      await client.end();
      await holder.end().catch(() => undefined);
    }
  };
}
