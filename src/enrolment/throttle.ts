// How often the sign-up form may send mail: per address, so nobody can fill a stranger's mailbox
// with "confirm your account" or "someone tried to sign up" mails, and per network (an IPv4
// address, an IPv6 /64), so one place cannot send mail to many addresses. Counted in the shared
// rate-limit table (src/security/rate-limit-store.ts) under keyed digests: no address is stored.
// A throttled request gets the same page as any other (no enumeration); it only sends nothing.
import type { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Database } from '../db/knex.js';
import { HOUR } from '../lifetimes.js';
import { networkOf } from '../security/client-address.js';
import { keyedDigest, normaliseEmail, type KeyedDigest } from '../security/keyed-digest.js';
import { databaseCounter } from '../security/rate-limit-store.js';

/** Mails to one address per hour: a person who mistyped once and retried is well inside it. */
const PER_ADDRESS_PER_HOUR = 3;
/** Sign-ups from one network per hour: a household or an office, not a mail cannon. */
const PER_NETWORK_PER_HOUR = 10;

export class SignUpThrottle {
  readonly #perAddress: RateLimiterPostgres;
  readonly #perNetwork: RateLimiterPostgres;
  readonly #digest: KeyedDigest;

  constructor(db: Database, secret: Buffer) {
    this.#digest = keyedDigest(secret, 'sign-up mail throttle');
    this.#perAddress = databaseCounter(db, { keyPrefix: 'signup_address', points: PER_ADDRESS_PER_HOUR, duration: HOUR });
    this.#perNetwork = databaseCounter(db, { keyPrefix: 'signup_network', points: PER_NETWORK_PER_HOUR, duration: HOUR });
  }

  /** Counts one sign-up for the address and the network; true if both are within their limits. */
  async allow(email: string, ip: string): Promise<boolean> {
    const [address, network] = await Promise.all([
      this.#perAddress.penalty(this.#digest('address', normaliseEmail(email))),
      this.#perNetwork.penalty(this.#digest('network', networkOf(ip))),
    ]);
    return address.consumedPoints <= PER_ADDRESS_PER_HOUR && network.consumedPoints <= PER_NETWORK_PER_HOUR;
  }
}
