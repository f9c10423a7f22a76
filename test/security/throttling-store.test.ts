// The pieces under the throttles: their settings, the sweep of expired counters (for the janitor)
// and the order an attempt's counters are locked in, on a real database, and how client addresses
// are grouped into the networks limits count.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { networkOf } from '../../src/security/client-address.js';
import { countAttempt, databaseCounter, deleteExpiredRateLimits, RATE_LIMITS_TABLE, reservation, settleAttempt } from '../../src/security/rate-limit-store.js';
import { createTestDatabase, untilWaitingOnALock, usingPostgres, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
const postgres = await usingPostgres();

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb?.destroy();
});

describe('deleteExpiredRateLimits', () => {
  it('deletes every counter whose window has ended, in batches, and keeps the live ones', async () => {
    const now = Date.now();
    const rows = [
      ...Array.from({ length: 7 }, (_, i) => ({ key: `old:${i}`, points: 3, expire: now - 1000 - i })),
      { key: 'live:a', points: 1, expire: now + 60_000 },
      { key: 'live:b', points: 1, expire: now + 1 },
    ];
    await testDb.db(RATE_LIMITS_TABLE).insert(rows);

    expect(await deleteExpiredRateLimits(testDb.db, { now, batchSize: 3 })).toBe(7);
    const left = await testDb.db(RATE_LIMITS_TABLE).select('key').orderBy('key');
    expect(left.map((row: { key: string }) => row.key)).toEqual(['live:a', 'live:b']);
    expect(await deleteExpiredRateLimits(testDb.db, { now })).toBe(0);
    await testDb.db(RATE_LIMITS_TABLE).delete();
  });

  it('leaves a counter the library is still using intact, and the library never reads an expired one', async () => {
    const counter = databaseCounter(testDb.db, { keyPrefix: 'sweep_test', points: 5, duration: 60 });
    await counter.penalty('k');
    await counter.penalty('k');
    expect(await deleteExpiredRateLimits(testDb.db)).toBe(0);
    expect((await counter.get('k'))?.consumedPoints).toBe(2);

    await testDb.db(RATE_LIMITS_TABLE).where({ key: 'sweep_test:k' }).update({ expire: Date.now() - 1 });
    expect(await counter.get('k')).toBeNull();
    // A new window starts from nothing, before any sweep.
    expect((await counter.penalty('k')).consumedPoints).toBe(1);
  });
});

describe('settleAttempt', () => {
  const counter = { prefix: 'settle_test', key: 'k', durationSeconds: 10 };
  const pointsNow = async () => Number((await testDb.db(RATE_LIMITS_TABLE).where({ key: 'settle_test:k' }).first('points'))?.points);
  async function counted(now: number) {
    const result = await countAttempt(testDb.db, [counter], undefined, now);
    if (!('counts' in result)) throw new Error('not counted');
    return reservation(counter, result.counts[0]!);
  }

  it('gives a point back to the window it was taken from', async () => {
    const start = Date.now();
    await counted(start);
    const second = await counted(start + 1);
    await settleAttempt(testDb.db, { giveBack: [second] }, start + 2);
    expect(await pointsNow()).toBe(1);
    await testDb.db(RATE_LIMITS_TABLE).delete();
  });

  it('gives nothing to the window after it: a try refused as a window ends opens no extra one in the next', async () => {
    const start = Date.now();
    const inTheOldWindow = await counted(start);
    // The window ends while that try is in flight, and a new try opens the next one.
    await counted(start + 10_001);
    await settleAttempt(testDb.db, { giveBack: [inTheOldWindow] }, start + 10_002);
    expect(await pointsNow()).toBe(1);
    await testDb.db(RATE_LIMITS_TABLE).delete();
  });
});

