// How often a signed-in person may have verification mail sent (a link to their address, or a
// change to a new one): every such request mails someone, so an account or a browser left signed
// in must not become a way to flood an inbox. Counted per account (the links it was issued, which
// the links table already records) and per client address, in the shared rate-limit store so every
// instance sees one count. An administrator's requests are not counted: they are audited instead.
import type { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Database } from '../db/knex.js';
import type { OneTimeLinks } from '../links/store.js';
import { HOUR } from '../lifetimes.js';
import { networkOf } from '../security/client-address.js';
import { databaseCounter } from '../security/rate-limit-store.js';

/** Links one account may be sent per hour: enough for a typo and a retry, too few to flood. */
export const MAILS_PER_ACCOUNT_PER_HOUR = 5;
/** Requests one client address may make per hour, whatever accounts it is signed in to. */
export const MAILS_PER_ADDRESS_PER_HOUR = 20;

export class VerificationMailThrottle {
  readonly #perAddress: RateLimiterPostgres;

  constructor(db: Database, private readonly links: OneTimeLinks, private readonly now: () => number = Date.now) {
    this.#perAddress = databaseCounter(db, { keyPrefix: 'verification_mail_ip', points: MAILS_PER_ADDRESS_PER_HOUR, duration: HOUR });
  }

  /** Counts one request; true when it may send mail. A refused request is counted too. */
  async allow(userId: string, ip: string): Promise<boolean> {
    const fromAddress = await this.#perAddress.penalty(networkOf(ip));
    if (fromAddress.consumedPoints > MAILS_PER_ADDRESS_PER_HOUR) return false;
    const issued = await this.links.countIssuedSince(userId, 'verification', this.now() - HOUR * 1000);
    return issued < MAILS_PER_ACCOUNT_PER_HOUR;
  }
}
