import { randomBytes } from 'node:crypto';
import { compactDecrypt, decodeProtectedHeader, importJWK, jwtVerify, SignJWT, createLocalJWKSet } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDatabase, type Database } from '../../src/db/knex.js';
import {
  createKeyStore,
  KeyEncryptionKeyMismatchError,
  SIGNING_KEYS_LOCK_ID,
  publicJwks,
  signingJwk,
  type JwsAlgorithm,
  type KeySet,
  type KeyStoreOptions,
} from '../../src/keys/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const HOUR = 3600_000;
const PUBLISH_BEFORE_SIGNING = 3600; // seconds
const RETAIN = 7200; // seconds

/** A clock the test moves by hand. */
function manualClock(start = Date.parse('2030-01-01T00:00:00Z')) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

let testDb: TestDatabase;
let db: Database;
let kek: Buffer;
let clock: ReturnType<typeof manualClock>;

function store(overrides: Partial<KeyStoreOptions> = {}, database: Database = db) {
  return createKeyStore(database, {
    keyEncryptionKey: kek,
    publishBeforeSigningSeconds: PUBLISH_BEFORE_SIGNING,
    retainSeconds: RETAIN,
    now: clock.now,
    ...overrides,
  });
}

function kids(keySet: KeySet, alg?: JwsAlgorithm): string[] {
  return keySet.jwks.keys.filter((k) => alg === undefined || k.alg === alg).map((k) => k.kid!);
}

function signer(keySet: KeySet, alg: JwsAlgorithm): string {
  return signingJwk(keySet, alg)!.kid!;
}

beforeEach(async () => {
  testDb = await createTestDatabase();
  db = testDb.db;
  kek = randomBytes(32);
  clock = manualClock();
});

afterEach(async () => {
  await testDb.destroy();
});

