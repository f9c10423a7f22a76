// The mails that bring a person into Gatehouse (issue #15, point 4): an invitation, whose link lets
// them choose their first password; a sign-up's verification, whose link makes the new account
// usable; and the note to an address's owner when someone signs up with it again. Each is written
// inside the transaction of the act that causes it (the outbox), with its one-time link
// (src/links/) issued in the same transaction: the link exists only if its mail goes.
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import { renderMail } from '../email/templates.js';
import { DAY, HOUR } from '../lifetimes.js';
import type { OneTimeLinks } from '../links/store.js';
import type { Outbox } from '../outbox/outbox.js';
import type { User } from '../people/users.js';

/**
 * An invitation waits a week: people are invited ahead of time and read mail when they can. Not
 * a setting: a shorter one is a re-invite away, and a longer one is a credential left lying about.
 */
export const INVITATION_TTL_SECONDS = 7 * DAY;
/** A sign-up is verified the same day or done again: nothing but the address waits on it. */
export const VERIFICATION_TTL_SECONDS = DAY;

export const INVITATION_PAGE = '/invitation';
export const SIGN_UP_PAGE = '/signup';
export const VERIFY_SIGN_UP_PAGE = '/signup/verify';

export type SignUpSetting = Config['signup'];

export interface EnrolmentMailDependencies {
  outbox: Outbox;
  links: OneTimeLinks;
  /** ISSUER: every link is built from it, never from a request's Host. */
  issuer: string;
  signup: SignUpSetting;
  /** DEFAULT_LOCALE: the language of mails to people who have not used Gatehouse yet. */
  defaultLocale: string;
}

export class EnrolmentMail {
  constructor(private readonly deps: EnrolmentMailDependencies) {}

  /** Whether admins may send invitations (SIGNUP=invite or open; with `closed` no mail is sent at all). */
  get invitationsOn(): boolean {
    return this.deps.signup !== 'closed';
  }

  /** Whether anyone may sign up on the sign-in page (SIGNUP=open). */
  get signUpOn(): boolean {
    return this.deps.signup === 'open';
  }

  get links(): OneTimeLinks {
    return this.deps.links;
  }

  /** Mails `person` an invitation; any earlier invitation link dies, so only the newest mail works. */
  async invite(trx: Database, person: User, invitedBy: string | undefined): Promise<{ expiresAt: Date }> {
    await this.deps.links.revokeAll(trx, person.id, 'invitation');
    const { token, expiresAt } = await this.deps.links.issue(trx, { purpose: 'invitation', userId: person.id, email: person.email, ttlSeconds: INVITATION_TTL_SECONDS });
    await this.#send(trx, person, 'invitation', 'mail.invitation.subject', {
      name: person.name,
      invitedBy,
      link: this.#link(INVITATION_PAGE, token),
      days: INVITATION_TTL_SECONDS / DAY,
    });
    return { expiresAt };
  }

  /** Mails a new sign-up the link that verifies its address and makes the account usable. */
  async verifySignUp(trx: Database, person: User): Promise<void> {
    await this.deps.links.revokeAll(trx, person.id, 'verification');
    const { token } = await this.deps.links.issue(trx, { purpose: 'verification', userId: person.id, email: person.email, ttlSeconds: VERIFICATION_TTL_SECONDS });
    // Not the name: whoever signs up chooses it, and it would be their words in a stranger's mailbox.
    await this.#send(trx, person, 'signup-verification', 'mail.signupVerification.subject', {
      link: this.#link(VERIFY_SIGN_UP_PAGE, token),
      hours: VERIFICATION_TTL_SECONDS / HOUR,
    });
  }

  /** Tells an account's owner that someone tried to sign up with their address (instead of saying so on the page). */
  async alreadyRegistered(trx: Database, owner: User): Promise<void> {
    await this.#send(trx, owner, 'signup-existing', 'mail.signupExisting.subject', {
      name: owner.name,
      signIn: `${this.deps.issuer}/account`,
    });
  }

  #link(page: string, token: string): string {
    return `${this.deps.issuer}${page}?token=${encodeURIComponent(token)}`;
  }

  /** In the person's language: the sign-up page's, or the one they last used, else DEFAULT_LOCALE (an invitation to someone new). */
  async #send(trx: Database, person: Pick<User, 'email' | 'locale'>, template: string, subject: string, data: Record<string, unknown>): Promise<void> {
    const message = renderMail({ template, to: person.email, subject, data, locale: person.locale ?? this.deps.defaultLocale }, this.deps.issuer);
    await this.deps.outbox.enqueue(trx as Knex.Transaction, { kind: 'mail', payload: message });
  }
}
