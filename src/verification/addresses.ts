// Email addresses and their proof (issue #15): `email_verified` becomes true only when a link
// mailed to the address is followed, and an account moves to a new address only the same way.
// Every act here is audited in the transaction that does it, and every mail goes in that same
// transaction (src/outbox/). What may be asked for, and by whom:
//   - the person (account pages): a link to their own address; a change to a new address (the
//     link goes to the new one, a notice to the old one; nothing changes until the link is followed);
//   - an administrator (admin API, console, CLI): a link to the person's address; a new address,
//     unverified, which the person's old address is told of;
//   - whoever holds a link: follow it once (POST; GET only shows what it would do); a link that
//     would move the account to a new address also needs the account's password (checked by the
//     page under the sign-in throttle, src/security/link-password.ts): the link proves only that
//     someone reads the new mailbox, not that they own the account asking for it.
// A link is dead once the account's address is not the one it was meant for: a link to the
// account's own address verifies exactly that address; a link to another address changes the
// account only while the pending change (migration 011) asks for it from the address it still has.
// Only an active account's links work here. A sign-up's link has the same purpose, and it proves
// the address at /signup/verify, with the password (src/enrolment/); an invitation proves it by
// being accepted. Followed here, a sign-up's link would mark the address verified without that
// password, and spend the link the account needs.
import { auditedActs, type Audited, type AuditedDependencies } from '../audit/audited.js';
import type { Actor } from '../audit/events.js';
import type { Database } from '../db/knex.js';
import { found, GatehouseError } from '../errors.js';
import type { LinkRecord, OneTimeLinks } from '../links/store.js';
import { accountState, emailSchema, invalidEmail, isUsable, type User, type UserStore } from '../people/users.js';
import { LinkPasswordRequired } from '../security/link-password.js';
import { VERIFICATION_TTL_SECONDS, type AddressMail } from './address-mail.js';
import { forgetPendingChange, pendingChangeOf, recordPendingChange, type PendingChange } from './pending-changes.js';
import { inTransaction } from '../db/transactions.js';

export interface AddressDependencies extends AuditedDependencies {
  db: Database;
  users: UserStore;
  links: OneTimeLinks;
  mail: AddressMail;
  now?: () => number;
  /** EMAIL_VERIFICATION (default on): off, no link is mailed and no one may change their own address. */
  enabled?: boolean;
}

/** Refused while EMAIL_VERIFICATION is off: the act would mail a link that cannot be sent. */
function verificationOff(): GatehouseError {
  return new GatehouseError('conflict', 'Email verification is off on this server (EMAIL_VERIFICATION=false): no verification link can be mailed.', 'email', { key: 'problem.verificationOff' });
}

/** A link that is spent, expired, unknown, or meant for an address the account no longer has. */
export class LinkNoLongerWorks extends Error {
  constructor() {
    super('This verification link no longer works.');
    this.name = 'LinkNoLongerWorks';
  }
}

/** What following a link does (or did): verify the account's address, or move it to a new one. */
export interface LinkEffect {
  kind: 'verify' | 'change';
  /** The address the link was sent to: the one verified, or the account's new one. */
  email: string;
  name: string;
}

/** What a link's page needs to know before it is followed: whose account, and at which address now. */
export interface LinkPreview extends LinkEffect {
  accountId: string;
  /** The address the account has now (for a change: the one it would leave). */
  currentEmail: string;
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function parsedEmail(value: string): string {
  const parsed = emailSchema.safeParse(value);
  if (!parsed.success) throw invalidEmail(parsed.error);
  return parsed.data;
}

/**
 * The address a person may ask to move to from `current`: a valid one that is not already theirs.
 * For the form to check before it spends a password attempt or a mail on a typo.
 */
export function newAddressFor(current: string, requested: string): string {
  const to = parsedEmail(requested);
  if (sameAddress(current, to)) throw new GatehouseError('invalid_input', 'That is already your email address.', 'email', { key: 'problem.alreadyYourEmail' });
  return to;
}

export class Addresses {
  readonly #audited: Audited;

