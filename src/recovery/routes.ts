// The pages of the links Gatehouse mails to get a person back in (PASSWORD_RECOVERY):
//   /recover                 "Forgot password?": an address in, the same answer out whatever it is;
//   /recover/new-password    the recovery link: GET shows the form (spends nothing), POST resets;
//   /sign-in-link            asked for from the refused sign-in page; the link: GET confirms, POST
//                            makes this browser known to the account (sign-in-links.ts says why).
// Every word is in views/recovery/; a link that no longer works gets a page saying so (410) and a
// way to ask again, never an error.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { refusedByDatabase } from '../db/errors.js';
import { isGatehouseError } from '../errors.js';
import type { CsrfProtection } from '../http/csrf.js';
import { csrfGuard, field, formBody, formParser, seeOther } from '../http/forms.js';
import type { Pages } from '../http/pages.js';
import type { Words } from '../i18n/catalogs.js';
import type { Logger } from '../logger.js';
import { emailSchema } from '../people/users.js';
import type { KnownDevices } from '../security/known-devices.js';
import { interactionIdOf, type LinkRequests, type MailedLinkPurpose } from './link-requests.js';
import type { PasswordRecovery } from './password-recovery.js';
import type { SignInLinks } from './sign-in-links.js';

export const RECOVER_PAGE = '/recover';
export const SIGN_IN_LINK_PAGE = '/sign-in-link';
const NEW_PASSWORD_PAGE = `${RECOVER_PAGE}/new-password`;

/** Longer than any password we accept, so the checker (not this guard) says what is wrong. */
const MAX_TYPED = 1024;

export interface RecoveryRouteDependencies {
  pages: Pages;
  csrf: CsrfProtection;
  logger: Logger;
  requests: LinkRequests;
  recovery: PasswordRecovery;
  signInLinks: SignInLinks;
  knownDevices: KnownDevices;
}

