// How often verification mail may be asked for (src/verification/mail-throttle.ts), on PostgreSQL
// and the embedded PGlite: per account and per client address, in the shared rate-limit store, each
// request counted before it is let through.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAILS_PER_ACCOUNT_PER_HOUR, MAILS_PER_ADDRESS_PER_HOUR, VerificationMailThrottle } from '../../src/verification/mail-throttle.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe.each(['postgres', 'pglite'] as const)('verification mail throttle on %s', (engine) => {
  let testDb: TestDatabase;
  let now = Date.now();
  let throttle: VerificationMailThrottle;

  beforeAll(async () => {
    testDb = await createTestDatabase(engine === 'pglite' ? { engine: 'pglite' } : {});
    throttle = new VerificationMailThrottle(testDb.db, randomBytes(32), () => now);
  });
  afterAll(async () => { await testDb?.destroy(); });

  async function person(): Promise<string> {
    const [{ id }] = await testDb.db('users').insert({ email: `${randomUUID()}@example.test`, name: 'Throttled', password_hash: 'unused' }).returning('id');
    return id as string;
  }

  it('refuses an account that was sent its hourly number of links, until an hour after them', async () => {
    const id = await person();
    for (let i = 0; i < MAILS_PER_ACCOUNT_PER_HOUR; i += 1) expect(await throttle.allow(id, '192.0.2.1')).toBe(true);
    expect(await throttle.allow(id, '192.0.2.2')).toBe(false);
    // Another account from the same address is not held back by this one.
    expect(await throttle.allow(await person(), '192.0.2.2')).toBe(true);
    now += 3600_000 + 1000;
    expect(await throttle.allow(id, '192.0.2.3')).toBe(true);
  });

  it('lets through no more than the hourly number of requests for one account sent at once', async () => {
    const id = await person();
    const answers = await Promise.all(Array.from({ length: 3 * MAILS_PER_ACCOUNT_PER_HOUR }, (_, i) => throttle.allow(id, `192.0.2.${100 + i}`)));
    expect(answers.filter(Boolean)).toHaveLength(MAILS_PER_ACCOUNT_PER_HOUR);
  });

  it('keeps its counts under keyed digests: the table names neither the person nor the network', async () => {
    const id = await person();
    await throttle.allow(id, '192.0.2.250');
    const keys = (await testDb.db('rate_limits').where('key', 'like', 'verification_mail_%').select('key')).map((row: { key: string }) => row.key);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain(id);
      expect(key).not.toContain('192.0.2.250');
    }
  });

  it('refuses a client address after its hourly number of requests, whichever accounts they were for', async () => {
    const address = '198.51.100.7';
    for (let i = 0; i < MAILS_PER_ADDRESS_PER_HOUR; i += 1) expect(await throttle.allow(await person(), address)).toBe(true);
    expect(await throttle.allow(await person(), address)).toBe(false);
    expect(await throttle.allow(await person(), '203.0.113.9')).toBe(true);
  });
});
