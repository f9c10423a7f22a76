// "Change password": the current password first, then a new one checked like at sign-up, and the
// offer (taken by default) to sign out every other session — where a thief's session would be —
// and the offer to end every app's offline access (refresh tokens survive signing out, so a thief
// who signed an app in keeps it). That one is unticked: it also ends the person's own apps on
// other devices, which only they can weigh; the apps signed in through this browser keep theirs.
import type { Context } from 'koa';
import { HashingBusy } from '../people/passwords.js';
import { isGatehouseError } from '../errors.js';
import { tooManyAttemptsMessage } from '../security/sign-in-throttle.js';
import { formBody, problemOf, type Problem } from '../http/forms.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { holderOf, noticeOf, seeOther } from './guard.js';

export const PASSWORD_PAGE = '/account/password';

/** Longer than any password we accept, so the checker (not this guard) says what is wrong. */
const MAX_TYPED = 1024;

interface PasswordForm {
  signOutOthers: boolean;
  endOfflineAccess: boolean;
}

function passwordOf(ctx: Context, name: string): string | undefined {
  const value = formBody(ctx)[name];
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TYPED ? value : undefined;
}

export function passwordPages(deps: SurfaceDependencies) {
  const { selfService, pages, csrf } = deps;

  function renderPassword(ctx: Context, form: PasswordForm, problem?: Problem) {
    const { person } = holderOf(ctx);
    pages.render(ctx, 'account/password', 'account.password.title', {
      person,
      signOutOthers: form.signOutOthers,
      endOfflineAccess: form.endOfflineAccess,
      notice: problem ? undefined : noticeOf(ctx),
      error: problem?.message,
      // Which field the message is about, so it is read out with that field.
      errorOn: problem ? (problem.field === 'currentPassword' ? 'current' : 'new') : undefined,
      action: PASSWORD_PAGE,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  function showPassword(ctx: Context) {
    // Both ticked: a thief who signed an app in with the password keeps its refresh token through
    // signing out; only ending offline access ends that.
    renderPassword(ctx, { signOutOthers: true, endOfflineAccess: true });
  }

  async function changePassword(ctx: Context) {
    const { actor, sessionHandle } = holderOf(ctx);
    const body = formBody(ctx);
    const form: PasswordForm = { signOutOthers: body.sign_out_others === 'yes', endOfflineAccess: body.end_offline_access === 'yes' };
    const current = passwordOf(ctx, 'current_password');
    const next = passwordOf(ctx, 'new_password');
    if (current === undefined) return renderPassword(ctx, form, { status: 400, message: 'problem.enterCurrentPassword', field: 'currentPassword' });
    if (next === undefined) return renderPassword(ctx, form, { status: 400, message: 'problem.enterNewPassword', field: 'password' });
    // A browser left signed in must not become a way to guess the password without the sign-in
    // page's limits: the current password is checked under the same throttle, counted first.
    const { person } = holderOf(ctx);
    const attempt = await deps.throttle.check({ email: person.email, address: ctx.ip, device: deps.knownDevices.deviceFor(ctx, person.email) });
    if (!attempt.allowed) {
      ctx.set('Retry-After', String(attempt.retryAfterSeconds));
      return renderPassword(ctx, form, { status: 429, message: tooManyAttemptsMessage(attempt.retryAfterSeconds), field: 'currentPassword' });
    }
    try {
      await selfService.changeOwnPassword(actor, current, next, {
        endOtherSessions: form.signOutOthers,
        revokeOfflineAccess: form.endOfflineAccess,
        currentHandle: sessionHandle,
      });
    } catch (error) {
      if (error instanceof HashingBusy) {
        await attempt.handBack();
        ctx.set('Retry-After', String(error.retryAfterSeconds));
        return renderPassword(ctx, form, { status: 503, message: 'problem.busy', field: 'currentPassword' });
      }
      if (!isGatehouseError(error)) throw error;
      // A weak new password is no guess at the current one: only a wrong current password counts.
      if (error.field !== 'currentPassword') await attempt.recordSuccess();
      return renderPassword(ctx, form, problemOf(error, 'problem.accountNotFound'));
    }
    await attempt.recordSuccess();
    const notice = form.endOfflineAccess
      ? (form.signOutOthers ? 'password-changed-all-ended' : 'password-changed-apps-ended')
      : (form.signOutOthers ? 'password-changed-others-ended' : 'password-changed');
    seeOther(ctx, PASSWORD_PAGE, notice);
  }

  return { showPassword, changePassword };
}
