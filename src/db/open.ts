import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { lockEmbeddedDatabase } from './embedded-lock.js';
import { createDatabase, embeddedDirFor, type Database } from './knex.js';

export interface OpenDatabase {
  db: Database;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * The database the configuration names: PostgreSQL (with the configured timeouts), or the embedded
 * one (locked to this process). With a logger, the driver's own warnings become log lines; quiet
 * drops them (the CLI reports the error itself).
 */
export function openDatabase(config: Config, options: { quiet?: boolean; logger?: Logger } = {}): OpenDatabase {
  const log = options.logger ? databaseLog(options.logger) : undefined;
  const quiet = options.quiet ? { quiet: true } : {};
  if (config.databaseUrl) {
    const timeouts = { statementMs: config.database.statementTimeoutMs, acquireMs: config.database.acquireTimeoutMs };
    const db = createDatabase({ url: config.databaseUrl, embeddedDir: null, timeouts, ...quiet, ...(log ? { log } : {}) });
    return { db, embedded: false, close: () => db.destroy() };
  }
  const dir = embeddedDirFor(config.dataDir);
  const lock = lockEmbeddedDatabase(dir);
  const db = createDatabase({ url: undefined, embeddedDir: dir, ...quiet, ...(log ? { log } : {}) });
  return {
    db,
    embedded: true,
    async close() {
      try {
        await db.destroy();
      } finally {
        lock.release();
      }
    },
  };
}

function databaseLog(logger: Logger) {
  const log = logger.child({ component: 'database' });
  return (level: 'warn' | 'debug', message: string) => log[level]({ event: 'database.driver', message });
}
