// The mails an address gets about itself: the verification link (to prove the address is the
// person's, or to move the account to a new one), and the notices to the address being left
// behind. Written inside the transaction of the act that causes them (the outbox's rule), so a
// link exists only if its mail will go. The link's URL is built from ISSUER, never from a request.
import type { Knex } from 'knex';
import type { Database } from '../db/knex.js';
import { renderMail } from '../email/templates.js';
import type { OneTimeLinks } from '../links/store.js';
import type { Outbox } from '../outbox/outbox.js';

/** How long a verification link works: a day covers a person who reads mail once a day. */
export const VERIFICATION_TTL_SECONDS = 24 * 60 * 60;

/** The page a verification link opens (src/verification/pages.ts). */
export const VERIFY_PAGE = '/verify-email';

/** Who a mail is about: the account's name, for the greeting. */
interface Addressee {
  id: string;
  name: string;
  /** The language they last used (signing in to the account pages that ask for these mails). */
  locale?: string | null;
}

// Subjects are catalog keys (locales/); the words of each mail's body are there too, through views/mail/.
const SUBJECTS = {
  verify: 'mail.verifyAddress.subject',
  change: 'mail.changeAddress.subject',
  changeRequested: 'mail.addressChangeRequested.subject',
  changed: 'mail.addressChanged.subject',
} as const;

export class AddressMail {
  constructor(
    private readonly links: OneTimeLinks,
    private readonly outbox: Outbox,
    private readonly issuer: string,
    /** DEFAULT_LOCALE: for a person who has never signed in (an administrator's change). */
    private readonly defaultLocale: string,
  ) {}

  /**
   * Issues a verification link for `email` and mails it there. `change`: the address is not yet
   * the account's, and following the link makes it so (the pending change must say so).
   */
  async sendLink(trx: Database, person: Addressee, email: string, change: boolean): Promise<void> {
    const { token } = await this.links.issue(trx, { purpose: 'verification', userId: person.id, email, ttlSeconds: VERIFICATION_TTL_SECONDS });
    const url = `${this.issuer}${VERIFY_PAGE}?token=${token}`;
    const hours = VERIFICATION_TTL_SECONDS / 3600;
    // A change's link goes to an address the account holder typed, which may be anyone's: the
    // account's chosen name stays out of it (as in src/enrolment/mail.ts), so no one can put words
    // of their choosing into a stranger's mailbox under Gatehouse's name.
    if (change) await this.send(trx, 'change-address', email, SUBJECTS.change, { email, url, hours }, person);
    else await this.send(trx, 'verify-address', email, SUBJECTS.verify, { name: person.name, email, url, hours }, person);
  }

  /** Tells the address being left that a change to `to` was asked for, before it happens. */
  changeRequested(trx: Database, person: Addressee, from: string, to: string): Promise<void> {
    return this.send(trx, 'address-change-requested', from, SUBJECTS.changeRequested, { name: person.name, to, accountUrl: `${this.issuer}/account` }, person);
  }

  /** Tells the address left behind that the account now has `to`. */
  changed(trx: Database, person: Addressee, from: string, to: string, byAdministrator: boolean): Promise<void> {
    return this.send(trx, 'address-changed', from, SUBJECTS.changed, { name: person.name, to, byAdministrator }, person);
  }

  private async send(trx: Database, template: string, to: string, subject: string, data: Record<string, unknown>, person: Addressee): Promise<void> {
    const locale = person.locale ?? this.defaultLocale;
    await this.outbox.enqueue(trx as Knex.Transaction, { kind: 'mail', payload: renderMail({ template, to, subject, data, locale }, this.issuer) });
  }
}
