// The factors and recovery_codes tables (migration 015): a person's authenticator apps and their
// set of recovery codes. Nothing here can be used by someone holding only the database: TOTP
// secrets are sealed under KEY_ENCRYPTION_KEY for their row (src/crypto/sealed.ts), recovery codes
// are kept as keyed digests. Every "use" is one atomic UPDATE, so two requests racing with the same
// code cannot both succeed.
import { randomInt, randomUUID } from 'node:crypto';
import type { Database } from '../db/knex.js';
import { openJson, sealJson, subkey } from '../crypto/sealed.js';
import { keyedDigest, type KeyedDigest } from '../security/keyed-digest.js';
import { matchingStep, newTotpSecret, normaliseCode, totpUri, type NewTotpSecret } from './totp.js';
import { inTransaction } from '../db/transactions.js';

/**
 * One way a person can prove who they are, as the account pages, the admin surfaces and the audit
 * log name it. Passkeys (src/passkeys/) list theirs in the same shape (kind 'passkey').
 */
export interface Factor {
  id: string;
  kind: 'password' | 'totp' | 'recovery_codes' | 'passkey';
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** For recovery codes: how many are left unused. */
  remaining?: number;
}

/** How many recovery codes a set has, and what each looks like: 10 of [a-z2-9] minus look-alikes, ~50 bits. */
export const RECOVERY_CODE_COUNT = 10;
const CODE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const CODE_LENGTH = 10;

interface FactorRow {
  id: string;
  user_id: string;
  kind: 'totp' | 'recovery_codes';
  name: string;
  secret_sealed: string | null;
  confirmed_at: Date | null;
  last_step: string | number | null;
  created_at: Date;
  last_used_at: Date | null;
}

export type TotpCheck =
  /** The code is right and was not used before: its factor. */
  | { ok: true; factorId: string }
  /** Wrong, or no authenticator app at all. */
  | { ok: false; reason: 'wrong' | 'replayed' };

/** How long an authenticator-app enrolment in progress is shown again rather than replaced. */
const PENDING_TOTP_SHOWN_AGAIN_MS = 30 * 60_000;
/**
 * The most authenticator apps one person may have. Every sign-in code is checked against each of
 * them, each was announced by mail and audited, and a person has a phone or two: without a limit,
 * one person (or whoever holds their session) could add them without end.
 */
export const MAX_AUTHENTICATOR_APPS_PER_PERSON = 5;

export class FactorStore {
  readonly #sealKey: Uint8Array;
  readonly #codeDigest: KeyedDigest;

  constructor(private readonly db: Database, keyEncryptionKey: Buffer, private readonly now: () => number = Date.now) {
    this.#sealKey = subkey(keyEncryptionKey, 'totp secret');
    this.#codeDigest = keyedDigest(keyEncryptionKey, 'recovery code');
  }

  /** Every confirmed factor of the person kept here, oldest first (recovery codes with their count left). */
  async list(userId: string, trx: Database = this.db): Promise<Factor[]> {
    const rows = await trx<FactorRow>('factors')
      .select('factors.*')
      .select(trx.raw('(select count(*) from recovery_codes r where r.factor_id = factors.id and r.used_at is null)::int as remaining'))
      .where({ user_id: userId })
      .whereNotNull('confirmed_at')
      // Recovery codes come with the first factor, in the same act and often the same millisecond:
      // they are listed after what they came with, not in the order of two random ids.
      .orderBy('created_at')
      .orderByRaw(`kind = 'recovery_codes'`)
      .orderBy('id');
    return rows.map((row) => ({
      id: row.id,
      kind: row.kind,
      name: row.name,
      createdAt: new Date(row.created_at),
      lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : null,
      ...(row.kind === 'recovery_codes' ? { remaining: Number((row as unknown as { remaining: number }).remaining) } : {}),
    }));
  }

  /** How many authenticator apps the person has confirmed. */
  async countTotp(userId: string, trx: Database = this.db): Promise<number> {
    const row = await trx('factors').where({ user_id: userId, kind: 'totp' }).whereNotNull('confirmed_at').count<{ count: string | number }[]>('* as count').first();
    return Number(row?.count ?? 0);
  }

