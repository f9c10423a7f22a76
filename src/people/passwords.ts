// Password hashing with argon2id at explicit, configurable cost. Parameters live in the encoded
// hash, so raising them takes effect for each person at their next sign-in (rehash on login).
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';
import { SpanStatusCode } from '@opentelemetry/api';
import argon2 from 'argon2';
import { passwordHashingBusy } from '../observability/metrics.js';
import { tracer } from '../observability/tracing.js';
import type { Message } from '../i18n/catalogs.js';

export interface Argon2Parameters {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

/**
 * Longer inputs are refused before hashing: argon2 cost does not grow with length, but a cap keeps
 * request bodies and comparisons bounded, and nobody types a 1 KiB password. 128 comfortably
 * covers passphrases and password-manager output.
 */
export const MAX_PASSWORD_LENGTH = 128;
export const MIN_PASSWORD_LENGTH = 8;

/** How much argon2 work may run and wait at once (ARGON2_CONCURRENCY, ARGON2_QUEUE). */
export interface HashingBound {
  concurrency: number;
  queue: number;
}

/**
 * argon2 is at its bound: the caller answers "busy, try again" (503) at once. Waiting longer would
 * only hold a request slot the token endpoints need, and the person's retry costs the same.
 */
export class HashingBusy extends Error {
  readonly status = 503;
  readonly retryAfterSeconds = 2;
  constructor() {
    super('Too many sign-ins are being checked right now.');
    this.name = 'HashingBusy';
  }
}

/**
 * A counting semaphore with a bounded queue. Each argon2 run holds one of libuv's threads (4 by
 * default, shared with DNS and the file system) and ARGON2_MEMORY_KIB of memory, so unbounded
 * sign-ins would both starve the rest of the process and make every one of them slow.
 */
class HashingSlots {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(private readonly bound: HashingBound) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running < this.bound.concurrency) {
      this.#running += 1;
    } else {
      if (this.#waiting.length >= this.bound.queue) {
        passwordHashingBusy.inc();
        throw new HashingBusy();
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next in line, so nobody arriving meanwhile overtakes it.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }
}

export class PasswordHasher {
  /** A hash of a random password, verified against when the account does not exist, so unknown
   *  emails cost the same time as wrong passwords. */
  #decoy: Promise<string> | undefined;
  readonly #slots: HashingSlots | undefined;

  /** Without a bound (the CLI, one command at a time), every hash runs at once. */
  constructor(private readonly params: Argon2Parameters, bound?: HashingBound) {
    this.#slots = bound ? new HashingSlots(bound) : undefined;
  }

  /** @throws HashingBusy when the bound is reached. */
  hash(password: string): Promise<string> {
    return this.#bounded('argon2.hash', () => argon2.hash(password, this.options()));
  }

  /** True when the password matches; never throws on a malformed stored hash. */
  async verify(storedHash: string, password: string): Promise<boolean> {
    // Still spend a verification's time, so an over-long password does not tell a known account
    // (instant refusal) from an unknown one (decoy verification).
    if (password.length > MAX_PASSWORD_LENGTH) return this.verifyDecoy(password);
    return this.#bounded('argon2.verify', async () => {
      try {
        return await argon2.verify(storedHash, password);
      } catch {
        return false;
      }
    });
  }

  /** Spend the time a real verification would, for an account that does not exist. */
  async verifyDecoy(password: string): Promise<false> {
    // A busy refusal must not become the decoy for good: the next unknown email tries again.
    this.#decoy ??= this.hash(`decoy:${Math.random()}:${Date.now()}`).catch((error: unknown) => {
      this.#decoy = undefined;
      throw error;
    });
    await this.verify(await this.#decoy, password.slice(0, MAX_PASSWORD_LENGTH));
    return false;
  }

  /** Runs `work` within the bound, as a span of the request's trace (its wait for a slot included). */
  #bounded<T>(name: string, work: () => Promise<T>): Promise<T> {
    return tracer().startActiveSpan(name, { attributes: { 'gatehouse.argon2.memory_kib': this.params.memoryKiB, 'gatehouse.argon2.time_cost': this.params.timeCost } }, async (span) => {
      try {
        return await (this.#slots ? this.#slots.run(work) : work());
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  needsRehash(storedHash: string): boolean {
    try {
      return argon2.needsRehash(storedHash, this.options());
    } catch {
      return true;
    }
  }

  private options() {
    return {
      type: argon2.argon2id,
      memoryCost: this.params.memoryKiB,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    } as const;
  }
}

export type PasswordProblem = 'too_short' | 'too_long' | 'guessable';

let estimator: ZxcvbnFactory | undefined;

/**
 * How much of a new password zxcvbn reads, and how many l33t substitutions (4 for a, $ for s, …)
 * it tries. zxcvbn runs on the event loop, and its l33t matcher grows with both: at its defaults
 * (256 characters, 100 substitutions) one crafted 128-character password cost about a second of
 * CPU, and a crafted name and email (its personal dictionary) doubled that — a free way to stall an
 * instance from any form that sets a password. Capped, the worst case measured is about 30 ms,
 * and the scores of ordinary passwords are the same: a password whose first 64 characters are not
 * guessable is not guessable, and one that needs more than 8 substitutions to reach a word is no
 * longer that word.
 */
export const GUESSABILITY_LIMITS = { maxLength: 64, l33tMaxSubstitutions: 8 } as const;

/** zxcvbn-ts with its common-password, name and English dictionaries, built on first use. */
function guessability(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english.dictionary },
    graphs: common.adjacencyGraphs,
    translations: english.translations,
    ...GUESSABILITY_LIMITS,
  });
  return estimator;
}

/**
 * What is wrong with a new password, in words for the person choosing it (`message` in English for
 * the CLI and admin API, `words` from the catalogs for pages); undefined when fine.
 * No composition rules (NIST SP 800-63B §3.1.1.2): length, and not a common or guessable password
 * (one of zxcvbn's lists, a keyboard pattern, the person's own email or name).
 */
export function checkNewPassword(password: string, personal: string[] = []): { code: PasswordProblem; message: string; words: Message } | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) {
    return { code: 'too_short', message: `Use at least ${MIN_PASSWORD_LENGTH} characters.`, words: { key: 'password.tooShort', values: { count: MIN_PASSWORD_LENGTH } } };
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return { code: 'too_long', message: `Use at most ${MAX_PASSWORD_LENGTH} characters.`, words: { key: 'password.tooLong', values: { count: MAX_PASSWORD_LENGTH } } };
  }
  const { score, feedback } = guessability().check(password, personal);
  if (score <= 1 || /common|used password/i.test(feedback.warning ?? '')) {
    const why = feedback.warning ? `${feedback.warning} ` : 'This password is easy to guess. ';
    // The checker's own warning is in English: other languages say it in general words.
    return { code: 'guessable', message: `${why}Try a few unrelated words, or a password manager's suggestion.`, words: { key: 'password.guessable', values: { warning: why } } };
  }
  return undefined;
}
