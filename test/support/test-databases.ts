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
const RUN_OF = new RegExp(`^${TEST_DATABASE_PREFIX}(?:building_)?r(\\d+)_`);

async function testDatabases(client: pg.Client): Promise<Array<{ name: string; run: number }>> {
  const { rows } = await client.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [TEST_DATABASE_PREFIX]);
  return rows.flatMap(({ datname }) => {
    const run = RUN_OF.exec(datname)?.[1];
    return run === undefined ? [] : [{ name: datname, run: Number(run) }];
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

/** Drops the databases of runs that hold no lock: runs that ended without their teardown. */
async function sweepAbandoned(client: pg.Client, ours: number): Promise<void> {
  const abandoned = new Set<number>();
  for (const { run } of await testDatabases(client)) {
    if (run === ours || abandoned.has(run)) continue;
    const { rows: [taken] } = await client.query<{ taken: boolean }>('select pg_try_advisory_lock($1, $2) as taken', [RUNS_LOCK_SPACE, run]);
    if (!taken!.taken) continue;
    abandoned.add(run);
    await client.query('select pg_advisory_unlock($1, $2)', [RUNS_LOCK_SPACE, run]);
  }
  for (const { name, run } of await testDatabases(client)) {
    if (abandoned.has(run)) await drop(client, name);
  }
}

export default async function setUpTestDatabases(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const run = randomInt(1, 2 ** 31 - 1);
  project.provide('testRun', run);
  if (!(await usingPostgres())) return undefined;
  // A connection of its own, not a pool's: the lock lasts as long as this one session.
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  await client.query('select pg_advisory_lock($1, $2)', [RUNS_LOCK_SPACE, run]);
  await sweepAbandoned(client, run);
  return async () => {
    try {
      for (const { name, run: of } of await testDatabases(client)) {
        if (of === run) await drop(client, name);
      }
    } finally {
      await client.end();
    }
  };
}
