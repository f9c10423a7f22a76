// What every account page shares: who is signed in to this browser, the forms kit's steps
// (src/http/forms.ts) with this area's way back, and the only messages a redirect may carry.
import type { Context, Next } from 'koa';
import { isUsable, type User } from '../people/users.js';
import type { Actor } from '../audit/events.js';
import { refusedByDatabase } from '../db/errors.js';
import { isGatehouseError } from '../errors.js';
import { formParser, Notices, csrfGuard } from '../http/forms.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { RECENT_SIGN_IN_SECONDS, signedInRecently } from '../security/recent-sign-in.js';

/** The person the page is for: only ever the one signed in to this browser. */
export interface AccountHolder {
  person: User;
  actor: Actor;
  /** This browser's session, as session listings name it. */
  sessionHandle: string;
  /** Whether this browser's session signed in recently enough to add a way in (src/security/recent-sign-in.ts). */
  recent: boolean;
  /** When this browser's session signed in (seconds), if it says. */
  authTime: number | undefined;
}

export function holderOf(ctx: Context): AccountHolder {
  return ctx.state.accountHolder as AccountHolder;
}

/** What a page may say after a form, by the `notice` key of its address: catalog keys. */
const NOTICES = new Notices('notice', {
  'app-revoked': 'account.notice.app-revoked',
  'session-ended': 'account.notice.session-ended',
  'others-ended': 'account.notice.others-ended',
  'password-changed': 'account.notice.password-changed',
  'password-changed-others-ended': 'account.notice.password-changed-others-ended',
  'password-changed-apps-ended': 'account.notice.password-changed-apps-ended',
  'verification-sent': 'account.notice.verification-sent',
  'email-already-verified': 'account.notice.email-already-verified',
  'email-change-sent': 'account.notice.email-change-sent',
  'profile-updated': 'account.notice.profile-updated',
  'authenticator-added': 'account.notice.authenticator-added',
  'factor-removed': 'account.notice.factor-removed',
  'password-changed-all-ended': 'account.notice.password-changed-all-ended',
});

export function noticeOf(ctx: Context): string | undefined {
  return NOTICES.of(ctx);
}

/** After a POST, 303 to `location`, with the notice to show there. */
export const seeOther = NOTICES.seeOther;

/** The steps every account route is built from. */
export function accountGuard(deps: SurfaceDependencies) {
  const { pages, csrf } = deps;

  const parseForm = formParser();
  const requireCsrf = csrfGuard(csrf, pages, 'error.form_expired.hint.account');

  /**
   * Lets the request through only for a person signed in to this browser who may still sign in:
   * a disabled or deleted person is as good as signed out. Anyone else is sent to sign in and
   * brought back to `page` (for a GET, the very address asked for).
   */
  function signedIn(page?: string) {
    return async function requireSignedIn(ctx: Context, next: Next) {
      const current = await deps.signIn.current(ctx);
      const person = current ? await deps.users.findById(current.accountId) : undefined;
      if (!current || !person || !isUsable(person)) {
        const isRead = ctx.method === 'GET' || ctx.method === 'HEAD';
        // A session whose person is gone or disabled must not be taken as signed in by the
        // provider either: prompt=login makes it ask for the password (which then refuses them).
        deps.signIn.begin(ctx, isRead ? ctx.originalUrl : page ?? '/account', { forceLogin: current !== undefined });
        // A form posted while signed out changes nothing; the browser goes to sign in with a GET.
        if (!isRead) ctx.status = 303;
        return;
      }
      ctx.state.accountHolder = {
        person,
        actor: { type: 'user', id: person.id, ip: ctx.ip },
        sessionHandle: current.sessionHandle,
        recent: signedInRecently(current.authTime, (deps.now ?? Date.now)()),
        authTime: current.authTime,
      } satisfies AccountHolder;
      return next();
    };
  }

  /**
   * After signedIn: lets the request through only for a session that signed in recently. Any
   * other is sent to sign in again (max_age) and brought back to `page` (for a GET, the very
   * address asked for; for a form, `page` may read it); a form posted from a stale session does
   * nothing and is not replayed.
   *
   * `graceSeconds`: for the form that completes a ceremony only a recent session could begin (a
   * passkey's registration, whose challenge is issued to a recent session and lives that long),
   * a sign-in that was recent that much earlier still counts. Without it, an authenticator that
   * made its credential just before the limit would keep a passkey the server then refused.
   */
  function recentSignIn(page: string | ((ctx: Context) => string), graceSeconds = 0) {
    return async function requireRecentSignIn(ctx: Context, next: Next) {
      if (signedInRecently(holderOf(ctx).authTime, (deps.now ?? Date.now)() - graceSeconds * 1000)) return next();
      const isRead = ctx.method === 'GET' || ctx.method === 'HEAD';
      deps.signIn.begin(ctx, isRead ? ctx.originalUrl : typeof page === 'string' ? page : page(ctx), { maxAgeSeconds: RECENT_SIGN_IN_SECONDS });
      if (!isRead) ctx.status = 303;
    };
  }

  /**
   * Input a page did not catch itself (a malformed address, a value PostgreSQL refused): a page
   * saying so, never a 500. Anything else goes on to the server's error boundary.
   */
  async function friendlyErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      const refused = isGatehouseError(error) ? error : refusedByDatabase(error, deps.logger, ctx.state.requestId);
      if (!refused || (refused.code !== 'invalid_input' && refused.code !== 'not_found')) throw error;
      const notFound = refused.code === 'not_found';
      pages.error(ctx, {
        status: notFound ? 404 : 400,
        heading: notFound ? 'error.account.not_found.heading' : 'error.account.invalid.heading',
        message: notFound ? 'error.account.not_found.message' : 'error.account.invalid.message',
        hint: 'error.account.hint',
      });
    }
  }

  return { parseForm, requireCsrf, signedIn, recentSignIn, friendlyErrors };
}
