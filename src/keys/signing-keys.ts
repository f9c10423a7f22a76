// The JWS signing keys: generated here, stored encrypted in `signing_keys`, rotated on request,
// and handed to oidc-provider as its `jwks` configuration.
//
// Every instance sharing the database computes the same key set from the rows and the clock, so
// there is no leader: a key added by `rotate()` is published by every instance at its next refresh,
// and starts signing everywhere once its activates_at has passed.
import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { signingKeyRetentionSeconds } from '../lifetimes.js';
import type { Database } from '../db/knex.js';
import { generateSigningKey, JWS_ALGORITHMS, openPrivateJwk, SigningKeyCorruptError, toPublicJwk, type GeneratedKey, type JwsAlgorithm } from './material.js';
import { inTransaction } from '../db/transactions.js';

export { JWS_ALGORITHMS, KeyEncryptionKeyMismatchError, SigningKeyCorruptError, toPublicJwk, type JwsAlgorithm } from './material.js';


/** A JWK Set (RFC 7517 §5). */
export interface JwkSet {
  keys: JWK[];
}

/** Where a key is in its life: published before it signs, signing, then published until its tokens expire. */
export type KeyState = 'next' | 'signing' | 'retired';

export interface KeySet {
  /**
   * Private JWKs of every published key, for oidc-provider's `jwks` configuration. For each alg the
   * current signer comes first: oidc-provider signs with the first key of a matching alg.
   */
  jwks: JwkSet;
  /** Changes whenever the published kids or the signer of an alg change: rebuild the provider then. */
  fingerprint: string;
  /** The next moment the key set changes by the clock alone (an activation or an unpublication), if any. */
  nextChangeAt: Date | null;
}

/** A signing key as the CLI and admin pages show it: no key material. */
export interface SigningKeyInfo {
  kid: string;
  alg: JwsAlgorithm;
  state: KeyState;
  /** Whether the key is in the JWK Set (false only for retired keys past unpublishAt, awaiting deletion). */
  published: boolean;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
  unpublishAt: Date | null;
}

export interface KeyStoreOptions {
  /** 32 bytes; the content encryption key of the JWEs holding the private JWKs. */
  keyEncryptionKey: Buffer;
  /** How long a rotated-in key is published before it signs. */
  publishBeforeSigningSeconds: number;
  /**
   * How long a superseded key stays published after its successor activates: at least the lifetime
   * of the longest-lived JWT it may have signed, plus how late an instance may notice the activation.
   */
  retainSeconds: number;
  /** Milliseconds since the epoch; injectable so tests move time instead of waiting. */
  now?: () => number;
}

export interface KeyStore {
  /** Creates an immediately active key for every alg that has no signing key; returns what it created. */
  ensureKeys(): Promise<SigningKeyInfo[]>;
  /**
   * Adds a key per alg that signs after publishBeforeSigningSeconds and schedules its predecessor's
   * retirement. `alongside` runs in the same transaction, before it commits (the audit entry):
   * if it fails, nothing was rotated.
   */
  rotate(alongside?: (trx: Knex.Transaction, added: SigningKeyInfo[]) => Promise<void>): Promise<SigningKeyInfo[]>;
  /** The published keys, decrypted and ordered for oidc-provider. */
  loadKeySet(): Promise<KeySet>;
  listKeys(): Promise<SigningKeyInfo[]>;
  /** Deletes retired keys past unpublish_at; returns how many. */
  deleteUnpublishedKeys(): Promise<number>;
}

/**
 * The transaction-scoped advisory lock that serialises key creation across instances (ensureKeys on
 * an empty database, concurrent rotations). Any other advisory lock in Gatehouse must use another id.
 */
export const SIGNING_KEYS_LOCK_ID = 0x4748_4b53; // "GHKS"

interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: JWK | string;
  private_jwk_jwe: string;
  created_at: Date | string;
  activates_at: Date | string;
  retired_at: Date | string | null;
  unpublish_at: Date | string | null;
}

interface StoredKey {
  kid: string;
  alg: JwsAlgorithm;
  privateJwkJwe: string;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
  unpublishAt: Date | null;
}

