// The password a mailed link's confirm page asks for before the link is spent (sign-up
// verification, an address change). A link proves only that someone reads the mailbox; it does not
// prove that the mailbox holder is the person behind the account the link would give the address
// to. Without the account's password, a sign-up or change request made by someone else in the
// victim's name hands that someone a verified address at one click (account pre-hijacking). The
// check runs under the sign-in throttle, exactly as every other password guess does, so the confirm
// pages are no cheaper a place to guess an account's password than the sign-in page.
import type { Context } from 'koa';
import type { Problem } from '../http/forms.js';
import { HashingBusy, MAX_PASSWORD_LENGTH } from '../people/passwords.js';
import type { UserStore } from '../people/users.js';
import type { KnownDevices } from './known-devices.js';
import { tooManyAttemptsMessage, type SignInThrottle } from './sign-in-throttle.js';

export interface LinkPasswordDependencies {
  users: Pick<UserStore, 'verifyPassword'>;
  throttle: SignInThrottle;
  knownDevices: KnownDevices;
}

/** The form field's name on every confirm page that asks for it. */
export const LINK_PASSWORD_FIELD = 'password';

export const PASSWORD_NEEDED = 'problem.linkPasswordNeeded';
export const WRONG_PASSWORD = 'problem.linkPasswordWrong';

/**
 * Checks `password` against the account's. Undefined when it is right; otherwise the problem to
 * show on the same page (400 wrong or missing, 429 throttled, 503 busy), with Retry-After set.
 */
export async function checkLinkPassword(deps: LinkPasswordDependencies, ctx: Context, account: { id: string; email: string }, password: unknown): Promise<Problem | undefined> {
  if (typeof password !== 'string' || password.length === 0) return { status: 400, message: PASSWORD_NEEDED, field: LINK_PASSWORD_FIELD };
  // Longer than any password Gatehouse accepts: wrong without spending argon2 or a throttle slot on it.
  if (password.length > MAX_PASSWORD_LENGTH) return { status: 400, message: WRONG_PASSWORD, field: LINK_PASSWORD_FIELD };
  const attempt = await deps.throttle.check({ email: account.email, address: ctx.ip, device: deps.knownDevices.deviceFor(ctx, account.email) });
  if (!attempt.allowed) {
    ctx.set('Retry-After', String(attempt.retryAfterSeconds));
    return { status: 429, message: tooManyAttemptsMessage(attempt.retryAfterSeconds), field: LINK_PASSWORD_FIELD };
  }
  let matches: boolean;
  try {
    matches = await deps.users.verifyPassword(account.id, password);
  } catch (error) {
    if (!(error instanceof HashingBusy)) throw error;
    // Nobody looked at the password: the attempt must not count against the account.
    await attempt.handBack();
    ctx.set('Retry-After', String(error.retryAfterSeconds));
    return { status: 503, message: 'problem.busy', field: LINK_PASSWORD_FIELD };
  }
  if (!matches) return { status: 400, message: WRONG_PASSWORD, field: LINK_PASSWORD_FIELD };
  await attempt.recordSuccess();
  return undefined;
}

/** Thrown by an act asked to spend a link that needs the account's password without proof of it. */
export class LinkPasswordRequired extends Error {
  constructor() {
    super('Following this link needs the password of the account it is for.');
    this.name = 'LinkPasswordRequired';
  }
}
