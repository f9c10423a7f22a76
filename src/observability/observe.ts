// What a running Gatehouse does to be observable, started and stopped with it (src/server.ts): the
// runtime's metrics, traces when configured, its database, change listener and outbox watched for
// the scrape, and the metrics listener on METRICS_PORT.
import type http from 'node:http';
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import type { ChangeFeed } from '../db/notifications.js';
import type { Logger } from '../logger.js';
import { pendingSummary } from '../outbox/store.js';
import { observeDatabase } from './database.js';
import { changeListenerDisconnects, collectRuntimeMetrics, watch } from './metrics.js';
import { processMetrics, serveMetrics } from './scrape.js';
import { startTracing, type Tracing } from './tracing.js';

export interface Observation {
  /** Where the metrics listener answers (http://host:port), when METRICS_PORT is set and it was started. */
  metricsAddress: string | undefined;
  tracing: Tracing | undefined;
  stop(): Promise<void>;
}

export interface ObserveOptions {
  config: Config;
  db: Database;
  changes: ChangeFeed;
  logger: Logger;
  /**
   * Open the METRICS_PORT listener here (default). A cluster worker passes false: its primary
   * serves every worker's metrics at once (src/observability/scrape.ts, aggregateOfWorkers).
   */
  metricsListener?: boolean;
  now?: () => number;
}

export async function startObserving(options: ObserveOptions): Promise<Observation> {
  const { config, db, changes, logger } = options;
  const now = options.now ?? Date.now;
  collectRuntimeMetrics();
  const stops: Array<() => unknown> = [];
  try {
    const tracing = await startTracing(config.tracing, logger);
    if (tracing) stops.push(() => tracing.stop());
    stops.push(observeDatabase(db));
    stops.push(watch('changeFeeds', () => changes.connected));
    const countDisconnect = () => changeListenerDisconnects.inc();
    changes.on('disconnected', countDisconnect);
    stops.push(() => changes.off('disconnected', countDisconnect));
    const log = logger.child({ component: 'metrics' });
    stops.push(watch('outboxes', async () => {
      try {
        const { pending, oldestCreatedAt } = await pendingSummary(db);
        return { pending, oldestAgeSeconds: oldestCreatedAt ? Math.max(0, (now() - oldestCreatedAt.getTime()) / 1000) : 0 };
      } catch (error) {
        // The scrape goes on without the outbox's gauges; the database's trouble shows elsewhere too.
        log.warn({ event: 'metrics.outbox_unreadable', message: (error as Error).message });
        return undefined;
      }
    }));

    let listener: { server: http.Server; address: string } | undefined;
    if (config.metrics.port !== undefined && options.metricsListener !== false) {
      listener = await serveMetrics(processMetrics, { port: config.metrics.port, host: config.metrics.host, token: config.metrics.token }, log);
      const server = listener.server;
      stops.push(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
      log.info({ event: 'metrics.listening', address: listener.address });
    }
    return {
      metricsAddress: listener?.address,
      tracing,
      // In reverse: the listener closes first, traces are sent last (after the database's last spans).
      stop: async () => { for (const stop of stops.splice(0).reverse()) await stop(); },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop();
    throw error;
  }
}
