// A cluster as WORKERS>1 runs one, for test/observability/cluster.test.ts: two workers count into
// their own registries, and the primary serves the sum of both on a metrics listener of its own
// (src/observability/scrape.ts, aggregateOfWorkers). Prints the listener's address; SIGTERM ends all.
import cluster from 'node:cluster';
import { createLogger } from '../../src/logger.js';

if (cluster.isPrimary) {
  const { aggregateOfWorkers, serveMetrics } = await import('../../src/observability/scrape.js');
  const workers = [cluster.fork(), cluster.fork()];
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))));
  const { server, address } = await serveMetrics(aggregateOfWorkers(), { port: 0, host: '127.0.0.1' }, createLogger('silent'));
  process.stdout.write(`listening ${address}\n`);
  process.once('SIGTERM', () => {
    server.close();
    for (const worker of workers) worker.kill();
  });
} else {
  const metrics = await import('../../src/observability/metrics.js');
  metrics.collectRuntimeMetrics();
  metrics.signIns.inc({ outcome: 'succeeded', factor: 'password' }, cluster.worker!.id);
  metrics.watch('changeFeeds', () => true);
  // Both workers read the one shared outbox: the same rows, so the same depth.
  metrics.watch('outboxes', async () => ({ pending: 5, oldestAgeSeconds: 7 }));
  process.send!('ready');
}
