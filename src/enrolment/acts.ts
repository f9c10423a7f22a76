// What a person does to come into Gatehouse without being signed in: accept an invitation (choose
// the first password), sign up (SIGNUP=open), verify a sign-up's address. Each is audited like any
// act (src/audit/audited.ts), with its one-time link spent in the act's own transaction, so a
// refused password leaves the link usable and a link is spent exactly once. The pages are pages.ts.
//
// Sign-up never tells whether an address has an account: every well-formed request is answered
// "check your mail", and the owner of an address that has one is told by mail instead. Both paths
// check a password's worth of argon2 and write one mail, so timing does not tell them apart either.
import { isOneLine, isStorableText } from '../db/text.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import { auditedActs, type Audited, type AuditedDependencies } from '../audit/audited.js';
import type { Actor } from '../audit/events.js';
import type { Logger } from '../logger.js';
import type { LinkPurpose } from '../links/store.js';
import { MINUTE } from '../lifetimes.js';
import { checkNewPassword } from '../people/passwords.js';
import { LinkPasswordRequired } from '../security/link-password.js';
import { accountState, emailSchema, invalidEmail, type AccountState, type User, type UserStore } from '../people/users.js';
import { VERIFICATION_TTL_SECONDS, type EnrolmentMail } from './mail.js';
import type { MailThrottle } from '../security/mail-throttle.js';
import { inTransaction } from '../db/transactions.js';
import type { Database } from '../db/knex.js';

/** A sign-in to an account still waiting for verification sends a new link at most this often. */
const RESEND_INTERVAL_MS = 10 * MINUTE * 1000;

// A sign-up nobody verified is deleted SIGNUP_ABANDONED_DAYS after it was made (a week unless the
// operator says otherwise), or once the last link sent to it has expired if that is later (a
// sign-in with the right password sends a new one): whoever typed the address may not own it, and
// an account nobody can use should not keep their name and address. Signing up again once its
// links have expired replaces it sooner (signUp).

/** Who deletes abandoned sign-ups, in the audit log. */
const JANITOR: Actor = { type: 'system', id: 'janitor' };

export interface EnrolmentDependencies extends AuditedDependencies {
  users: UserStore;
  mail: EnrolmentMail;
  /** Sign-up mail per address and per network (signUpThrottle). */
  throttle: MailThrottle;
  logger: Logger;
  now?: () => number;
  /** SIGNUP_ABANDONED_DAYS: how many days an unverified sign-up is kept. */
  abandonedAfterDays: number;
}

export interface SignUpForm {
  name: string;
  email: string;
  password: string;
  /** The sign-up page's language: the account's, for its mails, until the person signs in. */
  locale: string;
}

/** The link was spent, expired or replaced between showing its page and posting its form. */
class LinkGone extends Error {}

/** An abandoned sign-up was verified, sent a new link or deleted between the janitor finding it and deleting it. */
class NoLongerAbandoned extends Error {}

export class Enrolment {
  readonly #audited: Audited;
  readonly #now: () => number;

  constructor(private readonly deps: EnrolmentDependencies) {
    this.#audited = auditedActs(deps);
    this.#now = deps.now ?? Date.now;
  }

  get signUpOn(): boolean {
    return this.deps.mail.signUpOn;
  }

  /** The invited person a link names, if it still works: for showing its page, which spends nothing. */
  openInvitation(token: unknown): Promise<User | undefined> {
    return this.#holderOf(token, 'invitation', 'invited');
  }

  /** The signed-up person a verification link names, if it still works. */
  openVerification(token: unknown): Promise<User | undefined> {
    return this.#holderOf(token, 'verification', 'unverified');
  }

  /**
   * Accepts an invitation: the link is spent, the password set (checked as every password is), the
   * address verified (the invitation went there) and the account made usable. Undefined when the
   * link no longer works; a weak password is refused with the link left usable.
   */
  acceptInvitation(token: unknown, password: string, ip: string): Promise<User | undefined> {
    return this.#spend(token, 'invitation', 'invited', ip, { password });
  }

