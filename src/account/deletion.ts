// "Delete your account" (ACCOUNT_SELF_DELETION): what goes with it, then the current password.
// The routes also need a sign-in of the last 15 minutes (src/security/recent-sign-in.ts), which
// asks for every factor the person has: a browser left signed in, or a session cookie taken, is
// not enough to erase someone. The password is checked under the sign-in throttle, as on every
// page that asks for it again. An administrator's account is not deleted here: another
// administrator does it in the console, so the last one cannot lock everyone out by accident.
import type { Context } from 'koa';
import { formBody, type Problem } from '../http/forms.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { checkPasswordAgain, passwordProblem } from '../security/password-again.js';
import { holderOf, seeOther } from './guard.js';

export const DELETE_PAGE = '/account/delete';
/** Where the browser lands once the account is gone: a page for nobody in particular. */
export const DELETED_PAGE = '/account/deleted';

export function deletionPages(deps: SurfaceDependencies) {
  const { selfService, pages, csrf } = deps;

  function renderDelete(ctx: Context, problem?: Problem) {
    const { person } = holderOf(ctx);
    pages.render(ctx, 'account/delete', 'account.delete.title', {
      person,
      administrator: person.isAdmin,
      error: problem?.message,
      errorOn: problem ? 'current' : undefined,
      action: DELETE_PAGE,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  function showDelete(ctx: Context) {
    renderDelete(ctx);
  }

  async function deleteAccount(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    if (person.isAdmin) {
      renderDelete(ctx);
      ctx.status = 403;
      return;
    }
    const refused = await checkPasswordAgain(deps, ctx, person, formBody(ctx).current_password);
    if (refused) return renderDelete(ctx, passwordProblem(refused, 'currentPassword', { missing: 'problem.enterCurrentPassword', wrong: 'problem.wrongCurrentPassword', busy: 'problem.busy' }));
    await selfService.deleteOwnAccount(actor);
    seeOther(ctx, DELETED_PAGE);
  }

  function showDeleted(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    pages.render(ctx, 'account/deleted', 'account.deleted.title', { mailed: deps.config.emailNotifications });
  }

  return { showDelete, deleteAccount, showDeleted };
}
