// The pages a mailed link or the sign-in page's "Create an account" opens: accepting an invitation,
// signing up (only with SIGNUP=open: otherwise these routes do not exist, so they answer 404), and
// confirming a sign-up's address. A link's GET only shows a form, since mail scanners follow
// links; the form's POST spends it. A sign-up's confirm form also asks for the password chosen at
// sign-up (src/security/link-password.ts says why), and a wrong one leaves the link usable. The
// token travels in the query string (never logged: the request log keeps the path only; pages
// send no Referer) and then in the form's body.
import Router from '@koa/router';
import type { Context } from 'koa';
import { field, formBody, formParser, csrfGuard, problemOf, seeOther, type Problem } from '../http/forms.js';
import type { CsrfProtection } from '../http/csrf.js';
import type { Pages } from '../http/pages.js';
import { isGatehouseError } from '../errors.js';
import { checkLinkPassword, LINK_PASSWORD_FIELD, type LinkPasswordDependencies } from '../security/link-password.js';
import type { Enrolment } from './acts.js';
import { INVITATION_PAGE, SIGN_UP_PAGE, VERIFY_SIGN_UP_PAGE } from './mail.js';

/** Where "Sign in" leads: the account page, which starts a sign-in and comes back to it. */
const SIGN_IN = '/account';
const SIGN_UP_SENT = `${SIGN_UP_PAGE}/sent`;

export interface EnrolmentPageDependencies extends LinkPasswordDependencies {
  enrolment: Enrolment;
  pages: Pages;
  csrf: CsrfProtection;
  /** Where a person who just became able to sign in may add a passkey; undefined where passkeys are not offered. */
  passkeysPage?: string | undefined;
}

export function enrolmentRoutes(deps: EnrolmentPageDependencies): Router {
  const { enrolment, pages, csrf } = deps;
  const router = new Router();
  const parseForm = formParser();
  const requireCsrf = csrfGuard(csrf, pages, 'error.form_expired.hint.link');

  /** A link that is spent, expired, replaced or made up: a friendly 410, never a hint which. */
  function linkDead(ctx: Context, kind: 'invitation' | 'verification') {
    pages.render(ctx, 'enrolment/link-dead', 'enrolment.dead.title', { kind, signIn: SIGN_IN, signUp: SIGN_UP_PAGE }, 410);
  }

  function ready(ctx: Context, how: 'invitation' | 'verification', email: string) {
    pages.render(ctx, 'enrolment/ready', 'enrolment.ready.title', { how, email, signIn: SIGN_IN, addPasskey: deps.passkeysPage });
  }

  async function showInvitation(ctx: Context, problem?: Problem) {
    const token = ctx.method === 'POST' ? field(formBody(ctx), 'token') : field(ctx.query, 'token');
    const person = await enrolment.openInvitation(token);
    if (!person) return linkDead(ctx, 'invitation');
    pages.render(ctx, 'enrolment/invitation', 'enrolment.invitation.title', {
      name: person.name, email: person.email, token, action: INVITATION_PAGE, csrf: csrf.token(ctx), problem: problem?.message,
    }, problem?.status);
  }

  async function acceptInvitation(ctx: Context) {
    const body = formBody(ctx);
    try {
      const person = await enrolment.acceptInvitation(field(body, 'token'), field(body, 'password'), ctx.ip);
      if (!person) return linkDead(ctx, 'invitation');
      ready(ctx, 'invitation', person.email);
    } catch (error) {
      if (!isGatehouseError(error, 'weak_password')) throw error;
      await showInvitation(ctx, problemOf(error));
    }
  }

  function showSignUp(ctx: Context, problem?: Problem) {
    const body = formBody(ctx);
    pages.render(ctx, 'enrolment/signup', 'enrolment.signup.title', {
      // What was typed comes back, except the password.
      values: { name: field(body, 'name').slice(0, 200), email: field(body, 'email').slice(0, 254) },
      action: SIGN_UP_PAGE,
      csrf: csrf.token(ctx),
      problem: problem?.message,
    }, problem?.status);
  }

  async function signUp(ctx: Context) {
    const body = formBody(ctx);
    try {
      await enrolment.signUp({ name: field(body, 'name'), email: field(body, 'email'), password: field(body, 'password'), locale: pages.languages.forRequest(ctx) }, ctx.ip);
    } catch (error) {
      if (!isGatehouseError(error, 'invalid_input') && !isGatehouseError(error, 'weak_password')) throw error;
      return showSignUp(ctx, problemOf(error));
    }
    seeOther(ctx, SIGN_UP_SENT);
  }

  function showSent(ctx: Context) {
    pages.render(ctx, 'enrolment/signup-sent', 'enrolment.sent.title', {});
  }

  async function showVerification(ctx: Context, problem?: Problem) {
    const token = ctx.method === 'POST' ? field(formBody(ctx), 'token') : field(ctx.query, 'token');
    const person = await enrolment.openVerification(token);
    if (!person) return linkDead(ctx, 'verification');
    ctx.set('Cache-Control', 'no-store');
    pages.render(ctx, 'enrolment/verify', 'enrolment.verify.title', {
      email: person.email, token, action: VERIFY_SIGN_UP_PAGE, csrf: csrf.token(ctx), problem: problem?.message,
    }, problem?.status);
  }

  async function verify(ctx: Context) {
    const token = field(formBody(ctx), 'token');
    const holder = await enrolment.openVerification(token);
    if (!holder) return linkDead(ctx, 'verification');
    const problem = await checkLinkPassword(deps, ctx, holder, formBody(ctx)[LINK_PASSWORD_FIELD]);
    if (problem) return showVerification(ctx, problem);
    const person = await enrolment.verifySignUp(token, ctx.ip, holder.id);
    if (!person) return linkDead(ctx, 'verification');
    ready(ctx, 'verification', person.email);
  }

  router.get(INVITATION_PAGE, (ctx) => showInvitation(ctx));
  router.post(INVITATION_PAGE, parseForm, requireCsrf, acceptInvitation);
  if (enrolment.signUpOn) {
    router.get(SIGN_UP_PAGE, (ctx) => showSignUp(ctx));
    router.post(SIGN_UP_PAGE, parseForm, requireCsrf, signUp);
    router.get(SIGN_UP_SENT, showSent);
    router.get(VERIFY_SIGN_UP_PAGE, (ctx) => showVerification(ctx));
    router.post(VERIFY_SIGN_UP_PAGE, parseForm, requireCsrf, verify);
  }
  return router;
}
