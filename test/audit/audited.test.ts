// Acts and their audit entries in one transaction (src/audit/audited.ts), on a real database:
// two acts that deadlock with each other both happen, each once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditedActs } from '../../src/audit/audited.js';
import type { Actor } from '../../src/audit/events.js';
import { AuditLog } from '../../src/audit/log.js';
import { transactionConflicts } from '../../src/observability/metrics.js';
import { RATE_LIMITS_TABLE } from '../../src/security/rate-limit-store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';

const postgres = await usingPostgres();
const ADMIN: Actor = { type: 'client', id: 'automation' };
let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb?.destroy();
});

// Two acts each take one row and then want the other's: a real deadlock, which PostgreSQL breaks
// by failing one of them (after its deadlock_timeout). The one it failed was rolled back whole;
// it runs again once the other has committed, instead of its caller getting a 503.
describe.skipIf(!postgres)('acts that deadlock with each other, on PostgreSQL', () => {
  it('both happen, each written and audited once: the one PostgreSQL failed runs again', async () => {
    const { db } = testDb;
    const audit = new AuditLog(db);
    const audited = auditedActs({ db, audit });
    const [first, second] = ['deadlock:first', 'deadlock:second'];
    await db(RATE_LIMITS_TABLE).insert([first, second].map((key) => ({ key, points: 0, expire: null })));
    const retried = async () => (await transactionConflicts.get()).values.find((value) => value.labels.outcome === 'retried')?.value ?? 0;
    const retriedBefore = await retried();
    let holding = 0;
    let bothHold!: () => void;
    const bothHolding = new Promise<void>((resolve) => { bothHold = resolve; });
    const runs = { A: 0, B: 0 };
    const act = (name: 'A' | 'B', mine: string, theirs: string) => audited(ADMIN, async (trx) => {
      runs[name] += 1;
      await trx(RATE_LIMITS_TABLE).where({ key: mine }).increment('points', 1);
      holding += 1;
      if (holding === 2) bothHold();
      await bothHolding;
      await trx(RATE_LIMITS_TABLE).where({ key: theirs }).increment('points', 1);
      return { result: name, event: { type: 'user.disabled', userId: `person-${name}`, details: { act: name } } };
    });

    expect(await Promise.all([act('A', first, second), act('B', second, first)])).toEqual(['A', 'B']);
    expect(runs.A + runs.B).toBe(3);
    expect(await retried()).toBe(retriedBefore + 1);
    const points = await db(RATE_LIMITS_TABLE).whereIn('key', [first, second]).orderBy('key').pluck('points');
    expect(points.map(Number)).toEqual([2, 2]);
    const entries = (await audit.list({ type: 'user.disabled' })).items.map((entry) => entry.details.act).sort();
    expect(entries).toEqual(['A', 'B']);
  });
});