// Many attempts on one account from one address at once (a burst) count on the same three rows.
// Each statement must take them in one order, the keys', or two can each hold a row the other
// waits for: a deadlock, which PostgreSQL ends by failing one, and the person is told "try again".
// Seen here as which rows are still free while a statement waits on the middle one.
describe.skipIf(!postgres)('the counters of one attempt, on PostgreSQL', () => {
  const pair = { prefix: 'signin_pair', key: 'burst' };
  const account = { prefix: 'signin_account', key: 'burst' };
  const address = { prefix: 'signin_address', key: 'burst' };
  const keys = [account, address, pair].map((counter) => `${counter.prefix}:${counter.key}`);

  /** The rows not locked while `statement` waits for the address row, which another transaction holds. */
  async function freeWhileWaiting(statement: (expire: number) => Promise<unknown>): Promise<string[]> {
    const { db } = testDb;
    const expire = Date.now() + 60_000;
    await db(RATE_LIMITS_TABLE).delete();
    // Stored in the opposite of the keys' order, so that a scan's own order is not theirs.
    for (const key of [...keys].reverse()) await db(RATE_LIMITS_TABLE).insert({ key, points: 1, expire });
    const holder = await db.transaction();
    try {
      await holder.raw(`select key from ${RATE_LIMITS_TABLE} where key = ? for update`, [keys[1]!]);
      const waiting = statement(expire);
      await untilWaitingOnALock(db, waiting);
      const free = await db.transaction(async (look) => (await look.raw<{ rows: Array<{ key: string }> }>(
        `select key from ${RATE_LIMITS_TABLE} where key in (?, ?, ?) order by key for update skip locked`, keys,
      )).rows.map((row) => row.key));
      await holder.commit();
      await waiting;
      return free;
    } finally {
      if (!holder.isCompleted()) await holder.rollback();
      await db(RATE_LIMITS_TABLE).delete();
    }
  }

  it('counts an attempt on its rows in key order, whatever order they are named in', async () => {
    const counters = [pair, account, address].map((counter) => ({ ...counter, durationSeconds: 60 }));
    expect(await freeWhileWaiting(() => countAttempt(testDb.db, counters))).toEqual([keys[2]]);
  });

  it('gives an attempt back on its rows in key order, whatever order they are named or stored in', async () => {
    // Points taken from the windows the rows are in.
    const taken = (window: number) => (counter: { prefix: string; key: string }) => ({ ...counter, window });
    expect(await freeWhileWaiting((window) => settleAttempt(testDb.db, { giveBack: [pair, account, address].map(taken(window)) }))).toEqual([keys[2]]);
    expect(await freeWhileWaiting((window) => settleAttempt(testDb.db, { remove: [pair], giveBack: [address, account].map(taken(window)) }))).toEqual([keys[2]]);
  });
});

describe('networkOf', () => {
  it('keeps an IPv4 address, including one mapped into IPv6', () => {
    expect(networkOf('192.0.2.7')).toBe('192.0.2.7');
    expect(networkOf('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(networkOf('::FFFF:192.0.2.7')).toBe('192.0.2.7');
  });

  it('counts a whole IPv6 /64 as one, however the address is written', () => {
    const network = '2001:db8:1:2::/64';
    for (const address of ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:ffff::1', '2001:0DB8:0001:0002::', '2001:db8:1:2::', '2001:db8:1:2:0:0:192.0.2.1', 'fe80::1%eth0'.replace('fe80::1', '2001:db8:1:2::9')]) {
      expect(networkOf(address), address).toBe(network);
    }
    expect(networkOf('2001:db8:1:3::1')).not.toBe(network);
    expect(networkOf('::1')).toBe('0:0:0:0::/64');
    expect(networkOf('2001:db8::192.0.2.1')).toBe('2001:db8:0:0::/64');
  });

  it('passes anything else through, and never returns an empty key', () => {
    expect(networkOf('')).toBe('unknown');
    expect(networkOf('not an address')).toBe('not an address');
  });
});

describe('settings', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-throttle-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', DATA_DIR: dir, ...env });
  const problems = (env: Record<string, string>): string[] => {
    try {
      load(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('has defaults, and reads each from its environment variable', () => {
    const defaults = load({});
    expect(defaults.signIn).toEqual({ maxConsecutiveFailures: 5, maxBlockSeconds: 900, accountMaxFailures: 20, ipMaxFailures: 100 });
    expect(defaults.rateLimits).toEqual({ token: 18000, introspection: 60000, revocation: 6000 });
    expect(defaults.proxyHops).toBe(1);
    const set = load({
      SIGNIN_MAX_CONSECUTIVE_FAILURES: '3', SIGNIN_MAX_BLOCK_SECONDS: '60', SIGNIN_ACCOUNT_MAX_FAILURES: '10', SIGNIN_IP_MAX_FAILURES: '40',
      TOKEN_RATE_LIMIT: '0', INTROSPECTION_RATE_LIMIT: '100', REVOCATION_RATE_LIMIT: '50', TRUST_PROXY_HOPS: '2',
    });
    expect(set.signIn).toEqual({ maxConsecutiveFailures: 3, maxBlockSeconds: 60, accountMaxFailures: 10, ipMaxFailures: 40 });
    expect(set.rateLimits).toEqual({ token: 0, introspection: 100, revocation: 50 });
    expect(set.proxyHops).toBe(2);
  });

  it('refuses values that would amount to a lockout or make no sense, naming the variable', () => {
    expect(problems({ SIGNIN_MAX_BLOCK_SECONDS: '86400' }).join()).toMatch(/^SIGNIN_MAX_BLOCK_SECONDS:/);
    expect(problems({ SIGNIN_MAX_CONSECUTIVE_FAILURES: '0' }).join()).toMatch(/^SIGNIN_MAX_CONSECUTIVE_FAILURES:/);
    expect(problems({ TOKEN_RATE_LIMIT: '-1' }).join()).toMatch(/^TOKEN_RATE_LIMIT:/);
    expect(problems({ TRUST_PROXY_HOPS: '0' }).join()).toMatch(/^TRUST_PROXY_HOPS:/);
    expect(problems({ SIGNIN_MAX_CONSECUTIVE_FAILURES: '10', SIGNIN_ACCOUNT_MAX_FAILURES: '5' }).join())
      .toMatch(/SIGNIN_ACCOUNT_MAX_FAILURES must be at least SIGNIN_MAX_CONSECUTIVE_FAILURES/);
  });
});