  constructor(private readonly deps: AddressDependencies) {
    this.#audited = auditedActs(deps);
  }

  /** Whether links can be mailed (EMAIL_VERIFICATION): the pages offer them only then. */
  get on(): boolean {
    return this.deps.enabled !== false;
  }

  /** The change the person asked for and has not confirmed yet, if its link can still be followed. */
  async pendingChange(user: User): Promise<PendingChange | undefined> {
    const pending = await pendingChangeOf(this.deps.db, user.id);
    const now = this.deps.now?.() ?? Date.now();
    const live = pending && pending.from === user.email && pending.requestedAt.getTime() + VERIFICATION_TTL_SECONDS * 1000 > now;
    return live ? pending : undefined;
  }

  /** What `token` would do if followed, or undefined when it no longer works. Spends nothing. */
  async preview(token: unknown): Promise<LinkPreview | undefined> {
    const link = await this.deps.links.find(token, 'verification');
    if (!link) return undefined;
    const user = await this.deps.users.findById(link.userId);
    if (!user || !isUsable(user)) return undefined;
    const effect = await this.effectOf(this.deps.db, link, user);
    return effect && { ...effect, accountId: user.id, currentEmail: user.email };
  }

  /**
   * Follows the link: spends it and verifies or changes the address, audited as the person's act.
   * Throws LinkNoLongerWorks, or `email_taken` when the new address is another account's by now
   * (the link then stays usable: the person may free the address and try again). A link that would
   * move the account needs `passwordProvenFor` to be that account's id (its password was checked);
   * otherwise LinkPasswordRequired is thrown and the link stays usable. A link that verifies the
   * address the account already has needs no password: nobody gains an address by it.
   */
  async follow(token: unknown, ip: string | null, passwordProvenFor?: string): Promise<LinkEffect> {
    const effect = await inTransaction(this.deps.db, async (trx) => {
      const link = await this.deps.links.consume(trx, token, 'verification');
      if (!link) throw new LinkNoLongerWorks();
      const user = await this.deps.users.findById(link.userId, trx);
      if (!user || !isUsable(user)) throw new LinkNoLongerWorks();
      const effect = await this.effectOf(trx, link, user);
      if (!effect) throw new LinkNoLongerWorks();
      // Thrown inside the transaction, so the link's consumption is rolled back with it.
      if (effect.kind === 'change' && passwordProvenFor !== user.id) throw new LinkPasswordRequired();
      const actor: Actor = { type: 'user', id: user.id, ip };
      if (effect.kind === 'verify') {
        if (!(await this.deps.users.markEmailVerified(user.id, link.email, trx))) throw new LinkNoLongerWorks();
        await this.deps.audit.append({ type: 'user.email_verified', actor, userId: user.id, details: { email: link.email } }, trx);
        return effect;
      }
      if (!(await this.deps.users.replaceEmail(user.id, user.email, link.email, true, trx))) throw new LinkNoLongerWorks();
      await forgetPendingChange(trx, user.id);
      // Whatever else was mailed to the old address (a recovery link, a sign-in link) dies with it.
      await this.deps.links.revokeAll(trx, user.id);
      await this.deps.mail.changed(trx, user, user.email, link.email, false);
      await this.deps.audit.append({ type: 'user.email_changed', actor, userId: user.id, details: { from: user.email, to: link.email, verified: true } }, trx);
      return effect;
    });
    // As an audited act's answer (src/audit/audited.ts): every instance has heard of the new address.
    await this.deps.changes?.barrier?.();
    return effect;
  }

