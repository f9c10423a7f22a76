// The second factors' store on a real database. A recovery code spent at sign-in and an act on the
// same person's codes (a new set, an admin's reset, the last authenticator app removed) take the
// same rows: the factor, then its codes. Each takes them in that order, or a code spent just as
// an admin resets the person could deadlock with the reset, and PostgreSQL would fail one of them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FactorStore } from '../../src/factors/store.js';
import { createTestDatabase, rowsHeldElsewhere, untilWaitingOnALock, usingPostgres, type TestDatabase } from '../support/database.js';

const postgres = await usingPostgres();
let testDb: TestDatabase;
let store: FactorStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  store = new FactorStore(testDb.db, randomBytes(32));
});
afterAll(async () => {
  await testDb?.destroy();
});

async function personWithCodes(): Promise<{ userId: string; codes: string[]; factorId: string }> {
  const { db } = testDb;
  const [row] = await db('users').insert({ email: `codes.${randomBytes(4).toString('hex')}@example.test`, name: 'Codes', invited_at: new Date(), activated_at: null }).returning('id');
  const userId = (row as { id: string }).id;
  const codes = await db.transaction((trx) => store.replaceRecoveryCodes(trx, userId));
  const factor = await db('factors').where({ user_id: userId, kind: 'recovery_codes' }).first('id');
  return { userId, codes, factorId: factor.id as string };
}

describe('recovery codes', () => {
  it('spends a code once, and says how many are left', async () => {
    const { userId, codes } = await personWithCodes();
    expect(await store.useRecoveryCode(userId, codes[0]!)).toMatchObject({ remaining: codes.length - 1 });
    expect(await store.useRecoveryCode(userId, codes[0]!)).toBeUndefined();
    expect(await store.useRecoveryCode(userId, 'not-a-code')).toBeUndefined();
  });
});

describe('the list of a person\'s factors', () => {
  it('puts recovery codes after the factor they came with, even when both were made in the same millisecond', async () => {
    const { userId, factorId } = await personWithCodes();
    const at = new Date();
    // An authenticator whose id sorts after the codes' own, made at the very same moment.
    await testDb.db('factors').where({ id: factorId }).update({ created_at: at });
    await testDb.db('factors').insert({ id: 'ffffffff-ffff-4fff-8fff-ffffffffffff', user_id: userId, kind: 'totp', name: 'Phone', confirmed_at: at, created_at: at });
    expect((await store.list(userId)).map((factor) => factor.kind)).toEqual(['totp', 'recovery_codes']);
  });
});

describe.skipIf(!postgres)('recovery codes beside an act on the same person, on PostgreSQL', () => {
  it('a code being spent waits for the factor first, holding none of its codes meanwhile', async () => {
    const { db } = testDb;
    const { userId, codes, factorId } = await personWithCodes();
    const act = await db.transaction();
    try {
      // What a reset or a new set takes first: the factor's row.
      await act('factors').where({ id: factorId }).forUpdate();
      const spending = store.useRecoveryCode(userId, codes[0]!);
      await untilWaitingOnALock(db, spending);
      const heldByTheSpending = await rowsHeldElsewhere(db, 'recovery_codes', 'factor_id', factorId);
      expect(heldByTheSpending).toBe(0);
      // The act replaces the codes: the one being spent is spent from the old set, which is gone.
      await act('factors').where({ id: factorId }).delete();
      await act.commit();
      expect(await spending).toBeUndefined();
    } finally {
      if (!act.isCompleted()) await act.rollback();
    }
  });
});
