import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Each file starts its own server and database; argon2 and key generation take real time.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: on the 2-core machines the suite runs on,
    // one file at a time. A file spends much of its time waiting on PostgreSQL, the processes it
    // starts and Chromium, so two at once take about a quarter less time for the same CPU; a third
    // gained nothing there. (isolate: false saved no CPU either: each file's imports are not the cost.)
    maxWorkers: Math.max(2, availableParallelism() - 1),
    env: { NODE_ENV: 'test' },
  },
});
