// Password hashing with argon2id at explicit, configurable cost. Parameters live in the encoded
// hash, so raising them takes effect for each person at their next sign-in (rehash on login).
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';
import argon2 from 'argon2';

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

export class PasswordHasher {
  /** A hash of a random password, verified against when the account does not exist, so unknown
   *  emails cost the same time as wrong passwords. */
  #decoy: Promise<string> | undefined;

  constructor(private readonly params: Argon2Parameters) {}

  hash(password: string): Promise<string> {
    return argon2.hash(password, this.options());
  }

  /** True when the password matches; never throws on a malformed stored hash. */
  async verify(storedHash: string, password: string): Promise<boolean> {
    // Still spend a verification's time, so an over-long password does not tell a known account
    // (instant refusal) from an unknown one (decoy verification).
    if (password.length > MAX_PASSWORD_LENGTH) return this.verifyDecoy(password);
    try {
      return await argon2.verify(storedHash, password);
    } catch {
      return false;
    }
  }

  /** Spend the time a real verification would, for an account that does not exist. */
  async verifyDecoy(password: string): Promise<false> {
    this.#decoy ??= this.hash(`decoy:${Math.random()}:${Date.now()}`);
    await this.verify(await this.#decoy, password.slice(0, MAX_PASSWORD_LENGTH));
    return false;
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

/** zxcvbn-ts with its common-password, name and English dictionaries, built on first use. */
function guessability(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english.dictionary },
    graphs: common.adjacencyGraphs,
    translations: english.translations,
  });
  return estimator;
}

/**
 * What is wrong with a new password, in words for the person choosing it; undefined when fine.
 * No composition rules (NIST SP 800-63B §3.1.1.2): length, and not a common or guessable password
 * (one of zxcvbn's lists, a keyboard pattern, the person's own email or name).
 */
export function checkNewPassword(password: string, personal: string[] = []): { code: PasswordProblem; message: string } | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) {
    return { code: 'too_short', message: `Use at least ${MIN_PASSWORD_LENGTH} characters.` };
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return { code: 'too_long', message: `Use at most ${MAX_PASSWORD_LENGTH} characters.` };
  }
  const { score, feedback } = guessability().check(password, personal);
  if (score <= 1 || /common|used password/i.test(feedback.warning ?? '')) {
    const why = feedback.warning ? `${feedback.warning} ` : 'This password is easy to guess. ';
    return { code: 'guessable', message: `${why}Try a few unrelated words, or a password manager's suggestion.` };
  }
  return undefined;
}
