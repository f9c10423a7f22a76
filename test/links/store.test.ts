// One-time links' contract (src/links/store.ts, migration 009), on PostgreSQL and the embedded
// PGlite alike: only a digest is stored, a link opens only for its purpose until it expires, the
// first use spends it and its siblings, a rolled-back use spends nothing, and racing uses let
// exactly one through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { OneTimeLinks, type LinkPurpose } from '../../src/links/store.js';
import { createTestDatabase, rowsHeldElsewhere, usingPostgres, waitedOnALock, type TestDatabase } from '../support/database.js';

const postgres = await usingPostgres();
const T0 = Date.parse('2026-03-01T12:00:00Z');
const HOUR = 3600;

describe.each(['postgres', 'pglite'] as const)('one-time links on %s', (engine) => {
  let testDb: TestDatabase;
  let now = T0;
  let links: OneTimeLinks;
  let person: string;

  beforeAll(async () => {
    testDb = await createTestDatabase(engine === 'pglite' ? { engine: 'pglite' } : {});
    links = new OneTimeLinks(testDb.db, () => now);
    [{ id: person }] = await testDb.db('users').insert({ email: `links-${engine}@example.com`, name: 'Links', password_hash: 'unused' }).returning('id');
  });
  afterAll(async () => {
    await testDb?.destroy();
  });

  const issue = (purpose: LinkPurpose = 'recovery', ttlSeconds = HOUR, email = `links-${engine}@example.com`) =>
    testDb.db.transaction((trx) => links.issue(trx, { purpose, userId: person, email, ttlSeconds }));
  const consume = (token: unknown, purpose: LinkPurpose = 'recovery') => testDb.db.transaction((trx) => links.consume(trx, token, purpose));

  it('stores the digest of a 256-bit token, never the token', async () => {
    now = T0;
    const { token, expiresAt } = await issue();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt).toEqual(new Date(T0 + HOUR * 1000));
    const rows = await testDb.db('one_time_links').where({ user_id: person });
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows.map((row) => row.token_digest)).toContain(digest(token));
  });

  it('opens for its own purpose only, and shows without spending', async () => {
    now = T0;
    const { token } = await issue('verification', HOUR, 'new@example.com');
    expect(await links.find(token, 'recovery')).toBeUndefined();
    expect(await links.find(token, 'verification')).toMatchObject({ userId: person, email: 'new@example.com', purpose: 'verification' });
    expect(await links.find(token, 'verification')).toBeDefined();
    expect(await consume(token, 'recovery')).toBeUndefined();
    expect(await consume(token, 'verification')).toMatchObject({ email: 'new@example.com' });
  });

  it('is spent by its first use, and spends the other outstanding links of that purpose with it', async () => {
    now = T0;
    const first = await issue();
    const second = await issue();
    const other = await issue('sign_in');
    expect(await consume(second.token)).toMatchObject({ userId: person });
    expect(await consume(second.token)).toBeUndefined();
    expect(await links.find(first.token, 'recovery')).toBeUndefined();
    expect(await consume(first.token)).toBeUndefined();
    expect(await links.find(other.token, 'sign_in')).toBeDefined();
  });

  it('is dead from its expiry on, used or not', async () => {
    now = T0;
    const { token } = await issue('recovery', 30 * 60);
    now = T0 + 30 * 60 * 1000 - 1;
    expect(await links.find(token, 'recovery')).toBeDefined();
    now = T0 + 30 * 60 * 1000;
    expect(await links.find(token, 'recovery')).toBeUndefined();
    expect(await consume(token)).toBeUndefined();
  });

  it('stays usable when the act it allowed rolled back', async () => {
    now = T0;
    const { token } = await issue();
    await expect(testDb.db.transaction(async (trx) => {
      expect(await links.consume(trx, token, 'recovery')).toBeDefined();
      throw new Error('the new password was refused');
    })).rejects.toThrow('the new password was refused');
    expect(await consume(token)).toBeDefined();
  });

  it('refuses what cannot be a token before asking the database', async () => {
    for (const token of [undefined, '', 'short', 'x'.repeat(43).replace(/x$/, '\u0000'), 'a'.repeat(44), { token: 'a' }, 'a'.repeat(42) + '/']) {
      expect(await links.find(token, 'recovery')).toBeUndefined();
      expect(await consume(token)).toBeUndefined();
    }
  });

  it('revokes every outstanding link of an account, of one purpose or all', async () => {
    now = T0;
    const recovery = await issue();
    const signIn = await issue('sign_in');
    expect(await testDb.db.transaction((trx) => links.revokeAll(trx, person, 'sign_in'))).toBeGreaterThanOrEqual(1);
    expect(await links.find(signIn.token, 'sign_in')).toBeUndefined();
    expect(await links.find(recovery.token, 'recovery')).toBeDefined();
    await testDb.db.transaction((trx) => links.revokeAll(trx, person));
    expect(await links.find(recovery.token, 'recovery')).toBeUndefined();
  });

  it('counts the links issued since a moment, for throttling mail', async () => {
    now = T0 + 10 * HOUR * 1000;
    const before = await links.countIssuedSince(person, 'invitation', now - 1000);
    await issue('invitation');
    await issue('invitation');
    expect(await links.countIssuedSince(person, 'invitation', now - 1000)).toBe(before + 2);
    expect(await links.countIssuedSince(person, 'invitation', now)).toBe(0);
  });

  it('goes with the account', async () => {
    now = T0;
    const [{ id: leaving }] = await testDb.db('users').insert({ email: `leaving-${engine}@example.com`, name: 'Leaving', password_hash: 'unused' }).returning('id');
    await testDb.db.transaction((trx) => links.issue(trx, { purpose: 'recovery', userId: leaving, email: `leaving-${engine}@example.com`, ttlSeconds: HOUR }));
    await testDb.db('users').where({ id: leaving }).delete();
    expect(await testDb.db('one_time_links').where({ user_id: leaving })).toEqual([]);
  });

  it('is swept by the janitor once expired', async () => {
    now = T0 + 100 * HOUR * 1000;
    const { token } = await issue('recovery', 60);
    now += 60_000;
    expect(await links.deleteExpired()).toBeGreaterThanOrEqual(1);
    expect(await testDb.db('one_time_links').where({ token_digest: digest(token) })).toEqual([]);
  });
});

