// What people and administrators do with factors, each act audited in its own transaction with
// the notice that tells the person (src/audit/audited.ts, src/notices/). The table work is
// store.ts's; this file decides what goes with it: the first second factor brings recovery codes,
// the last one takes them away, and an administrator's reset ends the person's sessions.
import type { Actor } from '../audit/events.js';
import type { Audited } from '../audit/audited.js';
import type { AuditLog } from '../audit/log.js';
import type { Database } from '../db/knex.js';
import { found } from '../errors.js';
import type { AccountNotices } from '../notices/account-notices.js';
import { lockPerson, type UserStore } from '../people/users.js';
import type { GrantStore } from '../grants/store.js';
import type { SessionStore } from '../sessions/store.js';
import { signOutEverywhere } from '../sessions/ending.js';
import type { PasskeyStore } from '../passkeys/store.js';
import { MAX_AUTHENTICATOR_APPS_PER_PERSON, type Factor, type FactorStore } from './store.js';
import { inTransaction } from '../db/transactions.js';

export interface FactorActsDependencies {
  db: Database;
  store: FactorStore;
  audited: Audited;
  audit: AuditLog;
  notices: AccountNotices;
  users: UserStore;
  sessions: SessionStore;
  grants: GrantStore;
  /** The person's passkeys (src/passkeys/): a second step after the password, and reset with the rest. */
  passkeys?: PasskeyStore | undefined;
}

/** Which second factors a person has, for the step after their password. */
export interface SecondFactors {
  /** An authenticator app, or recovery codes beside a passkey: the code field. */
  code: boolean;
  passkey: boolean;
}

/** A factor's kind as a notice's sentence names it: a catalog key, told in the recipient's language. */
export function factorInWords(kind: Factor['kind']): string {
  switch (kind) {
    case 'totp': return 'mail.factor.totp';
    case 'recovery_codes': return 'mail.factor.recovery_codes';
    case 'passkey': return 'mail.factor.passkey';
    case 'password': return 'mail.factor.password';
  }
}

export class FactorActs {
  constructor(private readonly deps: FactorActsDependencies) {}

  get store(): FactorStore {
    return this.deps.store;
  }

  /** The second factors the person could use after their password (none: the password is all they have). */
  async secondFactorsOf(userId: string): Promise<SecondFactors> {
    const [kept, passkey] = await Promise.all([
      this.deps.store.list(userId),
      this.deps.passkeys ? this.deps.passkeys.hasAny(userId) : Promise.resolve(false),
    ]);
    const totp = kept.some((factor) => factor.kind === 'totp');
    const codes = kept.some((factor) => factor.kind === 'recovery_codes' && (factor.remaining ?? 0) > 0);
    // Recovery codes back up another factor: left behind alone (the last passkey removed on its
    // own page), they do not make every sign-in spend one.
    return { code: totp || (codes && passkey), passkey };
  }

  /** Every second factor of the person, passkeys among them (names and dates, never a secret or a key). */
  async list(userId: string): Promise<Factor[]> {
    const [kept, passkeys] = await Promise.all([this.deps.store.list(userId), this.deps.passkeys ? this.deps.passkeys.listFor(userId) : []]);
    return [...kept, ...passkeys];
  }

  /**
   * Confirms an authenticator app being enrolled with one valid code. With the person's first
   * second factor comes a set of recovery codes, returned to be shown once. `confirmed` false:
   * the code was wrong (nothing changed).
   */
  confirmTotp(actor: Actor, userId: string, factorId: string, code: string, name: string): Promise<{ confirmed: boolean; full?: true; recoveryCodes?: string[] }> {
    return inTransaction(this.deps.db, async (trx) => {
      // Counted under the person's row (lockPerson): of two confirmations at once for the last
      // place, one waits for the other and then finds it taken.
      await lockPerson(trx, userId);
      const person = found(await this.deps.users.findById(userId, trx), 'person');
      const apps = await this.deps.store.countTotp(userId, trx);
      if (apps >= MAX_AUTHENTICATOR_APPS_PER_PERSON) return { confirmed: false, full: true };
      const first = apps === 0;
      if (!(await this.deps.store.confirmTotp(trx, userId, factorId, code, name))) return { confirmed: false };
      const hadCodes = (await this.deps.store.list(userId, trx)).some((factor) => factor.kind === 'recovery_codes');
      const recoveryCodes = first || !hadCodes ? await this.deps.store.replaceRecoveryCodes(trx, userId) : undefined;
      await this.deps.audit.append({ type: 'factor.added', actor, userId, details: { factorId, kind: 'totp', recoveryCodesIssued: recoveryCodes !== undefined } }, trx);
      await this.deps.notices.send(trx, person, { kind: 'factor-added', factor: factorInWords('totp') });
      return { confirmed: true, ...(recoveryCodes ? { recoveryCodes } : {}) };
    });
  }

