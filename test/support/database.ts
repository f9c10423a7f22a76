// Every test file gets a database of its own: a fresh PostgreSQL database when a server answers
// (CI and every developer machine), otherwise an in-memory PGlite, so `npm test` still runs on a
// machine with no PostgreSQL at all.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { createDatabase, type Database } from '../../src/db/knex.js';
import { migrateToLatest } from '../../src/db/migrate.js';

export interface TestDatabase {
  db: Database;
  /** postgres:// URL of the fresh database, or undefined on PGlite. */
  url: string | undefined;
  kind: 'postgres' | 'pglite';
  destroy(): Promise<void>;
}

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<boolean> | undefined;

function postgresAnswers(): Promise<boolean> {
  if (process.env.TEST_DATABASE === 'pglite') return Promise.resolve(false);
  reachable ??= new Promise((resolve) => {
    const { hostname, port } = new URL(ADMIN_URL);
    const socket = net.connect({ host: hostname, port: Number(port || 5432) });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
  return reachable;
}

export async function usingPostgres(): Promise<boolean> {
  return postgresAnswers();
}

export async function createTestDatabase(options: { migrate?: boolean; engine?: 'pglite' } = {}): Promise<TestDatabase> {
  const migrate = options.migrate ?? true;
  if (options.engine !== 'pglite' && (await postgresAnswers())) {
    const name = `gatehouse_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = createDatabase({ url: ADMIN_URL, embeddedDir: null, poolMax: 1 });
    await admin.raw(`create database "${name}"`);
    await admin.destroy();
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    const db = createDatabase({ url: url.href, embeddedDir: null });
    if (migrate) await migrateToLatest(db);
    return {
      db,
      url: url.href,
      kind: 'postgres',
      async destroy() {
        await db.destroy();
        const cleanup = createDatabase({ url: ADMIN_URL, embeddedDir: null, poolMax: 1 });
        await cleanup.raw(`drop database if exists "${name}" with (force)`);
        await cleanup.destroy();
      },
    };
  }
  const db = createDatabase({ url: undefined, embeddedDir: null });
  if (migrate) await migrateToLatest(db);
  return { db, url: undefined, kind: 'pglite', destroy: () => db.destroy() };
}

/** The SQL a database handle sends while `work` runs, to count round trips. */
export async function queriesDuring(db: Database, work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const record = (query: { sql: string }) => seen.push(query.sql);
  db.on('query', record);
  try {
    await work();
  } finally {
    db.off('query', record);
  }
  return seen;
}
