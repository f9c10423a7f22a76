// Migrations live in the top-level migrations/ folder as .ts in a checkout and .js once compiled.
// Their recorded names carry no extension, so a database migrated from source and later served by
// the compiled image agrees on what has run.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { Database } from './knex.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// src/db → ../../migrations; dist/src/db → ../../migrations (compiled beside dist/src).
const MIGRATIONS_DIR = path.resolve(here, '..', '..', 'migrations');

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

const migrationConfig = (): Knex.MigratorConfig => ({
  migrationSource: new FolderMigrationSource(MIGRATIONS_DIR),
  tableName: 'gatehouse_migrations',
});

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(db: Database): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(migrationConfig())) as [number, string[]];
  return applied;
}

export async function pendingMigrations(db: Database): Promise<string[]> {
  const [, pending] = (await db.migrate.list(migrationConfig())) as [unknown, Array<{ file: string }>];
  return pending.map((m) => m.file);
}
