// Migrations live in the top-level migrations/ folder as .ts in a checkout and .js once compiled.
// Their recorded names carry no extension, so a database migrated from source and later served by
// the compiled image agrees on what has run.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { MIGRATIONS_DIR } from '../paths.js';
import { withoutTimeouts, type Database } from './knex.js';


interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const MIGRATION_FILE = /^(\d{3,}_[\w-]+)\.(ts|js)$/;

class FolderMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<string[]> {
    const names = new Map<string, string>();
    for (const file of readdirSync(this.dir)) {
      const match = MIGRATION_FILE.exec(file);
      if (match && !file.endsWith('.d.ts')) names.set(match[1]!, file);
    }
    return [...names.values()].sort();
  }

  getMigrationName(file: string): string {
    return file.replace(/\.(ts|js)$/, '');
  }

  async getMigration(file: string): Promise<Knex.Migration> {
    return (await import(pathToFileURL(path.join(this.dir, file)).href)) as MigrationModule;
  }
}

/** knex's record of the migrations applied (and, with `_lock` appended, its lock). */
export const MIGRATIONS_TABLE = 'gatehouse_migrations';

const migrationConfig = (): Knex.MigratorConfig => ({
  migrationSource: new FolderMigrationSource(MIGRATIONS_DIR),
  tableName: MIGRATIONS_TABLE,
});

/**
 * Applies every pending migration; returns the names applied. Instances starting together on a
 * pending migration race for knex's migration lock, and knex fails at once rather than waiting:
 * the losers wait for the winner and then find nothing left to do. A migration may rightly run
 * longer than the statement timeout that protects requests, so it runs without one.
 */
export async function migrateToLatest(db: Database, attempts = 60): Promise<string[]> {
  const patient = withoutTimeouts(db);
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const [, applied] = (await patient.db.migrate.latest(migrationConfig())) as [number, string[]];
        return applied;
      } catch (error) {
        if ((error as Error).name !== 'MigrationLocked' || attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } finally {
    await patient.release();
  }
}
