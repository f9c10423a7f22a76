// Database faults for tests, made by PostgreSQL itself: no statement is mocked or rewritten.
import type { Database } from '../../src/db/knex.js';

const FAULT_LOCK = 74_210_001;

/**
 * Until the returned function is called, every `operation` of an oidc_records row of `model` waits
 * on a lock the test holds, and fails when its lock_timeout runs out (55P03, as on a contended or
 * failing-over database): the statement is rolled back whole. PostgreSQL only (a trigger, and a
 * second connection holding the lock).
 */
export async function faultOn(db: Database, model: string, operation: 'insert' | 'update'): Promise<() => Promise<void>> {
  await db.raw(`create or replace function gatehouse_test_fault() returns trigger language plpgsql as $$
begin
  perform set_config('lock_timeout', '200ms', true);
  perform pg_advisory_xact_lock(${FAULT_LOCK});
  return new;
end $$`);
  await db.raw(`create trigger gatehouse_test_fault before ${operation} on oidc_records for each row when (new.model = '${model}') execute function gatehouse_test_fault()`);
  const holder = await db.transaction();
  await holder.raw('select pg_advisory_xact_lock(?)', [FAULT_LOCK]);
  return async () => {
    await holder.commit();
    await db.raw('drop trigger gatehouse_test_fault on oidc_records');
  };
}

/**
 * Until the returned function is called, every read of `table` waits on a lock the test holds, and
 * fails when its lock_timeout runs out (55P03), as faultOn's writes do. A read has no trigger, so
 * the table is moved aside and a view of it, whose rows wait on the lock, takes its name; the
 * returned function puts it back. PostgreSQL only.
 */
export async function faultOnRead(db: Database, table: string): Promise<() => Promise<void>> {
  const aside = `${table}_behind_fault`;
  await db.raw(`create or replace function gatehouse_test_read_fault() returns boolean language plpgsql volatile as $$
begin
  perform set_config('lock_timeout', '200ms', true);
  perform pg_advisory_xact_lock(${FAULT_LOCK});
  return true;
end $$`);
  await db.transaction(async (trx) => {
    await trx.raw(`alter table ${table} rename to ${aside}`);
    await trx.raw(`create view ${table} as select * from ${aside} where gatehouse_test_read_fault()`);
  });
  const holder = await db.transaction();
  await holder.raw('select pg_advisory_xact_lock(?)', [FAULT_LOCK]);
  return async () => {
    await holder.commit();
    await db.transaction(async (trx) => {
      await trx.raw(`drop view ${table}`);
      await trx.raw(`alter table ${aside} rename to ${table}`);
    });
  };
}
