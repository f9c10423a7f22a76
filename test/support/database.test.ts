// The databases test files get (test/support/database.ts and database-reuse.ts): a file must
// find what a fresh copy of the migrated template holds, whichever file used the database before
// it. A database is emptied and handed to the next file only when nothing but what its tables hold
// tells it from a fresh copy and nothing else is connected to it, and never when its URL went to
// anything beyond its handle (a process, a CLI, a second connection).
import { describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/knex.js';
import { ADMIN_URL, createTestDatabase, usingPostgres, type TestDatabase } from './database.js';
import { startTestServer } from './gatehouse.js';

const postgres = await usingPostgres();

async function nameOf(db: Database): Promise<string> {
  return (await db.raw<{ rows: Array<{ name: string }> }>('select current_database() as name')).rows[0]!.name;
}

/** Adds an outbox row; its place in the outbox's sequence. */
async function queue(db: Database): Promise<number> {
  const now = new Date();
  const [row] = await db('outbox').insert({ id: crypto.randomUUID(), kind: 'test', created_at: now, next_attempt_at: now }).returning('seq');
  return Number((row as { seq: string }).seq);
}

/** Uses a database as `use` says, hands it back, and tells whether the next file gets the same one. */
async function handedOn(use: (testDb: TestDatabase) => Promise<unknown>): Promise<{ same: boolean; next: TestDatabase }> {
  const first = await createTestDatabase();
  const name = await nameOf(first.db);
  await use(first);
  await first.destroy();
  const next = await createTestDatabase();
  return { same: (await nameOf(next.db)) === name, next };
}

describe.skipIf(!postgres)('test databases on PostgreSQL', () => {
  it('hands a database on emptied, its sequences from the start, as a fresh copy would be', async () => {
    const { same, next } = await handedOn(async ({ db }) => {
      await db('users').insert({ id: crypto.randomUUID(), email: 'left@example.test', name: 'Left', password_hash: 'x' });
      await queue(db);
      await queue(db);
    });
    try {
      expect(same).toBe(true);
      expect(await next.db('users').select('id')).toEqual([]);
      expect(await queue(next.db)).toBe(1);
    } finally {
      await next.destroy();
    }
  });

  it('hands on the database of a server that ran on it and stopped, its connections gone with it', async () => {
    const { same, next } = await handedOn(async (testDb) => {
      const server = await startTestServer({}, { testDb });
      await server.stop();
    });
    try {
      expect(same).toBe(true);
      expect(await next.db('signing_keys').select('kid')).toEqual([]);
    } finally {
      await next.destroy();
    }
  });

  it('drops a database something else is still connected to: it could go on writing into the next file\'s', async () => {
    let other: Database | undefined;
    try {
      const { same, next } = await handedOn(async ({ db }) => {
        // Its URL made here, not read from testDb.url, which alone would have it dropped.
        const url = new URL(ADMIN_URL);
        url.pathname = `/${await nameOf(db)}`;
        other = createDatabase({ url: url.href, embeddedDir: null, poolMax: 1 });
        await other.raw('select 1');
      });
      await next.destroy();
      expect(same).toBe(false);
    } finally {
      await other?.destroy();
    }
  });

  it('starts a sequence afresh even when the rows that moved it are gone', async () => {
    const { same, next } = await handedOn(async ({ db }) => {
      await queue(db);
      await db('outbox').delete();
    });
    try {
      expect(same).toBe(true);
      expect(await queue(next.db)).toBe(1);
    } finally {
      await next.destroy();
    }
  });

  it('drops a database a test added a trigger to, rather than hand it on', async () => {
    const { same, next } = await handedOn(async ({ db }) => {
      await db.raw('create function left_behind() returns trigger language plpgsql as $$ begin return new; end $$');
      await db.raw('create trigger left_behind before insert on users for each row execute function left_behind()');
    });
    try {
      expect(same).toBe(false);
      const triggers = await next.db.raw<{ rows: unknown[] }>("select from pg_trigger where tgname = 'left_behind'");
      expect(triggers.rows).toHaveLength(0);
    } finally {
      await next.destroy();
    }
  });

  it('drops a database with planner statistics, which would steer the next file\'s plans', async () => {
    const { same, next } = await handedOn(async ({ db }) => {
      await queue(db);
      await db.raw('analyze outbox');
    });
    await next.destroy();
    expect(same).toBe(false);
  });

  it('drops a database whose URL was read: whatever was given it may still connect', async () => {
    const { same, next } = await handedOn(async (testDb) => testDb.url);
    await next.destroy();
    expect(same).toBe(false);
  });
});