  /** Whether the person has a confirmed authenticator app: the second step of their sign-in. */
  async hasTotp(userId: string, trx: Database = this.db): Promise<boolean> {
    const row = await trx('factors').where({ user_id: userId, kind: 'totp' }).whereNotNull('confirmed_at').first('id');
    return row !== undefined;
  }

  /**
   * Starts enrolling an authenticator app: a new sealed secret, no factor until confirmed, and
   * earlier unconfirmed ones go. An enrolment begun in the last half hour is shown again instead.
   * The page calls this on a plain GET, which any site can make the person's browser send: it must
   * not throw away a secret the person is typing into their app in another tab.
   */
  async beginTotp(userId: string, label: string, issuer: string): Promise<{ id: string } & NewTotpSecret> {
    const recent = await this.db<FactorRow>('factors').where({ user_id: userId, kind: 'totp' }).whereNull('confirmed_at')
      .where('created_at', '>', new Date(this.now() - PENDING_TOTP_SHOWN_AGAIN_MS)).orderBy('created_at', 'desc').first();
    if (recent?.secret_sealed) {
      const base32 = await this.#open(recent);
      return { id: recent.id, base32, uri: totpUri(base32, label, issuer) };
    }
    const id = randomUUID();
    const secret = newTotpSecret(label, issuer);
    const sealed = await sealJson({ base32: secret.base32 }, this.#sealKey, id);
    await inTransaction(this.db, async (trx) => {
      await trx('factors').where({ user_id: userId, kind: 'totp' }).whereNull('confirmed_at').delete();
      await trx('factors').insert({ id, user_id: userId, kind: 'totp', name: 'Authenticator app', secret_sealed: sealed, created_at: new Date(this.now()) });
    });
    return { id, ...secret };
  }

  /** An enrolment in progress, to show again after a wrong code. */
  async pendingTotp(userId: string, id: string, label: string, issuer: string): Promise<NewTotpSecret | undefined> {
    const row = await this.db<FactorRow>('factors').where({ id, user_id: userId, kind: 'totp' }).whereNull('confirmed_at').first();
    if (!row?.secret_sealed) return undefined;
    const base32 = await this.#open(row);
    return { base32, uri: totpUri(base32, label, issuer) };
  }

  /**
   * Confirms an enrolment with one valid code: the factor counts from now on, and the code's step
   * is recorded as used. False when the code is wrong or the enrolment is gone.
   */
  async confirmTotp(trx: Database, userId: string, id: string, typed: string, name: string): Promise<boolean> {
    const row = await trx<FactorRow>('factors').where({ id, user_id: userId, kind: 'totp' }).whereNull('confirmed_at').forUpdate().first();
    const code = normaliseCode(typed);
    if (!row?.secret_sealed || !code) return false;
    const step = matchingStep(await this.#open(row), code, this.now());
    if (step === undefined) return false;
    const at = new Date(this.now());
    await trx('factors').where({ id }).update({ confirmed_at: at, created_at: at, last_step: step, last_used_at: at, name });
    return true;
  }

  /**
   * Checks a code against each of the person's authenticator apps, and spends it: accepted only
   * when its time step is later than the last one that app accepted (one conditional UPDATE, so
   * of two requests with the same code only one wins).
   */
  async useTotp(userId: string, typed: string): Promise<TotpCheck> {
    const code = normaliseCode(typed);
    if (!code) return { ok: false, reason: 'wrong' };
    const rows = await this.db<FactorRow>('factors').where({ user_id: userId, kind: 'totp' }).whereNotNull('confirmed_at');
    const now = this.now();
    for (const row of rows) {
      const step = matchingStep(await this.#open(row), code, now);
      if (step === undefined) continue;
      const spent = await this.db('factors')
        .where({ id: row.id })
        .andWhere((q) => q.whereNull('last_step').orWhere('last_step', '<', step))
        .update({ last_step: step, last_used_at: new Date(now) }, ['id']);
      return spent.length === 1 ? { ok: true, factorId: row.id } : { ok: false, reason: 'replayed' };
    }
    return { ok: false, reason: 'wrong' };
  }

  /**
   * A new set of recovery codes, replacing any earlier set (which stops working): the codes, to
   * show once. Only their keyed digests are stored.
   */
  async replaceRecoveryCodes(trx: Database, userId: string): Promise<string[]> {
    await trx('factors').where({ user_id: userId, kind: 'recovery_codes' }).delete();
    const id = randomUUID();
    const at = new Date(this.now());
    await trx('factors').insert({ id, user_id: userId, kind: 'recovery_codes', name: 'Recovery codes', confirmed_at: at, created_at: at });
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => newRecoveryCode());
    await trx('recovery_codes').insert(codes.map((code) => ({ factor_id: id, digest: this.#codeDigest(userId, normaliseRecoveryCode(code)!) })));
    return codes;
  }

  /** Spends one recovery code; how many are left, or undefined when it is not an unused code of theirs. */
  async useRecoveryCode(userId: string, typed: string): Promise<{ factorId: string; remaining: number } | undefined> {
    const code = normaliseRecoveryCode(typed);
    if (!code) return undefined;
    const at = new Date(this.now());
    return inTransaction(this.db, async (trx) => {
      // The factor first, then a code: the order a new set, a reset or a removal takes them in
      // (the factor's row, then its codes by cascade), so a code spent meanwhile cannot deadlock with them.
      const factor = await trx('factors').where({ user_id: userId, kind: 'recovery_codes' }).first('id').forUpdate();
      if (!factor) return undefined;
      const spent = await trx('recovery_codes')
        .where({ factor_id: factor.id, digest: this.#codeDigest(userId, code) })
        .whereNull('used_at')
        .update({ used_at: at }, ['digest']);
      if (spent.length !== 1) return undefined;
      await trx('factors').where({ id: factor.id }).update({ last_used_at: at });
      const left = await trx('recovery_codes').where({ factor_id: factor.id }).whereNull('used_at').count<{ count: string }[]>('* as count');
      return { factorId: factor.id as string, remaining: Number(left[0]?.count ?? 0) };
    });
  }

  /**
   * Removes one factor of the person; with their last authenticator app, their recovery codes go
   * too (they back up a second factor that is no longer there), unless `otherFactor` (a passkey,
   * kept in src/passkeys/) still needs them. What was removed, or undefined.
   */
  async remove(trx: Database, userId: string, factorId: string, otherFactor = false): Promise<Factor[] | undefined> {
    const before = await this.list(userId, trx);
    const target = before.find((factor) => factor.id === factorId);
    if (!target) return undefined;
    await trx('factors').where({ id: factorId, user_id: userId }).delete();
    return [target, ...(otherFactor ? [] : await this.removeLoneRecoveryCodes(trx, userId))];
  }

  /**
   * Recovery codes back up an authenticator app or a passkey: once the person has neither (the
   * caller knows about passkeys), they go too. What was removed.
   */
  async removeLoneRecoveryCodes(trx: Database, userId: string): Promise<Factor[]> {
    if (await this.hasTotp(userId, trx)) return [];
    const codes = (await this.list(userId, trx)).filter((factor) => factor.kind === 'recovery_codes');
    if (codes.length) await trx('factors').where({ user_id: userId, kind: 'recovery_codes' }).delete();
    return codes;
  }

  /** Removes every factor kept here for the person (an admin's reset); what was removed. */
  async removeAll(trx: Database, userId: string): Promise<Factor[]> {
    const before = await this.list(userId, trx);
    await trx('factors').where({ user_id: userId }).delete();
    return before;
  }

  async #open(row: FactorRow): Promise<string> {
    const opened = (await openJson(row.secret_sealed!, this.#sealKey, row.id)) as { base32: string };
    return opened.base32;
  }
}

function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i += 1) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** A typed recovery code, case, spaces and dashes ignored; undefined when it cannot be one. */
export function normaliseRecoveryCode(typed: string): string | undefined {
  const code = typed.toLowerCase().replace(/[\s-]/g, '');
  return code.length === CODE_LENGTH && [...code].every((c) => CODE_ALPHABET.includes(c)) ? code : undefined;
}
