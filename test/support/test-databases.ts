// Vitest's global setup for the PostgreSQL databases test files work on (test/support/database.ts):
// it tells the workers this run's id, which every database they make is named with, and drops
// what runs leave behind: a worker keeps the databases its files are done with for the next file,
// so some are still there when the run ends; a run killed before its teardown leaves them all.
import type { TestProject } from 'vitest/node';
import { processAlive } from '../../src/db/embedded-lock.js';
import { adminDatabase, TEST_DATABASE_PREFIX, usingPostgres } from './database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's id: the pid of the vitest process that runs the workers. */
    testRun: number;
  }
}

/** Copies, and templates half-built, of the run `which` picks. The finished template is kept. */
async function dropRuns(which: (run: number) => boolean): Promise<void> {
  const admin = adminDatabase();
  try {
    const { rows } = await admin.raw<{ rows: Array<{ datname: string }> }>(
      "select datname from pg_database where starts_with(datname, ?)", [TEST_DATABASE_PREFIX],
    );
    for (const { datname } of rows) {
      const run = new RegExp(`^${TEST_DATABASE_PREFIX}(?:building_)?(\\d+)_`).exec(datname)?.[1];
      if (run !== undefined && which(Number(run))) await admin.raw(`drop database if exists "${datname}" with (force)`);
    }
  } finally {
    await admin.destroy();
  }
}

export default async function testDatabases(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  project.provide('testRun', process.pid);
  if (!(await usingPostgres())) return undefined;
  await dropRuns((run) => !processAlive(run));
  return () => dropRuns((run) => run === process.pid);
}
