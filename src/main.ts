// `npm start`: load the configuration, start the server, stop cleanly on SIGTERM/SIGINT. With
// WORKERS above 1 this same file runs twice over: once as the cluster's primary, which supervises
// (src/cluster/primary.ts), and in each worker it forks, where it starts the server as below.
import cluster from 'node:cluster';
import { runPrimary } from './cluster/primary.js';
import { isFirstProcess, releasePrimary, reportReady, sharedStdout, workerLogger } from './cluster/worker.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { demoDataProblems, seedDemo } from './demo/seed.js';
import { isGatehouseError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { aggregateOfWorkers, serveMetrics } from './observability/scrape.js';
import { startGatehouse, type Gatehouse } from './server.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Gatehouse cannot start.\n${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  if (config.workers > 1 && cluster.isPrimary) {
    await primary(config);
    return;
  }
  const logger = workerLogger(createLogger(config.logLevel, cluster.isWorker ? sharedStdout() : undefined));
  let gatehouse;
  try {
    // A worker's metrics are served summed by the primary (primaryMetrics), never by the worker.
    gatehouse = await startGatehouse(config, logger, { metricsListener: !cluster.isWorker });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ event: 'start_failed', message });
    process.stderr.write(`Gatehouse cannot start: ${message}\n`);
    process.exit(isGatehouseError(error) ? 75 : 1);
  }

  // Signals are handled from the moment the server listens: a stop during the checks or the demo
  // seed below still closes the server and the database cleanly.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const { drainDelaySeconds, timeoutSeconds } = config.shutdown;
    logger.info({ event: 'stopping', signal, drainDelaySeconds, timeoutSeconds });
    // The last resort: requests still unfinished after SHUTDOWN_TIMEOUT are cut, and exit 1 says so.
    const force = setTimeout(() => {
      logger.error({ event: 'stop_timed_out', timeoutSeconds });
      logger.flush(() => process.exit(1));
    }, timeoutSeconds * 1000).unref();
    // Exit by letting the event loop empty, so the log's last lines are written out (pino writes
    // asynchronously; a process.exit right after could drop them). Should a handle linger, the
    // unref'd timer ends it anyway.
    const exit = (code: number) => {
      process.exitCode = code;
      logger.flush(() => setTimeout(() => process.exit(code), 2_000).unref());
      releasePrimary();
    };
    gatehouse.close({ drainDelayMs: drainDelaySeconds * 1000 }).then(
      () => { clearTimeout(force); logger.info({ event: 'stopped' }); exit(0); },
      (error: unknown) => { logger.error({ event: 'stop_failed', err: error }); exit(1); },
    );
  };
  // `on`, not `once`: a supervisor (npm, a container runtime) may pass the same signal on twice,
  // and the second must not kill the process halfway through closing.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  if (config.env === 'production') {
    const problems = await demoDataProblems(gatehouse.stores);
    if (problems.length) {
      await gatehouse.close();
      process.stderr.write(`Gatehouse cannot start in production:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
      process.exit(78);
    }
  }
  logger.info({ event: 'started', issuer: config.issuer, listening: gatehouse.address, metrics: gatehouse.metricsAddress, database: config.databaseUrl ? 'postgresql' : 'embedded', env: config.env });
  reportReady();
  // Once per server, not once per worker (they would race to seed it, and greet N times).
  if (isFirstProcess()) await announceDemo(config, gatehouse, logger);
}

/** WORKERS above 1: this process forks and supervises the workers, and exits once they all have. */
async function primary(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel, sharedStdout()).child({ role: 'primary', pid: process.pid });
  let code;
  try {
    code = await runPrimary(config, logger, { services: [primaryMetrics] });
  } catch (error) {
    // Only the migration before any worker starts can fail here; the same codes as a single process.
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ event: 'start_failed', message });
    process.stderr.write(`Gatehouse cannot start: ${message}\n`);
    process.exit(isGatehouseError(error) ? 75 : 1);
  }
  // As a single process does: let the event loop empty so the last log lines are written.
  process.exitCode = code;
  logger.flush(() => setTimeout(() => process.exit(code), 2_000).unref());
}

/**
 * METRICS_PORT with WORKERS above 1: the primary serves the sum of every worker's metrics (each
 * worker answers prom-client's aggregator over the cluster channel). A worker's own listener would
 * show whichever worker a scrape reached.
 */
async function primaryMetrics({ config, logger }: { config: Config; logger: Logger }): Promise<{ close(): Promise<void> }> {
  if (config.metrics.port === undefined) return { close: async () => {} };
  const { server, address } = await serveMetrics(aggregateOfWorkers(), { port: config.metrics.port, host: config.metrics.host, token: config.metrics.token }, logger);
  logger.info({ event: 'metrics.listening', metrics: address });
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Development: seed the demo on the first start and say how to try it. Never fatal. */
async function announceDemo(config: Config, gatehouse: Gatehouse, logger: Logger): Promise<void> {
  let demo;
  try {
    demo = await seedDemo(config, gatehouse.stores);
  } catch (error) {
    logger.warn({ event: 'demo.seed_failed', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  if (!demo) return;
  const where = config.databaseUrl ? 'PostgreSQL' : `embedded database under ${config.dataDir}`;
  // The demo command reads ISSUER/PORT like the server; say where this server is if it is elsewhere.
  const command = config.issuer === 'http://localhost:3000' ? 'npx gatehouse demo' : `npx gatehouse demo --issuer ${config.issuer}`;
  process.stdout.write([
    '',
    `Gatehouse is running at ${config.issuer} (development, ${where}).`,
    'A demo person, app and API were created. To try the sign-in flow in a browser:',
    `  ${command}        # ${config.databaseUrl ? 'with the same DATABASE_URL; ' : ''}then open http://localhost:3001 (--port N for another port)`,
    `  sign in as ${demo.email} with the password ${demo.password}`,
    `Their account page (connected apps, sessions, password): ${config.issuer}/account`,
    `The admin console is at ${config.issuer}/admin, for people made with \`npx gatehouse user create … --admin\`.`,
    `(These details are kept in ${config.dataDir}/demo.json, by database.)`,
    '',
  ].join('\n'));
}

await main();
