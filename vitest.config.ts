import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // src/ compiled once, for the tests that start Gatehouse as a process (test/support/process.ts);
    // the run's id for the databases test files work on, and their cleanup (test/support/database.ts).
    globalSetup: ['test/support/compiled-server.ts', 'test/support/test-databases.ts'],
    // Each file starts its own server and database; argon2 and key generation take real time.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: on the 2-core machines the suite runs on,
    // one file at a time. A file spends much of its time waiting on PostgreSQL, the processes it
    // starts and Chromium, so two at once take about a quarter less time for the same CPU; a third
    // gained nothing there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Each worker runs file after file in one process instead of a new process per file. Starting
    // node and loading oidc-provider, knex, pg, Koa and Gatehouse's own modules cost about a second of
    // CPU per file, more than most files' tests; skipping it halves the suite's CPU. Files stay
    // independent: each starts its own server on a database of its own and stops it, no test stubs
    // modules, globals or the environment, and the helpers' module state is a counter for unique
    // emails and the one attack target a file has started.
    isolate: false,
    env: { NODE_ENV: 'test' },
  },
});
