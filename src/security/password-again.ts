// A password typed again to confirm who is at the keyboard: before a mailed link is spent, an
// address changed, a passkey or an authenticator app removed. A browser left signed in must not be
// enough for any of these, and none of them may be a cheaper place to guess an account's password
// than the sign-in page: every check runs under the sign-in throttle, exactly as a sign-in does.
// Each page puts the refusal in its own words.
import type { Context } from 'koa';
import type { Problem } from '../http/forms.js';
import type { Words } from '../i18n/catalogs.js';
import { HashingBusy, MAX_PASSWORD_LENGTH } from '../people/passwords.js';
import type { UserStore } from '../people/users.js';
import type { KnownDevices } from './known-devices.js';
import { tooManyAttemptsMessage, type SignInThrottle } from './sign-in-throttle.js';

export interface PasswordAgainDependencies {
  users: Pick<UserStore, 'verifyPassword'>;
  throttle: SignInThrottle;
  knownDevices: KnownDevices;
}

/** Why a password typed again was not accepted; Retry-After is set for `throttled` and `busy`. */
export type PasswordRefusal =
  | { reason: 'missing' }
  | { reason: 'wrong' }
  /** Too many guesses at this account from here: `wait` says for how long, in the reader's words. */
  | { reason: 'throttled'; wait: Words }
  /** Too many passwords being checked at once; nobody looked at this one, and it does not count. */
  | { reason: 'busy' };

/** Checks `password` against the account's: undefined when it is right. */
export async function checkPasswordAgain(
  deps: PasswordAgainDependencies, ctx: Context, account: { id: string; email: string }, password: unknown,
): Promise<PasswordRefusal | undefined> {
  if (typeof password !== 'string' || password.length === 0) return { reason: 'missing' };
  // Longer than any password Gatehouse accepts: wrong without spending argon2 or a throttle slot on it.
  if (password.length > MAX_PASSWORD_LENGTH) return { reason: 'wrong' };
  const attempt = await deps.throttle.check({ email: account.email, address: ctx.ip, device: deps.knownDevices.deviceFor(ctx, account.email) });
  if (!attempt.allowed) {
    ctx.set('Retry-After', String(attempt.retryAfterSeconds));
    return { reason: 'throttled', wait: tooManyAttemptsMessage(attempt.retryAfterSeconds) };
  }
  let matches: boolean;
  try {
    matches = await deps.users.verifyPassword(account.id, password);
  } catch (error) {
    if (!(error instanceof HashingBusy)) throw error;
    await attempt.handBack();
    ctx.set('Retry-After', String(error.retryAfterSeconds));
    return { reason: 'busy' };
  }
  if (!matches) return { reason: 'wrong' };
  await attempt.recordSuccess();
  return undefined;
}

/** A page's words for each refusal: a form problem on `field` (a wrong password is 400 unless `wrongStatus` says otherwise). */
export function passwordProblem(refused: PasswordRefusal, field: string, words: { missing: Words; wrong: Words; busy: Words; wrongStatus?: number }): Problem {
  switch (refused.reason) {
    case 'missing': return { status: 400, message: words.missing, field };
    case 'wrong': return { status: words.wrongStatus ?? 400, message: words.wrong, field };
    case 'throttled': return { status: 429, message: refused.wait, field };
    case 'busy': return { status: 503, message: words.busy, field };
  }
}
