// `npm start`: load the configuration, start the server, stop cleanly on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config.js';
import { demoDataProblems, seedDemo } from './demo/seed.js';
import { isGatehouseError } from './errors.js';
import { createLogger } from './logger.js';
import { startGatehouse } from './server.js';

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
  const logger = createLogger(config.logLevel);
  let gatehouse;
  try {
    gatehouse = await startGatehouse(config, logger);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ event: 'start_failed', message });
    process.stderr.write(`Gatehouse cannot start: ${message}\n`);
    process.exit(isGatehouseError(error) ? 75 : 1);
  }

  if (config.env === 'production') {
    const problems = await demoDataProblems(gatehouse.stores);
    if (problems.length) {
      await gatehouse.close();
      process.stderr.write(`Gatehouse cannot start in production:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
      process.exit(78);
    }
  }
  logger.info({ event: 'started', issuer: config.issuer, listening: gatehouse.address, database: config.databaseUrl ? 'postgresql' : 'embedded', env: config.env });
  const demo = await seedDemo(config, gatehouse.stores);
  if (demo) {
    process.stdout.write([
      '',
      `Gatehouse is running at ${config.issuer} (development, embedded database under ${config.dataDir}).`,
      'A demo person, app and API were created. To try the sign-in flow in a browser:',
      '  npx gatehouse demo        # then open http://localhost:3001',
      `  sign in as ${demo.email} with the password ${demo.password}`,
      `(These details are kept in ${config.dataDir}/demo.json.)`,
      '',
    ].join('\n'));
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'stopping', signal });
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    gatehouse.close().then(
      () => { clearTimeout(force); logger.info({ event: 'stopped' }); process.exit(0); },
      (error: unknown) => { logger.error({ event: 'stop_failed', err: error }); process.exit(1); },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

await main();