  /** Mails a verification link to the person's current address (the person, or an administrator). */
  sendVerification(actor: Actor, userId: string): Promise<User> {
    if (!this.on) return Promise.reject(verificationOff());
    return this.#audited(actor, async (trx) => {
      const user = found(await this.deps.users.findById(userId, trx), 'person');
      if (user.emailVerified) throw new GatehouseError('conflict', 'This email address is already verified.', 'email', { key: 'problem.emailAlreadyVerified' });
      refuseUnlessActive(user);
      await this.deps.mail.sendLink(trx, user, user.email, false);
      return { result: user, event: { type: 'user.email_verification_sent', userId, details: { email: user.email } } };
    });
  }

  /**
   * The person asks to move their account to `newEmail`. Nothing changes until the link mailed
   * there is followed; the old address is told now. Whether another account has the new address
   * is not said here (that would let anyone signed in probe addresses): the link's page says it,
   * to whoever controls the new address, and the change is refused then.
   */
  requestChange(actor: Actor, userId: string, newEmail: string): Promise<{ to: string }> {
    if (!this.on) return Promise.reject(verificationOff());
    return this.#audited(actor, async (trx) => {
      // The person's row before their links, as following a link takes them (src/links/store.ts).
      const user = found(await this.deps.users.findForUpdate(userId, trx), 'person');
      const to = newAddressFor(user.email, newEmail);
      const now = new Date(this.deps.now?.() ?? Date.now());
      await recordPendingChange(trx, user.id, { from: user.email, to, requestedAt: now });
      // Only the newest request's link may work: an earlier one, to another address, dies.
      await this.deps.links.revokeAll(trx, user.id, 'verification');
      await this.deps.mail.sendLink(trx, user, to, true);
      await this.deps.mail.changeRequested(trx, user, user.email, to);
      return { result: { to }, event: { type: 'user.email_change_requested', userId, details: { from: user.email, to } } };
    });
  }

  /**
   * An administrator gives the person a new address. It is unverified until a link to it is
   * followed (`sendVerification` mails one now); the old address is told. Another account having
   * the address is said plainly: administrators can list every account anyway.
   */
  changeByAdministrator(actor: Actor, userId: string, newEmail: string, options: { sendVerification?: boolean } = {}): Promise<User> {
    if (options.sendVerification && !this.on) return Promise.reject(verificationOff());
    const to = parsedEmail(newEmail);
    return this.#audited(actor, async (trx) => {
      const user = found(await this.deps.users.findById(userId, trx), 'person');
      if (options.sendVerification) refuseUnlessActive(user);
      if (user.email === to) throw new GatehouseError('invalid_input', 'That is already their email address.', 'email', { key: 'problem.alreadyTheirEmail' });
      const changed = found(await this.deps.users.replaceEmail(user.id, user.email, to, false, trx), 'person');
      await forgetPendingChange(trx, user.id);
      await this.deps.links.revokeAll(trx, user.id);
      // With verification off Gatehouse sends no mail about addresses at all (it may have no relay).
      if (this.on) await this.deps.mail.changed(trx, user, user.email, to, true);
      if (options.sendVerification) await this.deps.mail.sendLink(trx, changed, to, false);
      return {
        result: changed,
        event: { type: 'user.email_changed', userId, details: { from: user.email, to, verified: false, verificationSent: options.sendVerification === true } },
      };
    });
  }

  /** What a live link would do to `user` now, or undefined when it is dead (see the top of this file). */
  private async effectOf(db: Database, link: LinkRecord, user: User): Promise<LinkEffect | undefined> {
    if (link.email === user.email) return { kind: 'verify', email: link.email, name: user.name };
    const pending = await pendingChangeOf(db, user.id);
    if (!pending || pending.from !== user.email || pending.to !== link.email) return undefined;
    return { kind: 'change', email: link.email, name: user.name };
  }
}

/** A link mailed from here works only for an active account (see the top of this file): mailing one to any other would be mailing a dead link. */
function refuseUnlessActive(user: User): void {
  if (accountState(user) === 'active') return;
  throw new GatehouseError('conflict', 'This person has not finished signing up or accepted their invitation yet; the link from that mail verifies their address.', 'email', { key: 'problem.notActiveYet' });
}