  /** A new set of recovery codes (the old set stops working), to show once. */
  regenerateRecoveryCodes(actor: Actor, userId: string): Promise<string[]> {
    return this.deps.audited(actor, async (trx) => {
      const codes = await this.deps.store.replaceRecoveryCodes(trx, userId);
      return { result: codes, event: { type: 'factor.recovery_codes_regenerated', userId, details: { count: codes.length } } };
    });
  }

  /** The person removes one of their factors; what went (their recovery codes too, with the last app when no passkey is left). */
  removeOwn(actor: Actor, userId: string, factorId: string): Promise<Factor[]> {
    return this.deps.audited(actor, async (trx) => {
      const person = found(await this.deps.users.findById(userId, trx), 'person');
      // Recovery codes back up a passkey as well as an authenticator app: they stay while one is left.
      const passkeyLeft = this.deps.passkeys ? await this.deps.passkeys.hasAny(userId, trx) : false;
      const removed = found(await this.deps.store.remove(trx, userId, factorId, passkeyLeft), 'factor');
      await this.deps.notices.send(trx, person, { kind: 'factor-removed', factor: factorInWords(removed[0]!.kind), how: 'own' });
      return { result: removed, event: { type: 'factor.removed', userId, details: { removed: removed.map(({ id, kind }) => ({ id, kind })) } } };
    });
  }

  /**
   * An administrator removes every second factor of a person (they lost their phone), passkeys
   * included: the person is signed out everywhere (every app signed in through a session gets a
   * back-channel logout token, offline access is revoked) and told: by mail, and on the page their
   * next sign-in shows. The administrator never sees a secret, only what was removed.
   */
  resetByAdministrator(actor: Actor, userId: string): Promise<{ removed: Array<Pick<Factor, 'id' | 'kind' | 'name'>>; sessionsEnded: number; grantsRevoked: number }> {
    return this.deps.audited(actor, async (trx) => {
      // The person's row before their factors and sessions (as src/people/erasure.ts explains).
      const person = found(await this.deps.users.findForUpdate(userId, trx), 'person');
      const apps = await this.deps.store.removeAll(trx, userId);
      const passkeys = this.deps.passkeys ? await this.deps.passkeys.removeAll(userId, trx) : [];
      const removed = [...apps, ...passkeys];
      const ended = await signOutEverywhere(this.deps, trx, userId);
      if (removed.length) {
        await this.deps.notices.send(trx, person, { kind: 'factor-removed', factor: 'mail.factor.all', how: 'admin' });
        await this.deps.users.markFactorsReset(userId, trx);
      }
      const result = { removed: removed.map(({ id, kind, name }) => ({ id, kind, name })), ...ended };
      // A passkey's transports tell a platform authenticator from a roaming one (src/security-events/).
      const audited = [...apps.map(({ id, kind }) => ({ id, kind })), ...passkeys.map(({ id, kind, transports }) => ({ id, kind, transports }))];
      return { result, event: { type: 'factor.reset', userId, details: { removed: audited, ...ended } } };
    });
  }

  /** A recovery code was spent to sign in: audited, and the person told how many are left. */
  async recoveryCodeUsed(actor: Actor, userId: string, remaining: number, clientId: string | null): Promise<void> {
    await inTransaction(this.deps.db, async (trx) => {
      const person = found(await this.deps.users.findById(userId, trx), 'person');
      await this.deps.audit.append({ type: 'factor.recovery_code_used', actor, userId, clientId, details: { remaining } }, trx);
      await this.deps.notices.send(trx, person, { kind: 'recovery-code-used', remaining });
    });
  }
}