describe.runIf(process.env.TEST_DATABASE !== 'pglite')('one-time links under racing uses', () => {
  let testDb: TestDatabase;

  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(async () => {
    await testDb?.destroy();
  });

  it('lets exactly one of twenty simultaneous uses through', async () => {
    const links = new OneTimeLinks(testDb.db);
    const [{ id }] = await testDb.db('users').insert({ email: 'race@example.com', name: 'Race', password_hash: 'unused' }).returning('id');
    const { token } = await testDb.db.transaction((trx) => links.issue(trx, { purpose: 'recovery', userId: id, email: 'race@example.com', ttlSeconds: HOUR }));
    const results = await Promise.all(Array.from({ length: 20 }, () => testDb.db.transaction((trx) => links.consume(trx, token, 'recovery'))));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

// The act a link allows changes the person, and acts on a person that revoke their links (a new
// address, disabling them) take the person's row first. A link is spent in that order too, or the
// two could each hold what the other waits for; and the lock it takes must leave alone the rows
// inserted for the person meanwhile (their foreign-key check), or it closes a cycle of its own.
describe.skipIf(!postgres)('spending a link beside acts on the person, on PostgreSQL', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(async () => {
    await testDb?.destroy();
  });

  async function personWithLinks(email: string) {
    const { db } = testDb;
    const links = new OneTimeLinks(db);
    const [{ id }] = await db('users').insert({ email, name: 'Order', password_hash: 'unused' }).returning('id');
    const issue = () => db.transaction((trx) => links.issue(trx, { purpose: 'recovery', userId: id, email, ttlSeconds: HOUR }));
    return { links, id: id as string, issue };
  }

  it('takes the person\'s row before any of their links', async () => {
    const { db } = testDb;
    const { links, id, issue } = await personWithLinks('order@example.com');
    const [followed, sibling] = [await issue(), await issue()];
    const act = await db.transaction();
    try {
      await act('users').where({ id }).forUpdate();
      const spending = db.transaction((trx) => links.consume(trx, followed.token, 'recovery'));
      expect(await waitedOnALock(db, spending)).toBe(true);
      expect(await rowsHeldElsewhere(db, 'one_time_links', 'user_id', id)).toBe(0);
      await act.commit();
      expect(await spending).toMatchObject({ userId: id });
      expect(await links.find(sibling.token, 'recovery')).toBeUndefined();
    } finally {
      if (!act.isCompleted()) await act.rollback();
    }
  });

  it('holds up no link issued to the person while one is being spent', async () => {
    const { db } = testDb;
    const { links, issue } = await personWithLinks('issued@example.com');
    const followed = await issue();
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    let spent!: () => void;
    const isSpent = new Promise<void>((resolve) => { spent = resolve; });
    const spending = db.transaction(async (trx) => {
      const link = await links.consume(trx, followed.token, 'recovery');
      spent();
      await released;
      return link;
    });
    try {
      await isSpent;
      const issuing = issue();
      expect(await waitedOnALock(db, issuing), 'the new link waited for the person\'s row').toBe(false);
      expect((await issuing).token).toBeTruthy();
    } finally {
      release();
    }
    expect(await spending).toBeDefined();
  });
});
