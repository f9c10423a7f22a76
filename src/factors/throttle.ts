// Guessing second-factor codes (authenticator app or recovery code), throttled per account: a
// sibling of the sign-in throttle (src/security/sign-in-throttle.ts) with counters of its own,
// because a correct password clears those, and whoever has the password must not get a fresh
// budget of code guesses each time they type it again.
//
//   burst   SHORT_LIMIT failures per SHORT_WINDOW: a typist's few mistakes, then a wait
//   day     DAY_LIMIT failures per day for the account, from anywhere
//
// A six-digit code accepted across three steps gives a guess a 3-in-a-million chance, so the day's
// budget keeps an attacker with the password near 1 in 10,000 a day. A success clears the burst
// counter only. Reserve-then-settle as for passwords: every attempt is counted before the code is
// checked, and a success hands its count back.
import type { Database } from '../db/knex.js';
import { throttleBlocks } from '../observability/metrics.js';
import { keyedDigest, type KeyedDigest } from '../security/keyed-digest.js';
import { countEach, reservation, settleAttempt, type Count, type CounterKey } from '../security/rate-limit-store.js';

const SHORT_LIMIT = 5;
const SHORT_WINDOW = 5 * 60;
const DAY_LIMIT = 30;
const DAY = 86_400;

export type FactorCheck =
  | { allowed: false; retryAfterSeconds: number }
  | { allowed: true; recordSuccess(): Promise<void> };

export class FactorThrottle {
  readonly #digest: KeyedDigest;

  constructor(private readonly db: Database, secret: Buffer) {
    this.#digest = keyedDigest(secret, 'second factor throttle');
  }

  /** Call before checking a code; a refused attempt must not be checked at all. */
  async check(userId: string): Promise<FactorCheck> {
    const key = this.#digest(userId);
    const burst: CounterKey = { prefix: 'factor_burst', key };
    const day: CounterKey = { prefix: 'factor_day', key };
    // One statement counts the attempt on both counters (the rows rate-limiter-flexible kept them in).
    const [burstCount, dayCount] = await countEach(this.db, [{ ...burst, durationSeconds: SHORT_WINDOW }, { ...day, durationSeconds: DAY }]) as [Count, Count];
    const over = [burstCount.points > SHORT_LIMIT ? burstCount.msBeforeNext : 0, dayCount.points > DAY_LIMIT ? dayCount.msBeforeNext : 0];
    const waitMs = Math.max(...over);
    if (waitMs > 0) {
      throttleBlocks.inc({ limit: 'second_factor' });
      // A refused attempt is handed back, to the windows it was counted in: hammering a closed
      // gate does not lengthen it, nor open the next one wider.
      await settleAttempt(this.db, { giveBack: [reservation(burst, burstCount), reservation(day, dayCount)] });
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    return {
      allowed: true,
      recordSuccess: () => settleAttempt(this.db, { remove: [burst], giveBack: [reservation(day, dayCount)] }),
    };
  }
}
