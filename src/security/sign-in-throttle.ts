// Sign-in throttling against online password guessing: brute force on one account, credential
// stuffing (many accounts, one password list) and spraying (one password, many accounts). State
// lives in PostgreSQL (rate-limit-store.ts), so limits hold across instances and restarts. An
// attempt costs two statements: one reserves it on every counter, one settles it.
//
// Three counters, each a fixed window, each keyed on a keyed digest (no email or address is
// stored; rows go when their window ends):
//
//   (a) pair     failures for one email from one network (an IPv4 address, an IPv6 /64), or from
//                one known browser (known-devices.ts). The first SIGNIN_MAX_CONSECUTIVE_FAILURES
//                (5) are free — people mistype — and each one after that opens a gate that
//                lets one attempt through per 1, 2, 4, … seconds, doubling up to
//                SIGNIN_MAX_BLOCK_SECONDS (15 min, reached at failure 16). Remembered for a day
//                from the first failure; a successful sign-in clears it. Guessing one account
//                from one place thus gets ~100 tries a day, a typist a few seconds' wait.
//   (b) account  failures for one email from anywhere: SIGNIN_ACCOUNT_MAX_FAILURES (20) per
//                SIGNIN_MAX_BLOCK_SECONDS window, then refused until the window ends (≤ 15 min).
//                Stops stuffing spread over many addresses (≤ ~1,900 tries a day against a
//                password zxcvbn already rated hard to guess). A successful sign-in resets it.
//   (c) address  failures from one network across all emails: SIGNIN_IP_MAX_FAILURES (100) per
//                day. Stops one place spraying many accounts; a day because a sprayer's budget
//                is what matters, and 100 is well above what one office's typos produce.
//
// Nothing is permanent: every refusal ends with its window, and the longest account-wide block
// is SIGNIN_MAX_BLOCK_SECONDS. Browsers the person signed in from before skip (b) and (c)
// altogether, so an attacker elsewhere cannot keep the owner out by failing on purpose.
//
// Reserve, then settle: each attempt is counted as a failure (one atomic upsert of all its counters)
// *before* the password is checked, and the reservation is released if the sign-in succeeds.
// Checking first and counting after the argon2 verification would let a burst of concurrent
// guesses all pass the check before any of them was counted. A refused attempt is refused before
// any password verification — it costs no argon2 time and reveals nothing about the password —
// and its reservations are handed back, so hammering a closed gate neither lengthens the block
// nor counts towards the account's limit. The counters know nothing about whether an email
// belongs to anyone: known and unknown emails are counted, refused and worded alike.
//
// A success clears (a) and (b) for the email it signed in to, and releases only its own
// reservation on (c): signing in to one's own account does nothing for an address's budget
// against other accounts.
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import type { Message } from '../i18n/catalogs.js';
import { throttleBlocks } from '../observability/metrics.js';
import { networkOf } from './client-address.js';
import { keyedDigest, normaliseEmail, type KeyedDigest } from './keyed-digest.js';
import { countAttempt, countOne, reservation, settleAttempt, type Count, type CounterKey } from './rate-limit-store.js';

export type SignInThrottleSettings = Config['signIn'];

const DAY = 86_400;
/** The pair's gate: a counter in the same table, whose row a success deletes with the others. */
const GATE_PREFIX = 'signin_gate';
/** The first delay after the free failures; each further failure doubles it. */
const FIRST_DELAY_SECONDS = 1;

export interface SignInAttemptSource {
  email: string;
  /** The client address (ctx.ip). */
  address: string;
  /** The browser's id when it has signed in to this email before (KnownDevices.deviceFor). */
  device?: string | undefined;
}

export type SignInCheck =
  | { allowed: false; retryAfterSeconds: number }
  /**
   * Counted as a failure already; call recordSuccess() if the password turns out right, or
   * handBack() if it was never checked (the server was too busy), so overload costs nobody a try.
   */
  | { allowed: true; recordSuccess(): Promise<void>; handBack(): Promise<void> };

export class SignInThrottle {
  readonly #digest: KeyedDigest;

  /** `now` is the clock every window is measured by (tests hold it still). */
  constructor(private readonly db: Database, private readonly settings: SignInThrottleSettings, secret: Buffer, private readonly now: () => number = Date.now) {
    this.#digest = keyedDigest(secret, 'sign-in throttle');
  }

