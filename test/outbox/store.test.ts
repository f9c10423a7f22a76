// The outbox table's contract (src/outbox/store.ts, migration 008), on PostgreSQL and on the
// embedded PGlite alike: rows exist only if their transaction committed, a lease keeps a row from
// every other sender until it lapses, only the lease holder settles a row, settling erases the
// payload, and the janitor's sweep takes only rows settled before its cutoff.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up } from '../../migrations/008_outbox.js';
import { down as downQueues, up as upQueues } from '../../migrations/013_security_events.js';
import { claimDue, deleteSettledBefore, insertRow, markDelivered, markFailed, nextClaimableAt, OUTBOX_TABLE, release, scheduleRetry } from '../../src/outbox/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

describe.each(['postgres', 'pglite'] as const)('the outbox table on %s', (engine) => {
  let testDb: TestDatabase;

  beforeAll(async () => {
    testDb = await createTestDatabase(engine === 'pglite' ? { engine: 'pglite' } : {});
  });
  afterAll(async () => {
    await testDb?.destroy();
  });

  async function written(kind = 'mail'): Promise<string> {
    const id = randomUUID();
    await testDb.db.transaction((trx) => insertRow(trx, { id, kind, payload: `sealed ${id}`, now: at(0) }));
    return id;
  }

  async function row(id: string) {
    return testDb.db(OUTBOX_TABLE).where({ id }).first() as Promise<Record<string, unknown> | undefined>;
  }

  const claim = (sender: string, seconds: number, limit = 10, kinds = ['mail']) =>
    claimDue(testDb.db, { kinds, sender, now: at(seconds), leaseUntil: at(seconds + 60), limit });

  it('keeps no row whose transaction rolled back', async () => {
    const id = randomUUID();
    await expect(testDb.db.transaction(async (trx) => {
      await insertRow(trx, { id, kind: 'mail', payload: 'sealed', now: at(0) });
      throw new Error('the act failed');
    })).rejects.toThrow('the act failed');
    expect(await row(id)).toBeUndefined();
  });

  it('leases a due row to one sender until the lease lapses, counting each attempt', async () => {
    await testDb.db(OUTBOX_TABLE).delete();
    const id = await written();
    const first = await claim('a', 0);
    expect(first.map((r) => [r.id, r.attempts, r.payload])).toEqual([[id, 1, `sealed ${id}`]]);
    expect(await claim('b', 59)).toEqual([]);
    const taken = await claim('b', 60);
    expect(taken.map((r) => [r.id, r.attempts])).toEqual([[id, 2]]);
    // The first sender's lease is gone: it can no longer settle the row.
    expect(await markDelivered(testDb.db, id, 'a', at(61))).toBe(false);
    expect(await markDelivered(testDb.db, id, 'b', at(61))).toBe(true);
    expect(await row(id)).toMatchObject({ payload: null, leased_by: null, attempts: 2 });
    expect((await row(id))!.delivered_at).toEqual(at(61));
    expect(await claim('c', 10_000)).toEqual([]);
  });

  it('claims only the kinds asked for, and only rows whose next attempt is due', async () => {
    await testDb.db(OUTBOX_TABLE).delete();
    const other = await written('http');
    const id = await written();
    expect((await claim('a', 0, 10, ['mail'])).map((r) => r.id)).toEqual([id]);
    expect(await scheduleRetry(testDb.db, id, 'a', at(30), 'Error: refused')).toBe(true);
    expect(await claim('a', 29, 10, ['mail'])).toEqual([]);
    expect(await nextClaimableAt(testDb.db, ['mail'])).toEqual(at(30));
    expect((await claim('a', 30, 10, ['mail'])).map((r) => r.id)).toEqual([id]);
    // Leased until 90: not claimable before then, whatever its next attempt says.
    expect(await nextClaimableAt(testDb.db, ['mail'])).toEqual(at(90));
    expect((await claim('a', 30, 10, ['http'])).map((r) => r.id)).toEqual([other]);
  });

  it('gives two senders claiming together different rows', async () => {
    await testDb.db(OUTBOX_TABLE).delete();
    const ids = await Promise.all(Array.from({ length: 10 }, () => written()));
    const [a, b] = await Promise.all([claim('a', 0, 5), claim('b', 0, 5)]);
    const claimed = [...a, ...b].map((r) => r.id);
    expect(claimed.sort()).toEqual([...ids].sort());
  });

  it('hands back released rows as never attempted, and keeps the reason a row was given up', async () => {
    await testDb.db(OUTBOX_TABLE).delete();
    const [kept, dropped] = [await written(), await written()];
    await claim('a', 0);
    await release(testDb.db, [kept], 'a');
    expect(await row(kept)).toMatchObject({ leased_by: null, leased_until: null, attempts: 0 });
    expect(await markFailed(testDb.db, dropped, 'a', at(5), 'unreadable: JWEDecryptionFailed')).toBe(true);
    expect(await row(dropped)).toMatchObject({ payload: null, last_error: 'unreadable: JWEDecryptionFailed' });
    expect((await claim('b', 1)).map((r) => r.id)).toEqual([kept]);
  });

  it('sweeps settled rows once they settled before the cutoff, never pending ones', async () => {
    await testDb.db(OUTBOX_TABLE).delete();
    const [old, recent, failed, pending] = [await written(), await written(), await written(), await written()];
    await claim('a', 0);
    await markDelivered(testDb.db, old, 'a', at(10));
    await markDelivered(testDb.db, recent, 'a', at(100));
    await markFailed(testDb.db, failed, 'a', at(20), 'gave up');
    await release(testDb.db, [pending], 'a');
    expect(await deleteSettledBefore(testDb.db, at(50))).toBe(2);
    expect((await testDb.db(OUTBOX_TABLE).select('id')).map((r: { id: string }) => r.id).sort()).toEqual([recent, pending].sort());
  });

  it('migrates down and up again', async () => {
    // Migration 013 builds on the table (ordered queues): down through it, and up again after.
    await downQueues(testDb.db);
    await down(testDb.db);
    expect(await testDb.db.schema.hasTable(OUTBOX_TABLE)).toBe(false);
    await up(testDb.db);
    await upQueues(testDb.db);
    expect(await written()).toMatch(/^[0-9a-f-]{36}$/);
  });
});