  /**
   * Verifies a sign-up's address and makes the account usable; undefined when the link no longer
   * works. `passwordProvenFor` is the account whose password the caller checked (the page, under
   * the sign-in throttle: src/security/link-password.ts): a link alone proves only that someone
   * reads the mailbox, not that they chose this account, so without proof for the link's own
   * account LinkPasswordRequired is thrown and nothing is spent.
   */
  verifySignUp(token: unknown, ip: string, passwordProvenFor: string): Promise<User | undefined> {
    return this.#spend(token, 'verification', 'unverified', ip, { provenFor: passwordProvenFor });
  }

  /**
   * A sign-up. Throws only for what is wrong with the form itself (a malformed address, a weak
   * password), which says nothing about anyone's account; otherwise answers nothing, whatever happened.
   */
  async signUp(form: SignUpForm, ip: string): Promise<void> {
    const email = emailSchema.safeParse(form.email);
    if (!email.success) throw invalidEmail(email.error);
    // Every rule the new account's row would be held to is checked here, before anyone's account is
    // looked at: a refusal that only the new-account path could meet would tell the paths apart.
    const name = form.name.trim();
    if (!name) throw new GatehouseError('invalid_input', 'A name is required.', 'name', { key: 'problem.nameRequired' });
    if (name.length > 200 || !isStorableText(name) || !isOneLine(name)) throw new GatehouseError('invalid_input', 'Use a shorter name, in plain text.', 'name', { key: 'problem.nameTooLong' });
    const problem = checkNewPassword(form.password, [email.data, name]);
    if (problem) throw new GatehouseError('weak_password', problem.message, 'password', problem.words);

    const anonymous: Actor = { type: 'anonymous', id: null, ip };
    const [allowed, existing] = await Promise.all([this.deps.throttle.allow({ purpose: 'signup', email: email.data, ip }), this.deps.users.findByEmail(email.data)]);
    if (!allowed) {
      await this.deps.users.spendPasswordCheck(form.password);
      this.deps.logger.info({ event: 'sign_up.throttled' });
      return;
    }
    if (existing && !(await this.#abandoned(existing))) {
      await this.deps.users.spendPasswordCheck(form.password);
      await this.#audited(anonymous, async (trx) => {
        await this.deps.mail.alreadyRegistered(trx, existing);
        return { result: undefined, event: { type: 'user.sign_up_refused', userId: existing.id, details: { state: accountState(existing) } } };
      });
      return;
    }
    try {
      await this.#audited(anonymous, async (trx) => {
        // A sign-up nobody verified in time holds the address no longer: whoever has the mailbox now decides.
        if (existing) await this.deps.users.delete(existing.id, trx);
        const user = await this.deps.users.create({ email: email.data, name, password: form.password }, trx, 'unverified');
        await this.deps.users.rememberLocale(user.id, form.locale, trx);
        await this.deps.mail.verifySignUp(trx, { ...user, locale: form.locale });
        return { result: undefined, event: { type: 'user.signed_up', userId: user.id, details: existing ? { replaced: existing.id } : {} } };
      });
    } catch (error) {
      // Another sign-up for the address won the race: this one is answered like any other.
      if (!isGatehouseError(error, 'email_taken')) throw error;
      this.deps.logger.info({ event: 'sign_up.raced' });
    }
  }

  /**
   * For sign-in, once the password proved it is the person who signed up: mails a new verification
   * link unless one went out in the last few minutes. True if one was sent.
   */
  async resendVerification(user: User): Promise<boolean> {
    const sentLately = (db: Database) => this.deps.mail.links.countIssuedSince(user.id, 'verification', this.#now() - RESEND_INTERVAL_MS, db).then((count) => count > 0);
    // Most sign-ins here come within minutes of the last link: answered without a transaction.
    if (await sentLately(this.deps.db)) return false;
    return inTransaction(this.deps.db, async (trx) => {
      // The row lock the janitor takes to delete an abandoned sign-up (deleteAbandoned), taken
      // first: whichever comes second waits, and then sees the account gone or the new link.
      // Inserting the link first would wait on the janitor while the janitor's delete waited on
      // that link: a deadlock, and a 503 for the person.
      if (!(await this.deps.users.lockUnverified(user.id, trx))) return false;
      // Asked again under the lock: sign-ins sent at once all passed the first look, and only
      // the first of them to hold the lock may mail.
      if (await sentLately(trx)) return false;
      await this.deps.mail.verifySignUp(trx, user);
      return true;
    });
  }

  /**
   * The janitor: deletes sign-ups nobody verified that are SIGNUP_ABANDONED_DAYS old and hold no
   * link that still works, each with its audit entry in one transaction, at most `limit` a sweep.
   * Returns how many went.
   */
  async deleteAbandoned(limit = 500): Promise<number> {
    const PAGE = 100;
    const afterDays = this.deps.abandonedAfterDays;
    const madeBefore = new Date(this.#now() - afterDays * 86_400_000);
    let deleted = 0;
    let after: { createdAt: Date; id: string } | undefined;
    // Page by page, so sign-ups kept alive by fresh links at the front of the list never hide the rest.
    for (let read = 0; read < limit;) {
      const page = await this.deps.users.unverifiedSignUpsBefore(madeBefore, PAGE, after);
      read += page.length;
      const waiting = await this.deps.mail.links.holdingLive(page.map((candidate) => candidate.id), 'verification');
      for (const { id } of page.filter((candidate) => !waiting.has(candidate.id))) {
        if (await this.#deleteIfAbandoned(id, afterDays)) deleted += 1;
      }
      if (page.length < PAGE) break;
      after = page.at(-1);
    }
    return deleted;
  }

  /**
   * Deletes one abandoned sign-up, audited, checking again under a lock on the person's row: a
   * link issued meanwhile (a sign-in with the right password sends one) keeps the account, and
   * one issued after waits for this transaction.
   */
  async #deleteIfAbandoned(id: string, afterDays: number): Promise<boolean> {
    return this.#audited(JANITOR, async (trx) => {
      if (!(await this.deps.users.lockUnverified(id, trx))) throw new NoLongerAbandoned();
      if ((await this.deps.mail.links.holdingLive([id], 'verification', trx)).size) throw new NoLongerAbandoned();
      await this.deps.users.delete(id, trx);
      return { result: true, event: { type: 'user.deleted', userId: id, details: { reason: 'sign_up_never_verified', afterDays } } };
    }).catch((error: unknown) => {
      if (error instanceof NoLongerAbandoned) return false;
      throw error;
    });
  }

  /** An unverified sign-up whose last link has expired: nobody proved the address, so it may be signed up for again. */
  async #abandoned(existing: User): Promise<boolean> {
    if (accountState(existing) !== 'unverified') return false;
    const since = this.#now() - VERIFICATION_TTL_SECONDS * 1000;
    return (await this.deps.mail.links.countIssuedSince(existing.id, 'verification', since)) === 0;
  }

  async #holderOf(token: unknown, purpose: LinkPurpose, state: AccountState): Promise<User | undefined> {
    const link = await this.deps.mail.links.find(token, purpose);
    if (!link) return undefined;
    const user = await this.deps.users.findById(link.userId);
    // A link for an address the account no longer has is dead, and so is one for an account it can no longer open.
    if (!user || accountState(user) !== state || user.email.toLowerCase() !== link.email.toLowerCase()) return undefined;
    return user;
  }

  async #spend(token: unknown, purpose: LinkPurpose, state: AccountState, ip: string, proof: { password?: string; provenFor?: string }): Promise<User | undefined> {
    const { password } = proof;
    const holder = await this.#holderOf(token, purpose, state);
    if (!holder) return undefined;
    // An invitation sets the password (an administrator chose the address); a sign-up's link needs the one chosen at sign-up.
    if (purpose === 'verification' && proof.provenFor !== holder.id) throw new LinkPasswordRequired();
    if (password !== undefined) {
      // Refused before anything is spent or hashed.
      const problem = checkNewPassword(password, [holder.email, holder.name, holder.givenName ?? '', holder.familyName ?? ''].filter(Boolean));
      if (problem) throw new GatehouseError('weak_password', problem.message, 'password', problem.words);
    }
    try {
      return await this.#audited({ type: 'user', id: holder.id, ip }, async (trx) => {
        const link = await this.deps.mail.links.consume(trx, token, purpose);
        if (!link || link.userId !== holder.id) throw new LinkGone();
        const user = await this.deps.users.activate(holder.id, { email: link.email, ...(password !== undefined ? { password } : {}) }, trx);
        if (!user) throw new LinkGone();
        const type = purpose === 'invitation' ? 'user.invitation_accepted' : 'user.sign_up_verified';
        return { result: user, event: { type, userId: user.id, details: { email: user.email } } };
      });
    } catch (error) {
      if (error instanceof LinkGone) return undefined;
      throw error;
    }
  }
}
