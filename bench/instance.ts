// One Gatehouse process under load: started by run.ts with fork(), configured through loadConfig
// like production, and counting every query it sends so run.ts can report database round trips
// per request. It talks to run.ts over IPC: 'ready' once listening, 'count' and 'memory' on request.
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startGatehouse } from '../src/server.js';
import { tapQueries } from './query-tap.js';

// Every round trip, counted where it leaves the process (query-tap.ts).
let queries = 0;
// BENCH_QUERY_LOG=1: also tally queries by their SQL with the time each took from being handed to
// pg to its answer (the connection is already acquired by then: pool waits are not in it),
// printed at stop.
const bySql = process.env.BENCH_QUERY_LOG ? new Map<string, { count: number; ms: number }>() : undefined;
tapQueries(({ text }) => {
  queries += 1;
  if (!bySql) return;
  const sql = text.replace(/\s+/g, ' ').slice(0, 160);
  const started = performance.now();
  return () => {
    const entry = bySql.get(sql) ?? { count: 0, ms: 0 };
    entry.count += 1;
    entry.ms += performance.now() - started;
    bySql.set(sql, entry);
  };
});

const config = loadConfig(JSON.parse(process.env.BENCH_GATEHOUSE_ENV ?? '{}') as NodeJS.ProcessEnv);
const gatehouse = await startGatehouse(config, createLogger('silent'));

/** Heap figures, after a full collection when the process was started with --expose-gc. */
function memory() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  return { ...process.memoryUsage(), collected: Boolean(gc) };
}

process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'count') process.send!({ cmd: 'count', queries });
  if (message.cmd === 'memory') process.send!({ cmd: 'memory', memory: memory() });
  if (message.cmd === 'stop') {
    if (bySql) {
      process.stderr.write('[queries] count\tmean ms\tSQL\n');
      for (const [sql, { count, ms }] of [...bySql].sort((a, b) => b[1].count - a[1].count).slice(0, 25)) {
        process.stderr.write(`[queries] ${count}\t${(ms / count).toFixed(2)}\t${sql}\n`);
      }
    }
    void gatehouse.close().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => { void gatehouse.close().finally(() => process.exit(0)); });
process.send!({ cmd: 'ready', address: gatehouse.address });
