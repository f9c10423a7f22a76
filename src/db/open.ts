import type { Config } from '../config.js';
import { lockEmbeddedDatabase } from './embedded-lock.js';
import { createDatabase, embeddedDirFor, type Database } from './knex.js';

export interface OpenDatabase {
  db: Database;
  embedded: boolean;
  close(): Promise<void>;
}

/** The database the configuration names: PostgreSQL, or the embedded one (locked to this process). */
export function openDatabase(config: Config, options: { quiet?: boolean } = {}): OpenDatabase {
  if (config.databaseUrl) {
    const db = createDatabase({ url: config.databaseUrl, embeddedDir: null, ...options });
    return { db, embedded: false, close: () => db.destroy() };
  }
  const dir = embeddedDirFor(config.dataDir);
  const lock = lockEmbeddedDatabase(dir);
  const db = createDatabase({ url: undefined, embeddedDir: dir, ...options });
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