  /** Call before verifying the password; a refused attempt must not be verified at all. */
  async check(source: SignInAttemptSource): Promise<SignInCheck> {
    const email = normaliseEmail(source.email);
    const network = networkOf(source.address);
    const known = source.device !== undefined;
    const pair: CounterKey = { prefix: 'signin_pair', key: known ? this.#digest('device', email, source.device!) : this.#digest('pair', email, network) };
    const account: CounterKey = { prefix: 'signin_account', key: this.#digest('account', email) };
    const address: CounterKey = { prefix: 'signin_address', key: this.#digest('address', network) };
    const { maxConsecutiveFailures, accountMaxFailures, ipMaxFailures, maxBlockSeconds } = this.settings;
    const now = this.now();

    // One statement reserves the attempt on every counter — unless the address has used up its
    // day: then nothing is written (no rows for the often made-up emails it keeps trying) and it
    // is refused before any argon2. (Refused attempts are handed back, so a spent counter sits
    // exactly at its limit.)
    const counted = await countAttempt(this.db, [
      { ...pair, durationSeconds: DAY },
      ...(known ? [] : [{ ...account, durationSeconds: maxBlockSeconds }, { ...address, durationSeconds: DAY }]),
    ], known ? undefined : { ...address, limit: ipMaxFailures }, now);
    if ('spentMsBeforeNext' in counted) {
      throttleBlocks.inc({ limit: 'sign_in_address' });
      return { allowed: false, retryAfterSeconds: Math.ceil(Math.max(counted.spentMsBeforeNext, 1) / 1000) };
    }
    const [pairCount, accountCount, addressCount] = counted.counts as [Count, Count | undefined, Count | undefined];

    const accountWaitMs = msUntilReopened(accountCount, accountMaxFailures);
    const addressWaitMs = msUntilReopened(addressCount, ipMaxFailures);
    let waitMs = Math.max(accountWaitMs, addressWaitMs);
    // Which counter refused, for the metrics: the one that keeps the attempt waiting longest.
    let limit = accountWaitMs >= addressWaitMs ? 'sign_in_account' : 'sign_in_address';
    if (waitMs === 0 && pairCount.points > maxConsecutiveFailures) {
      // One attempt per gate window: the first to arrive opens it (a fresh row), every other
      // attempt until it closes finds it taken. The window grows with the failures so far.
      const gate = await countOne(this.db, { prefix: GATE_PREFIX, key: pair.key, durationSeconds: this.#delayAfter(pairCount.points) }, now);
      if (gate.points > 1) waitMs = Math.max(gate.msBeforeNext, 1);
      limit = 'sign_in_pair';
    }

    const reserved = known ? [reservation(pair, pairCount)] : [reservation(pair, pairCount), reservation(account, accountCount!), reservation(address, addressCount!)];
    const handBack = () => settleAttempt(this.db, { giveBack: reserved }, this.now());
    if (waitMs > 0) {
      throttleBlocks.inc({ limit });
      await handBack();
      return { allowed: false, retryAfterSeconds: Math.ceil(waitMs / 1000) };
    }

    return {
      allowed: true,
      handBack,
      // The email's failures go (and the pair's gate with them); the address gets back only this
      // attempt's reservation.
      recordSuccess: () => settleAttempt(this.db, { remove: [pair, { prefix: GATE_PREFIX, key: pair.key }, account], giveBack: known ? [] : [reservation(address, addressCount!)] }, this.now()),
    };
  }

  /** Seconds the pair waits after its nth failure (n beyond the free ones): 1, 2, 4, … capped. */
  #delayAfter(failures: number): number {
    const beyond = failures - this.settings.maxConsecutiveFailures;
    return Math.min(FIRST_DELAY_SECONDS * 2 ** Math.min(beyond - 1, 30), this.settings.maxBlockSeconds);
  }
}

/** Milliseconds until a counter over its limit reopens; 0 when it is within it. */
function msUntilReopened(count: Count | undefined, limit: number): number {
  return count && count.points > limit ? Math.max(count.msBeforeNext, 0) : 0;
}

/** What a refused person reads (a catalog message): the same for every email, known or not. */
export function tooManyAttemptsMessage(seconds: number): Message {
  if (seconds < 120) return { key: 'throttle.tooManyAttempts.seconds', values: { count: seconds } };
  if (seconds < 2 * 3600) return { key: 'throttle.tooManyAttempts.minutes', values: { count: Math.ceil(seconds / 60) } };
  return { key: 'throttle.tooManyAttempts.hours', values: { count: Math.ceil(seconds / 3600) } };
}