export function recoveryRoutes(deps: RecoveryRouteDependencies): Router {
  const { pages, csrf } = deps;
  const router = new Router();
  const parseForm = formParser();
  const requireCsrf = csrfGuard(csrf, pages, 'error.form_expired.hint.recovery');

  // A value PostgreSQL refused is a bad request, never a 500.
  router.use(async function refuseUnusableInput(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      if (!refusedByDatabase(error, deps.logger, ctx.state.requestId)) throw error;
      pages.requestError(ctx, 400);
    }
  });

  /** Where "continue" goes after a link did its work: back to the sign-in it came from, or the account pages. */
  function continueHref(interaction: string | undefined): string {
    return interaction ? `/interaction/${interaction}` : '/account';
  }

  function withInteraction(path: string, interaction: string | undefined): string {
    return interaction ? `${path}?interaction=${interaction}` : path;
  }

  function linkDead(ctx: Context, which: MailedLinkPurpose, interaction: string | undefined) {
    pages.render(ctx, 'recovery/link-dead', '', { which, again: withInteraction(RECOVER_PAGE, interaction), back: continueHref(interaction) }, 410);
  }

  function renderRequest(ctx: Context, data: { email: string; interaction: string | undefined; problem?: 'email' }, status = 200) {
    pages.render(ctx, 'recovery/request', '', { ...data, action: RECOVER_PAGE, back: continueHref(data.interaction), csrf: csrf.token(ctx) }, status);
  }

  /** The typed address if it looks like one; what is typed is never echoed into a mail or a log. */
  function typedEmail(ctx: Context): { typed: string; email: string | undefined } {
    const typed = field(formBody(ctx), 'email').slice(0, 254);
    const parsed = emailSchema.safeParse(typed);
    return { typed, email: parsed.success ? parsed.data : undefined };
  }

  async function askForLink(ctx: Context, purpose: MailedLinkPurpose) {
    const interaction = interactionIdOf(formBody(ctx).interaction);
    const { typed, email } = typedEmail(ctx);
    if (!email) return renderRequest(ctx, { email: typed, interaction, problem: 'email' }, 400);
    await deps.requests.request(purpose, { email, ip: ctx.ip, knownDevice: deps.knownDevices.deviceFor(ctx, email), interaction, requestId: ctx.state.requestId, locale: pages.languages.forRequest(ctx) });
    pages.render(ctx, 'recovery/sent', '', { which: purpose, email, back: continueHref(interaction) });
  }

  function renderNewPassword(ctx: Context, data: { token: string; email: string; interaction: string | undefined; signOutEverywhere: boolean; error?: Words }, status = 200) {
    pages.render(ctx, 'recovery/new-password', '', { ...data, action: NEW_PASSWORD_PAGE, csrf: csrf.token(ctx) }, status);
  }

  router.get(RECOVER_PAGE, (ctx) => renderRequest(ctx, { email: '', interaction: interactionIdOf(ctx.query.interaction) }));
  router.post(RECOVER_PAGE, parseForm, requireCsrf, (ctx) => askForLink(ctx, 'recovery'));

  router.get(NEW_PASSWORD_PAGE, async (ctx) => {
    const token = field(ctx.query, 'token');
    const interaction = interactionIdOf(ctx.query.interaction);
    const person = await deps.recovery.personFor(token);
    if (!person) return linkDead(ctx, 'recovery', interaction);
    // Both ticked by default: someone recovering may be recovering from a thief.
    renderNewPassword(ctx, { token, email: person.email, interaction, signOutEverywhere: true });
  });

  router.post(NEW_PASSWORD_PAGE, parseForm, requireCsrf, async (ctx) => {
    const body = formBody(ctx);
    const token = field(body, 'token');
    const interaction = interactionIdOf(body.interaction);
    const signOutEverywhere = body.sign_out_everywhere === 'yes';
    const password = field(body, 'new_password');
    const person = await deps.recovery.personFor(token);
    if (!person) return linkDead(ctx, 'recovery', interaction);
    const form = { token, email: person.email, interaction, signOutEverywhere };
    if (!password || password.length > MAX_TYPED) return renderNewPassword(ctx, { ...form, error: 'missing' }, 400);
    let result;
    try {
      result = await deps.recovery.complete(token, password, { signOutEverywhere, ip: ctx.ip });
    } catch (error) {
      if (!isGatehouseError(error) || error.code !== 'weak_password') throw error;
      return renderNewPassword(ctx, { ...form, error: error.words ?? error.message }, 400);
    }
    if (!result) return linkDead(ctx, 'recovery', interaction);
    // The mailbox is proven, as by a sign-in link: this browser may now sign in even while new
    // browsers are refused for the account.
    deps.knownDevices.remember(ctx, result.person.email);
    seeOther(ctx, withInteraction(`${RECOVER_PAGE}/done`, interaction));
  });

  router.get(`${RECOVER_PAGE}/done`, (ctx) => {
    pages.render(ctx, 'recovery/done', '', { next: continueHref(interactionIdOf(ctx.query.interaction)) });
  });

  router.post(SIGN_IN_LINK_PAGE, parseForm, requireCsrf, (ctx) => askForLink(ctx, 'sign_in'));

  router.get(SIGN_IN_LINK_PAGE, async (ctx) => {
    const token = field(ctx.query, 'token');
    const interaction = interactionIdOf(ctx.query.interaction);
    const person = await deps.signInLinks.personFor(token);
    if (!person) return linkDead(ctx, 'sign_in', interaction);
    pages.render(ctx, 'recovery/sign-in-link', '', { token, interaction, email: person.email, action: `${SIGN_IN_LINK_PAGE}/confirm`, csrf: csrf.token(ctx) });
  });

  router.post(`${SIGN_IN_LINK_PAGE}/confirm`, parseForm, requireCsrf, async (ctx) => {
    const body = formBody(ctx);
    const interaction = interactionIdOf(body.interaction);
    const person = await deps.signInLinks.use(field(body, 'token'), ctx.ip);
    if (!person) return linkDead(ctx, 'sign_in', interaction);
    deps.knownDevices.remember(ctx, person.email);
    seeOther(ctx, withInteraction(`${SIGN_IN_LINK_PAGE}/done`, interaction));
  });

  router.get(`${SIGN_IN_LINK_PAGE}/done`, (ctx) => {
    pages.render(ctx, 'recovery/sign-in-link-done', '', { next: continueHref(interactionIdOf(ctx.query.interaction)) });
  });

  return router;
}