export function createKeyStore(db: Database, options: KeyStoreOptions): KeyStore {
  if (options.keyEncryptionKey.length !== 32) {
    throw new Error('KEY_ENCRYPTION_KEY must be exactly 32 bytes');
  }
  // A copy, so the key is a plain view of its own 32 bytes rather than a slice of Buffer's pool.
  const kek = new Uint8Array(options.keyEncryptionKey);
  const now = options.now ?? Date.now;
  const publishBeforeSigningMs = options.publishBeforeSigningSeconds * 1000;
  const retainMs = options.retainSeconds * 1000;
  const generate = (alg: JwsAlgorithm) => generateSigningKey(alg, kek);
  const decrypt = (key: StoredKey) => openPrivateJwk(key, kek);

  async function readKeys(q: Knex | Knex.Transaction = db): Promise<StoredKey[]> {
    const rows = (await q<SigningKeyRow>('signing_keys').select('*')) as SigningKeyRow[];
    return rows.map(fromRow).sort(byActivation);
  }

  /**
   * Serialises writers across instances. Read committed (stated, not assumed from the server's
   * default) makes every statement after the lock see what the previous holder committed; under
   * repeatable read the snapshot would date from before the wait.
   */
  async function withKeysLock<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return inTransaction(db,
      async (trx) => {
        await trx.raw('select pg_advisory_xact_lock(?)', [SIGNING_KEYS_LOCK_ID]);
        return work(trx);
      },
      { isolationLevel: 'read committed' },
    );
  }

  async function insert(trx: Knex.Transaction, key: GeneratedKey, createdAt: Date, activatesAt: Date): Promise<void> {
    await trx('signing_keys').insert({
      kid: key.kid,
      alg: key.alg,
      public_jwk: JSON.stringify(key.publicJwk),
      private_jwk_jwe: key.privateJwkJwe,
      created_at: createdAt,
      activates_at: activatesAt,
    });
  }

  /**
   * Each key of an alg is retired when the next one (by activation) activates, and stays published
   * retainSeconds longer. Recomputed over the whole chain so an odd history (a rotation while
   * another is pending, a shortened publishBeforeSigningSeconds) still leaves exactly one
   * unretired key per alg. Dates already set are kept: extending or cutting short a promise
   * already acted on by JWKS caches would help no one.
   */
  async function retireSuperseded(trx: Knex.Transaction): Promise<void> {
    const keys = await readKeys(trx);
    for (const alg of JWS_ALGORITHMS) {
      const chain = keys.filter((k) => k.alg === alg);
      for (let i = 0; i + 1 < chain.length; i++) {
        const key = chain[i]!;
        if (key.retiredAt) continue;
        const successorActivatesAt = chain[i + 1]!.activatesAt;
        await trx('signing_keys')
          .where({ kid: key.kid })
          .update({
            retired_at: successorActivatesAt,
            unpublish_at: new Date(successorActivatesAt.getTime() + retainMs),
          });
      }
    }
  }

  function describe(keys: StoredKey[], at: number): SigningKeyInfo[] {
    const signers = signingKids(keys, at);
    return keys.map((k) => ({
      kid: k.kid,
      alg: k.alg,
      state: k.activatesAt.getTime() > at ? 'next' : signers.has(k.kid) ? 'signing' : 'retired',
      published: isPublished(k, at),
      createdAt: k.createdAt,
      activatesAt: k.activatesAt,
      retiredAt: k.retiredAt,
      unpublishAt: k.unpublishAt,
    }));
  }

  /** Throws KeyEncryptionKeyMismatchError unless the newest stored key decrypts with our key. */
  async function assertDecryptable(keys: StoredKey[]): Promise<void> {
    const newest = keys.reduce<StoredKey | undefined>((a, k) => (!a || k.createdAt > a.createdAt ? k : a), undefined);
    if (newest) await decrypt(newest);
  }

  return {
    async ensureKeys() {
      const missing = (keys: StoredKey[], at: number) => {
        const signers = signingKids(keys, at);
        return JWS_ALGORITHMS.filter((alg) => ![...signers.values()].includes(alg));
      };
      // "Missing" means no published, active key of the alg: an empty table, but also one whose
      // keys were deleted by hand. Every other start finds keys here, without the lock.
      const toCreate = missing(await readKeys(), now());
      if (toCreate.length === 0) return [];
      // Generated outside the transaction: RSA generation takes a while, and on PGlite an open
      // transaction holds the only connection.
      const candidates = await Promise.all(toCreate.map(generate));
      return withKeysLock(async (trx) => {
        const at = now();
        const existing = await readKeys(trx);
        await assertDecryptable(existing);
        const stillMissing = missing(existing, at);
        const created = candidates.filter((c) => stillMissing.includes(c.alg));
        for (const key of created) await insert(trx, key, new Date(at), new Date(at));
        if (created.length) await retireSuperseded(trx);
        const kids = new Set(created.map((c) => c.kid));
        return describe(await readKeys(trx), at).filter((k) => kids.has(k.kid));
      });
    },

    async rotate(alongside) {
      const candidates = await Promise.all(JWS_ALGORITHMS.map(generate));
      return withKeysLock(async (trx) => {
        const at = now();
        // Keys added under another KEY_ENCRYPTION_KEY would be unreadable to every server: prove
        // this one opens the existing keys before adding any.
        await assertDecryptable(await readKeys(trx));
        const activatesAt = new Date(at + publishBeforeSigningMs);
        for (const key of candidates) await insert(trx, key, new Date(at), activatesAt);
        await retireSuperseded(trx);
        const kids = new Set(candidates.map((c) => c.kid));
        const added = describe(await readKeys(trx), at).filter((k) => kids.has(k.kid));
        await alongside?.(trx, added);
        return added;
      });
    },

    async loadKeySet() {
      const at = now();
      const published = (await readKeys()).filter((k) => isPublished(k, at));
      const signers = signingKids(published, at);
      const ordered: StoredKey[] = [];
      for (const alg of JWS_ALGORITHMS) {
        const ofAlg = published.filter((k) => k.alg === alg);
        // oidc-provider 9 signs ID tokens (lib/models/id_token.js) and JWT access tokens
        // (lib/models/formats/jwt.js) with `[key] = keystore.selectForSign({ alg, use: 'sig' })`:
        // lib/helpers/keystore.js filters the configured keys (kty, alg, use, crv) in `jwks.keys`
        // order, then sorts by a score that is equal for all our keys (each has alg and use), and
        // Array.prototype.sort is stable. So the first key of an alg signs, and the signer must
        // come first; the others (next, retired) are there to be published and to verify. This
        // holds only while no resource server pins `jwt.sign.kid`, which would bypass the order.
        ordered.push(...ofAlg.filter((k) => signers.has(k.kid)));
        // Then by activation, newest first, so the rest of the order is the same on every instance.
        ordered.push(...ofAlg.filter((k) => !signers.has(k.kid)).reverse());
      }
      const keys = await Promise.all(ordered.map(decrypt));

      const fingerprint = createHash('sha256')
        .update(
          JSON.stringify({
            signing: JWS_ALGORITHMS.map((alg) => [alg, [...signers].find(([, a]) => a === alg)?.[0] ?? null]),
            published: published.map((k) => k.kid).sort(),
          }),
        )
        .digest('base64url');

      const upcoming = published
        .flatMap((k) => [k.activatesAt, k.unpublishAt])
        .filter((d): d is Date => d !== null && d.getTime() > at)
        .sort((a, b) => a.getTime() - b.getTime());

      return { jwks: { keys }, fingerprint, nextChangeAt: upcoming[0] ?? null };
    },

    async listKeys() {
      // Keys past unpublish_at are listed too, as retired and unpublished, until the janitor deletes them.
      return describe(await readKeys(), now()).sort(
        (a, b) => JWS_ALGORITHMS.indexOf(a.alg) - JWS_ALGORITHMS.indexOf(b.alg) || b.activatesAt.getTime() - a.activatesAt.getTime(),
      );
    },

    async deleteUnpublishedKeys() {
      // Counted from `returning` because knex-pglite reports a delete's row count differently from pg.
      const deleted = await db('signing_keys').where('unpublish_at', '<=', new Date(now())).delete(['kid']);
      return deleted.length;
    },
  };
}

