// The password a mailed link's confirm page asks for before the link is spent (sign-up
// verification, an address change). A link proves only that someone reads the mailbox; it does not
// prove that the mailbox holder is the person behind the account the link would give the address
// to. Without the account's password, a sign-up or change request made by someone else in the
// victim's name hands that someone a verified address at one click (account pre-hijacking). The
// check is the one every page that asks for a password again makes (password-again.ts).
import type { Context } from 'koa';
import type { Problem } from '../http/forms.js';
import { checkPasswordAgain, passwordProblem, type PasswordAgainDependencies } from './password-again.js';

export type LinkPasswordDependencies = PasswordAgainDependencies;

/** The form field's name on every confirm page that asks for it. */
export const LINK_PASSWORD_FIELD = 'password';

export const PASSWORD_NEEDED = 'problem.linkPasswordNeeded';
export const WRONG_PASSWORD = 'problem.linkPasswordWrong';

/**
 * Checks `password` against the account's. Undefined when it is right; otherwise the problem to
 * show on the same page (400 wrong or missing, 429 throttled, 503 busy), with Retry-After set.
 */
export async function checkLinkPassword(deps: LinkPasswordDependencies, ctx: Context, account: { id: string; email: string }, password: unknown): Promise<Problem | undefined> {
  const refused = await checkPasswordAgain(deps, ctx, account, password);
  return refused && passwordProblem(refused, LINK_PASSWORD_FIELD, { missing: PASSWORD_NEEDED, wrong: WRONG_PASSWORD, busy: 'problem.busy' });
}

/** Thrown by an act asked to spend a link that needs the account's password without proof of it. */
export class LinkPasswordRequired extends Error {
  constructor() {
    super('Following this link needs the password of the account it is for.');
    this.name = 'LinkPasswordRequired';
  }
}
