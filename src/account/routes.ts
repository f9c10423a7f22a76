// The signed-in person's own account pages: who they are, the apps they let in, the browsers they
// are signed in on, their name, their email address, their password, and (ACCOUNT_SELF_DELETION)
// deleting the account. Every action goes through SelfService
// (self-service.ts), or Addresses (src/verification/) for the email address, with the person as the
// actor, so it is limited to their own things and audited like an admin's.
// /account/callback is not here: it belongs to the sign-in (src/oidc/account-sign-in.ts).
import Router from '@koa/router';
import type { Context } from 'koa';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { APPS_PAGE, appPages } from './apps.js';
import { EMAIL_PAGE, emailPages } from './email.js';
import { accountGuard, holderOf } from './guard.js';
import { PASSWORD_PAGE, passwordPages } from './password.js';
import { PROFILE_PAGE, profilePages } from './profile.js';
import { DELETE_PAGE, DELETED_PAGE, deletionPages } from './deletion.js';
import { SESSIONS_PAGE, sessionPages } from './sessions.js';
import { SECURITY_PAGE, TOTP_PAGE, securityPages } from '../factors/pages.js';

/** oidc-provider's end-session endpoint: it asks the person to confirm, then signs this browser out. */
const SIGN_OUT = '/session/end';

export function accountRoutes(deps: SurfaceDependencies): Router {
  const router = new Router();
  const { parseForm, requireCsrf, signedIn, recentSignIn, friendlyErrors } = accountGuard(deps);
  const { showApps, revokeApp } = appPages(deps);
  const { showSessions, endSession, endOtherSessions } = sessionPages(deps);
  const { showPassword, changePassword } = passwordPages(deps);
  const { showEmail, sendVerification, changeEmail } = emailPages(deps);
  const { showProfile, updateProfile } = profilePages(deps);
  const deletion = deletionPages(deps);
  const selfDeletion = deps.config.accountSelfDeletion;
  const security = securityPages(deps);

  function showAccount(ctx: Context) {
    const { person } = holderOf(ctx);
    deps.pages.render(ctx, 'account/home', 'account.home.title', {
      person,
      links: { apps: APPS_PAGE, sessions: SESSIONS_PAGE, password: PASSWORD_PAGE, email: EMAIL_PAGE, profile: PROFILE_PAGE, security: SECURITY_PAGE, delete: selfDeletion ? DELETE_PAGE : undefined },
      signOut: SIGN_OUT,
    });
  }

  // Runs for every route below (a router's middleware runs only when one of its routes matches).
  router.use(friendlyErrors);
  router.get('/account', signedIn(), showAccount);
  router.get(APPS_PAGE, signedIn(), showApps);
  router.post(`${APPS_PAGE}/revoke`, parseForm, requireCsrf, signedIn(APPS_PAGE), revokeApp);
  router.get(SESSIONS_PAGE, signedIn(), showSessions);
  router.post(`${SESSIONS_PAGE}/end`, parseForm, requireCsrf, signedIn(SESSIONS_PAGE), endSession);
  router.post(`${SESSIONS_PAGE}/end-others`, parseForm, requireCsrf, signedIn(SESSIONS_PAGE), endOtherSessions);
  router.get(PASSWORD_PAGE, signedIn(), showPassword);
  router.post(PASSWORD_PAGE, parseForm, requireCsrf, signedIn(PASSWORD_PAGE), changePassword);
  router.get(EMAIL_PAGE, signedIn(), showEmail);
  router.post(`${EMAIL_PAGE}/verify`, parseForm, requireCsrf, signedIn(EMAIL_PAGE), sendVerification);
  router.post(EMAIL_PAGE, parseForm, requireCsrf, signedIn(EMAIL_PAGE), changeEmail);
  router.get(PROFILE_PAGE, signedIn(), showProfile);
  router.post(PROFILE_PAGE, parseForm, requireCsrf, signedIn(PROFILE_PAGE), updateProfile);
  router.get(SECURITY_PAGE, signedIn(), security.showSecurity);
  // Adding a way in needs a recent sign-in (src/security/recent-sign-in.ts); removing one asks for proof itself.
  router.get(TOTP_PAGE, signedIn(), recentSignIn(TOTP_PAGE), security.showEnrolment);
  router.post(TOTP_PAGE, parseForm, requireCsrf, signedIn(TOTP_PAGE), recentSignIn(security.enrolmentPage), security.confirmEnrolment);
  router.post(`${SECURITY_PAGE}/remove`, parseForm, requireCsrf, signedIn(SECURITY_PAGE), security.removeFactor);
  router.post(`${SECURITY_PAGE}/recovery-codes`, parseForm, requireCsrf, signedIn(SECURITY_PAGE), security.newRecoveryCodes);
  if (selfDeletion) {
    router.get(DELETE_PAGE, signedIn(), recentSignIn(DELETE_PAGE), deletion.showDelete);
    router.post(DELETE_PAGE, parseForm, requireCsrf, signedIn(DELETE_PAGE), recentSignIn(DELETE_PAGE), deletion.deleteAccount);
    router.get(DELETED_PAGE, deletion.showDeleted);
  }
  return router;
}