/** The key oidc-provider signs with for an alg: the first of that alg in the set. */
export function signingJwk(keySet: KeySet, alg: JwsAlgorithm): JWK | undefined {
  return keySet.jwks.keys.find((k) => k.alg === alg);
}

/** The public JWK Set of a key set: what oidc-provider serves at its jwks_uri. */
export function publicJwks(keySet: KeySet): JwkSet {
  return { keys: keySet.jwks.keys.map(toPublicJwk) };
}

function isPublished(key: StoredKey, at: number): boolean {
  return key.unpublishAt === null || key.unpublishAt.getTime() > at;
}

/** kid → alg of each alg's signer: the key that activated last, among those already active. */
function signingKids(keys: StoredKey[], at: number): Map<string, JwsAlgorithm> {
  const signers = new Map<string, JwsAlgorithm>();
  for (const alg of JWS_ALGORITHMS) {
    const active = keys.filter((k) => k.alg === alg && isPublished(k, at) && k.activatesAt.getTime() <= at);
    const signer = active[active.length - 1];
    if (signer) signers.set(signer.kid, alg);
  }
  return signers;
}

/** Oldest activation first; ties (never expected) broken the same way on every instance. */
function byActivation(a: StoredKey, b: StoredKey): number {
  return (
    a.activatesAt.getTime() - b.activatesAt.getTime() ||
    a.createdAt.getTime() - b.createdAt.getTime() ||
    (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0)
  );
}

function fromRow(row: SigningKeyRow): StoredKey {
  if (!(JWS_ALGORITHMS as readonly string[]).includes(row.alg)) {
    throw new SigningKeyCorruptError(row.kid, `unsupported alg ${row.alg}`);
  }
  return {
    kid: row.kid,
    alg: row.alg as JwsAlgorithm,
    privateJwkJwe: row.private_jwk_jwe,
    createdAt: toDate(row.created_at),
    activatesAt: toDate(row.activates_at),
    retiredAt: row.retired_at === null ? null : toDate(row.retired_at),
    unpublishAt: row.unpublish_at === null ? null : toDate(row.unpublish_at),
  };
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/** The key store as configured: what the server, the janitor and `gatehouse keys` share. */
export function keyStoreFor(config: Config, db: Database): KeyStore {
  return createKeyStore(db, {
    keyEncryptionKey: config.secrets.keyEncryptionKey,
    publishBeforeSigningSeconds: config.keys.publishBeforeSigningSeconds,
    // A retired key must outlive every JWT it signed, plus one refresh interval of lag.
    retainSeconds: signingKeyRetentionSeconds(config.keys.refreshIntervalSeconds),
  });
}

