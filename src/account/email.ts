// "Email address": whether the person's address is verified (and a link to verify it), and
// changing it. A change asks for the current password (a browser left signed in must not be
// enough to move the account's mail elsewhere), checked under the sign-in throttle like the
// password page's; then the new address gets a link and the old one a notice, and nothing changes
// until that link is followed (src/verification/addresses.ts). Every mail is throttled per account
// and per client address. These answers may be plain about the person's own address: only whether
// another account has the new one is kept from this page (the link's page says that).
import type { Context } from 'koa';
import { isGatehouseError } from '../errors.js';
import { formBody, formValue, problemOf, type Problem } from '../http/forms.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { checkPasswordAgain, passwordProblem } from '../security/password-again.js';
import { newAddressFor } from '../verification/addresses.js';
import { holderOf, noticeOf, seeOther } from './guard.js';

export const EMAIL_PAGE = '/account/email';

const TOO_MANY_MAILS = 'problem.tooManyMails';

export function emailPages(deps: SurfaceDependencies) {
  const { addresses, pages, csrf } = deps;

  async function renderEmail(ctx: Context, problem?: Problem, typed?: string) {
    const { person } = holderOf(ctx);
    const pending = await addresses.pendingChange(person);
    pages.render(ctx, 'account/email', 'account.email.title', {
      person,
      pending: pending?.to,
      newEmail: typed ?? '',
      notice: problem ? undefined : noticeOf(ctx),
      error: problem?.message,
      errorOn: problem?.field === 'currentPassword' ? 'current' : problem ? 'email' : undefined,
      verificationOn: addresses.on,
      verifyAction: `${EMAIL_PAGE}/verify`,
      changeAction: EMAIL_PAGE,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  function showEmail(ctx: Context) {
    return renderEmail(ctx);
  }

  async function sendVerification(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    if (person.emailVerified) return seeOther(ctx, EMAIL_PAGE, 'email-already-verified');
    if (!(await deps.verificationMail.allow(person.id, ctx.ip))) return renderEmail(ctx, { status: 429, message: TOO_MANY_MAILS });
    try {
      await addresses.sendVerification(actor, person.id);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return renderEmail(ctx, problemOf(error, 'problem.accountNotFound'));
    }
    seeOther(ctx, EMAIL_PAGE, 'verification-sent');
  }

  async function changeEmail(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    const body = formBody(ctx);
    const typed = typeof body.new_email === 'string' ? body.new_email.slice(0, 254) : '';
    const newEmail = formValue(ctx, 'new_email', 254);
    if (newEmail === undefined) return renderEmail(ctx, { status: 400, message: 'problem.enterNewEmail', field: 'email' }, typed);
    try {
      newAddressFor(person.email, newEmail);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return renderEmail(ctx, problemOf(error), typed);
    }
    const refused = await checkPasswordAgain(deps, ctx, person, body.current_password);
    if (refused) return renderEmail(ctx, passwordProblem(refused, 'currentPassword', { missing: 'problem.enterCurrentPassword', wrong: 'problem.wrongCurrentPassword', busy: 'problem.busy' }), typed);
    if (!(await deps.verificationMail.allow(person.id, ctx.ip))) return renderEmail(ctx, { status: 429, message: TOO_MANY_MAILS }, typed);
    try {
      await addresses.requestChange(actor, person.id, newEmail);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return renderEmail(ctx, problemOf(error, 'problem.accountNotFound'), typed);
    }
    seeOther(ctx, EMAIL_PAGE, 'email-change-sent');
  }

  return { showEmail, sendVerification, changeEmail };
}
