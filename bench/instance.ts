// One Gatehouse process under load: started by run.ts with fork(), configured through loadConfig
// like production, and counting every query it sends so run.ts can report database round trips
// per request. It talks to run.ts over IPC: 'ready' once listening, 'count' and 'memory' on request.
//
// With WORKERS above 1 in its settings (--workers N), it is Gatehouse's own cluster instead: this
// process runs the real primary (src/cluster/primary.ts), which forks this file again as each
// worker, and a primary-side service relays run.ts's questions to the workers and sums the answers.
import cluster, { type Worker } from 'node:cluster';
import { runPrimary, type PrimaryServiceStarter } from '../src/cluster/primary.js';
import { reportReady } from '../src/cluster/worker.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startGatehouse } from '../src/server.js';
import { tapQueries } from './query-tap.js';
import { tapRequestCpu } from './request-cpu.js';

const config = loadConfig(JSON.parse(process.env.BENCH_GATEHOUSE_ENV ?? '{}') as NodeJS.ProcessEnv);
if (config.workers > 1 && cluster.isPrimary) {
  process.exit(await runPrimary(config, createLogger('silent'), { services: [relayToRunner] }));
}

/** A worker's answer to one question from the primary. */
function ask<T>(worker: Worker, cmd: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (message: { cmd?: string }) => {
      if (message.cmd !== cmd) return;
      worker.off('message', onMessage);
      resolve(message as T);
    };
    worker.on('message', onMessage);
    worker.send({ cmd });
  });
}

/** The primary's side of run.ts's IPC: the same messages as one process, answered for all workers. */
async function relayToRunner({ workers }: Parameters<PrimaryServiceStarter>[0]) {
  process.on('message', (message: { cmd: string }) => {
    if (message.cmd === 'count') {
      void Promise.all(workers().map((worker) => ask<{ queries: number }>(worker, 'count'))).then((answers) => {
        process.send!({ cmd: 'count', queries: answers.reduce((sum, answer) => sum + answer.queries, 0) });
      });
    }
    // The primary's own SIGTERM handling drains every worker and exits.
    if (message.cmd === 'stop') process.kill(process.pid, 'SIGTERM');
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // Every process serving, so run.ts measures the CPU of all of them (the primary accepts connections).
  const pids = [process.pid, ...workers().map((worker) => worker.process.pid!)];
  process.send!({ cmd: 'ready', address: `http://127.0.0.1:${config.port}`, pids });
  return { close: async () => undefined };
}

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

// BENCH_REQUEST_CPU=1 (flow-cpu.ts): the main thread's CPU by kind of request.
const requestCpu = process.env.BENCH_REQUEST_CPU ? tapRequestCpu() : undefined;

const gatehouse = await startGatehouse(config, createLogger('silent'));

function stop() {
  if (bySql) {
    process.stderr.write(`[queries]${cluster.isWorker ? ` worker ${cluster.worker!.id}:` : ''} count\tmean ms\tSQL\n`);
    for (const [sql, { count, ms }] of [...bySql].sort((a, b) => b[1].count - a[1].count).slice(0, 25)) {
      process.stderr.write(`[queries] ${count}\t${(ms / count).toFixed(2)}\t${sql}\n`);
    }
  }
  void gatehouse.close().finally(() => process.exit(0));
}

/** Heap figures, after a full collection when the process was started with --expose-gc. */
function memory() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  return { ...process.memoryUsage(), collected: Boolean(gc) };
}

process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'count') process.send!({ cmd: 'count', queries });
  if (message.cmd === 'memory') process.send!({ cmd: 'memory', memory: memory() });
  if (message.cmd === 'request-cpu' && requestCpu) process.send!({ cmd: 'request-cpu', ...requestCpu.take() });
  if (message.cmd === 'stop') stop();
});
process.on('disconnect', () => { void gatehouse.close().finally(() => process.exit(0)); });
if (cluster.isWorker) {
  // The primary stops its workers with SIGTERM.
  process.on('SIGTERM', stop);
  reportReady();
} else {
  process.send!({ cmd: 'ready', address: gatehouse.address, pids: [process.pid] });
}
