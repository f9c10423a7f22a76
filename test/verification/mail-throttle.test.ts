// How often verification mail may be asked for (src/verification/mail-throttle.ts), on PostgreSQL
// and the embedded PGlite: per account, by the links it was issued in the last hour; per client
// address, in the shared rate-limit store, whatever accounts the requests are for.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OneTimeLinks } from '../../src/links/store.js';
import { MAILS_PER_ACCOUNT_PER_HOUR, MAILS_PER_ADDRESS_PER_HOUR, VerificationMailThrottle } from '../../src/verification/mail-throttle.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe.each(['postgres', 'pglite'] as const)('verification mail throttle on %s', (engine) => {
  let testDb: TestDatabase;
  let now = Date.now();
  let links: OneTimeLinks;
  let throttle: VerificationMailThrottle;

  beforeAll(async () => {
    testDb = await createTestDatabase(engine === 'pglite' ? { engine: 'pglite' } : {});
    links = new OneTimeLinks(testDb.db, () => now);
    throttle = new VerificationMailThrottle(testDb.db, links, () => now);
  });
  afterAll(async () => { await testDb?.destroy(); });

  async function person(): Promise<string> {
    const [{ id }] = await testDb.db('users').insert({ email: `${randomUUID()}@example.test`, name: 'Throttled', password_hash: 'unused' }).returning('id');
    return id as string;
  }

  const issue = (userId: string) => testDb.db.transaction((trx) => links.issue(trx, { purpose: 'verification', userId, email: 'x@example.test', ttlSeconds: 86400 }));

  it('refuses an account that was sent its hourly number of links, until an hour after them', async () => {
    const id = await person();
    for (let i = 0; i < MAILS_PER_ACCOUNT_PER_HOUR; i += 1) {
      expect(await throttle.allow(id, '192.0.2.1')).toBe(true);
      await issue(id);
    }
    expect(await throttle.allow(id, '192.0.2.2')).toBe(false);
    // Another account from the same address is not held back by this one.
    expect(await throttle.allow(await person(), '192.0.2.2')).toBe(true);
    now += 3600_000 + 1000;
    expect(await throttle.allow(id, '192.0.2.3')).toBe(true);
  });

  it('refuses a client address after its hourly number of requests, whichever accounts they were for', async () => {
    const address = '198.51.100.7';
    for (let i = 0; i < MAILS_PER_ADDRESS_PER_HOUR; i += 1) expect(await throttle.allow(await person(), address)).toBe(true);
    expect(await throttle.allow(await person(), address)).toBe(false);
    expect(await throttle.allow(await person(), '203.0.113.9')).toBe(true);
  });
});