describe('ensureKeys', () => {
  it('creates one RS256 and one ES256 key, active at once, and is a no-op the second time', async () => {
    const keys = store();
    const created = await keys.ensureKeys();
    expect(created.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(created.every((k) => k.state === 'signing' && k.activatesAt.getTime() === clock.now())).toBe(true);

    expect(await keys.ensureKeys()).toEqual([]);
    const listed = await keys.listKeys();
    expect(listed).toHaveLength(2);
    expect(listed.map((k) => k.kid).sort()).toEqual(created.map((k) => k.kid).sort());

    const keySet = await keys.loadKeySet();
    const rsa = signingJwk(keySet, 'RS256')!;
    const ec = signingJwk(keySet, 'ES256')!;
    expect(rsa).toMatchObject({ kty: 'RSA', use: 'sig', alg: 'RS256' });
    expect(Buffer.from(rsa.n!, 'base64url').length * 8).toBe(2048);
    expect(ec).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' });
  });

  it('creates exactly one key per alg when two instances start at once on an empty database', async () => {
    if (testDb.kind === 'pglite') {
      // One connection: both instances read the empty table before either transaction runs, and
      // the transactions queue for the connection, so the second must re-check inside its own.
      const [a, b] = await Promise.all([store().ensureKeys(), store().ensureKeys()]);
      expect([...a, ...b].map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    } else {
      // Two instances are two pools. A third connection holds the lock until both instances are
      // waiting for it, so both have found the table empty and generated keys before either inserts:
      // the race happens every run rather than when key generation times happen to line up.
      const url = testDb.url!;
      const [blocker, first, second] = [1, 2, 3].map(() => createDatabase({ url, embeddedDir: null, poolMax: 2 })) as [Database, Database, Database];
      try {
        let release!: () => void;
        let lockTaken!: () => void;
        const taken = new Promise<void>((resolve) => { lockTaken = resolve; });
        const blocking = blocker.transaction(async (trx) => {
          await trx.raw('select pg_advisory_xact_lock(?)', [SIGNING_KEYS_LOCK_ID]);
          lockTaken();
          await new Promise<void>((resolve) => { release = resolve; });
        });
        await taken;
        const both = Promise.all([store({}, first).ensureKeys(), store({}, second).ensureKeys()]);
        await vi.waitFor(async () => {
          const { rows } = await db.raw(
            `select count(*)::int as n from pg_locks
              where locktype = 'advisory' and not granted and classid = 0 and objid = ? and objsubid = 1
                and database = (select oid from pg_database where datname = current_database())`,
            [SIGNING_KEYS_LOCK_ID],
          );
          expect(rows[0].n).toBe(2);
        }, { timeout: 20_000, interval: 10 });
        release();
        await blocking;
        const [a, b] = await both;
        expect([a.length, b.length].sort()).toEqual([0, 2]);
      } finally {
        await Promise.all([blocker, first, second].map((d) => d.destroy()));
      }
    }
    const { rows } = await db.raw<{ rows: Array<{ alg: string; n: number }> }>(
      'select alg, count(*)::int as n from signing_keys group by alg order by alg',
    );
    expect(rows).toEqual([{ alg: 'ES256', n: 1 }, { alg: 'RS256', n: 1 }]);
  });
});

describe('storage', () => {
  it('keeps no private key material in the database, only JWEs that need the key-encryption key', async () => {
    const keys = store();
    await keys.ensureKeys();
    await keys.rotate();
    const rows = await db('signing_keys').select('*');
    expect(rows).toHaveLength(4);

    const dumped = JSON.stringify(rows);
    expect(dumped).not.toMatch(/"d"/);
    for (const row of rows) {
      expect(Object.keys(row.public_jwk).sort()).toEqual(
        row.alg === 'RS256' ? ['alg', 'e', 'kid', 'kty', 'n', 'use'] : ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'],
      );
      expect(decodeProtectedHeader(row.private_jwk_jwe)).toMatchObject({ alg: 'dir', enc: 'A256GCM', kid: row.kid });
      await expect(compactDecrypt(row.private_jwk_jwe, randomBytes(32))).rejects.toThrow();
      const { plaintext } = await compactDecrypt(row.private_jwk_jwe, kek);
      expect(JSON.parse(new TextDecoder().decode(plaintext))).toMatchObject({ kid: row.kid, d: expect.any(String) });
    }
  });

  it('refuses a wrong key-encryption key with an error that names KEY_ENCRYPTION_KEY', async () => {
    await store().ensureKeys();
    const error = await store({ keyEncryptionKey: randomBytes(32) }).loadKeySet().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyEncryptionKeyMismatchError);
    expect((error as Error).message).toMatch(/^KEY_ENCRYPTION_KEY does not match the one the signing keys were encrypted with/);
    // The stack is the message alone: an operator's mistake, not a crash to debug.
    expect((error as Error).stack).toBe(`KeyEncryptionKeyMismatchError: ${(error as Error).message}`);
  });

  it('detects a JWE moved to another row', async () => {
    const keys = store();
    await keys.ensureKeys();
    const [first] = await keys.rotate();
    const other = (await db('signing_keys').where({ alg: first!.alg }).whereNot({ kid: first!.kid }).first())!;
    await db('signing_keys').where({ kid: first!.kid }).update({ private_jwk_jwe: other.private_jwk_jwe });
    await expect(keys.loadKeySet()).rejects.toThrow(/is corrupt: its JWE belongs to kid/);
  });
});

describe('rotation', () => {
  it('publishes the new key first, signs with it from activation, and unpublishes the old one after retainSeconds', async () => {
    const keys = store();
    await keys.ensureKeys();
    const before = await keys.loadKeySet();
    const oldRs = signer(before, 'RS256');
    const oldEs = signer(before, 'ES256');

    const t0 = clock.now();
    const added = await keys.rotate();
    expect(added.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(added.every((k) => k.state === 'next' && k.activatesAt.getTime() === t0 + PUBLISH_BEFORE_SIGNING * 1000)).toBe(true);
    const newRs = added.find((k) => k.alg === 'RS256')!.kid;
    const newEs = added.find((k) => k.alg === 'ES256')!.kid;

    // Published at once, but the old keys still sign.
    const published = await keys.loadKeySet();
    expect(kids(published, 'RS256')).toEqual([oldRs, newRs]);
    expect(kids(published, 'ES256')).toEqual([oldEs, newEs]);
    expect(published.fingerprint).not.toBe(before.fingerprint);
    expect(published.nextChangeAt?.getTime()).toBe(t0 + PUBLISH_BEFORE_SIGNING * 1000);
    const states = Object.fromEntries((await keys.listKeys()).map((k) => [k.kid, k]));
    expect(states[oldRs]).toMatchObject({
      state: 'signing',
      retiredAt: new Date(t0 + PUBLISH_BEFORE_SIGNING * 1000),
      unpublishAt: new Date(t0 + (PUBLISH_BEFORE_SIGNING + RETAIN) * 1000),
    });
    expect(states[newRs]).toMatchObject({ state: 'next', retiredAt: null, unpublishAt: null });

    // One millisecond before activation nothing has changed.
    clock.advance(PUBLISH_BEFORE_SIGNING * 1000 - 1);
    expect((await keys.loadKeySet()).fingerprint).toBe(published.fingerprint);

    // From activation the new keys sign, ahead of the old ones, which stay published.
    clock.advance(1);
    const activated = await keys.loadKeySet();
    expect(kids(activated, 'RS256')).toEqual([newRs, oldRs]);
    expect(kids(activated, 'ES256')).toEqual([newEs, oldEs]);
    expect(activated.fingerprint).not.toBe(published.fingerprint);
    expect(activated.nextChangeAt?.getTime()).toBe(t0 + (PUBLISH_BEFORE_SIGNING + RETAIN) * 1000);
    const after = Object.fromEntries((await keys.listKeys()).map((k) => [k.kid, k.state]));
    expect(after).toEqual({ [oldRs]: 'retired', [oldEs]: 'retired', [newRs]: 'signing', [newEs]: 'signing' });

    // Until unpublish_at; the janitor has nothing to delete before then.
    clock.advance(RETAIN * 1000 - 1);
    expect(kids(await keys.loadKeySet()).sort()).toEqual([oldRs, oldEs, newRs, newEs].sort());
    expect(await keys.deleteUnpublishedKeys()).toBe(0);

    clock.advance(1);
    const retired = await keys.loadKeySet();
    expect(kids(retired, 'RS256')).toEqual([newRs]);
    expect(kids(retired, 'ES256')).toEqual([newEs]);
    expect(retired.fingerprint).not.toBe(activated.fingerprint);
    expect(retired.nextChangeAt).toBeNull();
    // Listed, unpublished, until the janitor deletes them.
    expect((await keys.listKeys()).filter((k) => !k.published).map((k) => k.kid).sort()).toEqual([oldRs, oldEs].sort());
    expect(await keys.deleteUnpublishedKeys()).toBe(2);
    expect((await keys.listKeys()).map((k) => k.kid).sort()).toEqual([newRs, newEs].sort());
    // A restart after all this creates nothing.
    expect(await keys.ensureKeys()).toEqual([]);
  });

  it('hands over in order when rotating again before the previous rotation activated', async () => {
    const keys = store();
    const [first] = (await keys.ensureKeys()).filter((k) => k.alg === 'ES256');
    const [second] = (await keys.rotate()).filter((k) => k.alg === 'ES256');
    clock.advance(HOUR / 2);
    const [third] = (await keys.rotate()).filter((k) => k.alg === 'ES256');

    const listed = Object.fromEntries((await keys.listKeys()).map((k) => [k.kid, k]));
    expect(listed[first!.kid]!.retiredAt).toEqual(second!.activatesAt);
    expect(listed[second!.kid]!.retiredAt).toEqual(third!.activatesAt);
    expect(listed[third!.kid]!.retiredAt).toBeNull();

    expect(signer(await keys.loadKeySet(), 'ES256')).toBe(first!.kid);
    clock.advance(HOUR / 2);
    expect(signer(await keys.loadKeySet(), 'ES256')).toBe(second!.kid);
    clock.advance(HOUR / 2);
    const keySet = await keys.loadKeySet();
    expect(kids(keySet, 'ES256')).toEqual([third!.kid, second!.kid, first!.kid]);
  });

  it('runs what goes alongside a rotation in its transaction: if that fails, nothing was rotated', async () => {
    const keys = store();
    await keys.ensureKeys();
    const before = (await keys.listKeys()).map((k) => [k.kid, k.retiredAt]);

    await expect(keys.rotate(async () => { throw new Error('the audit log is unavailable'); })).rejects.toThrow(/audit log/);
    expect((await keys.listKeys()).map((k) => [k.kid, k.retiredAt])).toEqual(before);

    let seen: string[] = [];
    const added = await keys.rotate(async (trx, rotated) => {
      seen = (await trx('signing_keys').whereIn('kid', rotated.map((k) => k.kid)).select('kid')).map((row: { kid: string }) => row.kid);
    });
    expect(seen.sort()).toEqual(added.map((k) => k.kid).sort());
  });

  it('signs and verifies JWTs with the signer of each alg', async () => {
    const keys = store();
    await keys.ensureKeys();
    await keys.rotate();
    const keySet = await keys.loadKeySet();
    const verifyAgainst = createLocalJWKSet(publicJwks(keySet));
    expect(JSON.stringify(publicJwks(keySet))).not.toMatch(/"d"/);

    for (const alg of ['RS256', 'ES256'] as const) {
      const jwk = signingJwk(keySet, alg)!;
      const jwt = await new SignJWT({ sub: 'someone' })
        .setProtectedHeader({ alg, kid: jwk.kid! })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(await importJWK(jwk, alg));
      const { payload, protectedHeader } = await jwtVerify(jwt, verifyAgainst, { algorithms: [alg] });
      expect(payload.sub).toBe('someone');
      expect(protectedHeader.kid).toBe(jwk.kid);
    }
  });
});
