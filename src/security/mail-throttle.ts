// How often anyone may make Gatehouse mail a link ("forgot password", "email me a sign-in link").
// Each such form lets a stranger make Gatehouse write to any address: unthrottled, it mails a
// person until they block Gatehouse, and spends the relay's reputation. But a budget per address
// is also one a stranger can spend: if three requests an hour from anywhere used up an address's
// mail, anyone could keep a person from recovering their account. So, in fixed windows kept in the
// shared rate_limits table (rate-limit-store.ts) so every instance counts alike:
//   - per address, purpose and client network (client-address.ts): a few mails an hour, enough for
//     a person who did not get the first; one network spends only its own share;
//   - per address and purpose, all networks together: a cap on what many networks can send one
//     person. A browser the person signed in from before (known-devices.ts) is not held to it: it
//     has a few mails of its own, which no one without that browser's cookie can spend;
//   - per client network, across addresses and purposes: what one person plausibly asks for in an
//     hour, so one host cannot walk a list of addresses.
// Every window is counted on every request, whether or not the address names an account, so the
// counts (and the time they take) say nothing about which addresses do — until the network's
// window is full: then nothing is written at all, as the sign-in throttle does, so a host walking
// a list of made-up addresses adds no rows (two per address, kept an hour) once its share is
// spent. That depends only on the network, never on the address. Counting and the check are one
// statement (rate-limit-store.ts: countAttempt), so requests sent at once cannot all pass a
// window none of them has added to yet. Addresses are keyed digests. Each form that mails
// strangers has its own counters (`name`).
import type { Database } from '../db/knex.js';
import { networkOf } from './client-address.js';
import { keyedDigest, normaliseEmail, type KeyedDigest } from './keyed-digest.js';
import { HOUR } from '../lifetimes.js';
import { countAttempt, type Count, type CounterKey } from './rate-limit-store.js';

export interface MailLimits {
  /** Mails of one purpose to one address asked for from one network (or one known browser) per hour. */
  perAddressAndNetwork: number;
  /** Mails of one purpose to one address per hour from all networks together, known browsers aside. */
  perAddress: number;
  /** Link mails asked for from one network per hour, all addresses and purposes together. */
  perNetwork: number;
}

export const DEFAULT_MAIL_LIMITS: MailLimits = { perAddressAndNetwork: 3, perAddress: 10, perNetwork: 20 };

export interface MailRequest {
  purpose: string;
  email: string;
  ip: string;
  /** This browser's id when it has signed in to this address before (KnownDevices.deviceFor). */
  knownDevice?: string | undefined;
}

export class MailThrottle {
  readonly #digest: KeyedDigest;
  readonly #prefixes: { addressAndNetwork: string; address: string; network: string };

  /** `now`: the clock the windows are counted by (tests may move it). */
  constructor(private readonly db: Database, secret: Buffer, private readonly limits: MailLimits = DEFAULT_MAIL_LIMITS, name = 'mail', private readonly now: () => number = Date.now) {
    this.#digest = keyedDigest(secret, `${name} throttle`);
    // The prefixes (and keys) the counters had as RateLimiterPostgres counters: rows carry over.
    this.#prefixes = { addressAndNetwork: `${name}_address_network`, address: `${name}_address`, network: `${name}_network` };
  }

  /** Counts one request; true when none of its windows is full, so the mail may go. */
  async allow(request: MailRequest): Promise<boolean> {
    const address = normaliseEmail(request.email);
    // A known browser's own share stands in for its network's share and for the address's cap.
    const source = request.knownDevice ? ['device', request.knownDevice] : ['network', networkOf(request.ip)];
    const network: CounterKey = { prefix: this.#prefixes.network, key: this.#digest('network', networkOf(request.ip)) };
    const counted = await countAttempt(this.db, [
      { prefix: this.#prefixes.addressAndNetwork, key: this.#digest('address', request.purpose, address, ...source), durationSeconds: HOUR },
      { prefix: this.#prefixes.address, key: this.#digest('address', request.purpose, address), durationSeconds: HOUR },
      { ...network, durationSeconds: HOUR },
    ], { ...network, limit: this.limits.perNetwork }, this.now());
    if ('spentMsBeforeNext' in counted) return false;
    const [own, all, fromNetwork] = counted.counts as [Count, Count, Count];
    return own.points <= this.limits.perAddressAndNetwork
      && (request.knownDevice !== undefined || all.points <= this.limits.perAddress)
      && fromNetwork.points <= this.limits.perNetwork;
  }
}
