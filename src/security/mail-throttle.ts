// How often anyone may make Gatehouse mail a link ("forgot password", "email me a sign-in link").
// Each such form lets a stranger make Gatehouse write to any address: unthrottled, it mails a
// person until they block Gatehouse, and spends the relay's reputation. Two fixed windows, kept in
// the shared rate_limits table (rate-limit-store.ts) so every instance counts alike:
//   - per address and purpose: a few mails an hour, enough for a person who did not get the first;
//   - per client network (client-address.ts), across addresses and purposes: what one person
//     plausibly asks for in an hour, so one host cannot walk a list of addresses.
// Both are counted on every request, whether or not the address names an account, so the counts
// (and the time they take) say nothing about which addresses do. Addresses are keyed digests.
// Each form that mails strangers has its own counters (`name`): sign-up's budget is not recovery's.
import type { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Database } from '../db/knex.js';
import { networkOf } from './client-address.js';
import { keyedDigest, normaliseEmail, type KeyedDigest } from './keyed-digest.js';
import { HOUR } from '../lifetimes.js';
import { databaseCounter } from './rate-limit-store.js';

export interface MailLimits {
  /** Mails of one purpose to one address per hour. */
  perAddress: number;
  /** Link mails asked for from one network per hour, all addresses and purposes together. */
  perNetwork: number;
}

export const DEFAULT_MAIL_LIMITS: MailLimits = { perAddress: 3, perNetwork: 20 };

export class MailThrottle {
  readonly #digest: KeyedDigest;
  readonly #perAddress: RateLimiterPostgres;
  readonly #perNetwork: RateLimiterPostgres;

  constructor(db: Database, secret: Buffer, private readonly limits: MailLimits = DEFAULT_MAIL_LIMITS, name = 'mail') {
    this.#digest = keyedDigest(secret, `${name} throttle`);
    this.#perAddress = databaseCounter(db, { keyPrefix: `${name}_address`, points: limits.perAddress, duration: HOUR });
    this.#perNetwork = databaseCounter(db, { keyPrefix: `${name}_network`, points: limits.perNetwork, duration: HOUR });
  }

  /** Counts one request; true when neither window is full, so the mail may go. */
  async allow(request: { purpose: string; email: string; ip: string }): Promise<boolean> {
    const [address, network] = await Promise.all([
      this.#perAddress.penalty(this.#digest('address', request.purpose, normaliseEmail(request.email))),
      this.#perNetwork.penalty(this.#digest('network', networkOf(request.ip))),
    ]);
    return address.consumedPoints <= this.limits.perAddress && network.consumedPoints <= this.limits.perNetwork;
  }
}
