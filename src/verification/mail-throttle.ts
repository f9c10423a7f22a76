// How often a signed-in person may have verification mail sent (a link to their address, or a
// change to a new one): every such request mails someone, so an account or a browser left signed
// in must not become a way to flood an inbox. Counted per account and per client address, in the
// shared rate-limit store so every instance sees one count, each request before it is let through:
// requests sent at once cannot all pass a count none of them has added to yet (counting the links
// already issued let 15 requests sent at once mail 15 links). An administrator's requests are not
// counted: they are audited instead.
import type { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Database } from '../db/knex.js';
import { HOUR } from '../lifetimes.js';
import { networkOf } from '../security/client-address.js';
import { keyedDigest, type KeyedDigest } from '../security/keyed-digest.js';
import { countOne, databaseCounter } from '../security/rate-limit-store.js';

/** Links one account may be sent per hour: enough for a typo and a retry, too few to flood. */
export const MAILS_PER_ACCOUNT_PER_HOUR = 5;
/** Requests one client address may make per hour, whatever accounts it is signed in to. */
export const MAILS_PER_ADDRESS_PER_HOUR = 20;

export class VerificationMailThrottle {
  readonly #perAddress: RateLimiterPostgres;

  readonly #digest: KeyedDigest;

  /** `secret`: what the counters' keys are digested under, as every throttle keys what it stores. */
  constructor(private readonly db: Database, secret: Buffer, private readonly now: () => number = Date.now) {
    this.#perAddress = databaseCounter(db, { keyPrefix: 'verification_mail_ip', points: MAILS_PER_ADDRESS_PER_HOUR, duration: HOUR });
    this.#digest = keyedDigest(secret, 'verification mail');
  }

  /** Counts one request; true when it may send mail. A refused request is counted too. */
  async allow(userId: string, ip: string): Promise<boolean> {
    const fromAddress = await this.#perAddress.penalty(this.#digest('network', networkOf(ip)));
    if (fromAddress.consumedPoints > MAILS_PER_ADDRESS_PER_HOUR) return false;
    const fromAccount = await countOne(this.db, { prefix: 'verification_mail_account', key: this.#digest('account', userId), durationSeconds: HOUR }, this.now());
    return fromAccount.points <= MAILS_PER_ACCOUNT_PER_HOUR;
  }
}
