// Server-rendered pages for people: every HTML response Gatehouse sends goes through here, so each
// carries the same layout, escaping and caching rules. Templates in views/ hold no logic or queries.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Eta } from 'eta';
import { redirectUriProblem } from '../clients/redirect-uris.js';
import type { Languages } from '../i18n/negotiation.js';
import { VIEWS_DIR } from '../paths.js';
import type { Context } from 'koa';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';


export interface ErrorPage {
  status: number;
  /** Catalog keys (locales/), like every word on a page. */
  heading: string;
  message: string;
  hint?: string;
}

type Words = Omit<ErrorPage, 'status'>;

const INVALID_REQUEST: Words = { heading: 'error.invalid_request.heading', message: 'error.invalid_request.message', hint: 'error.invalid_request.hint' };

/**
 * What people read for each OAuth error that ends on a page instead of at the app: Gatehouse's own
 * words, always. The provider's error_description is written for developers (and is in the log
 * under the page's reference); it never reaches the page. A code not listed reads as invalid_request.
 */
const OAUTH_ERROR_PAGES: Record<string, Words> = {
  invalid_request: INVALID_REQUEST,
  invalid_request_object: INVALID_REQUEST,
  invalid_request_uri: INVALID_REQUEST,
  request_not_supported: INVALID_REQUEST,
  request_uri_not_supported: INVALID_REQUEST,
  invalid_client: { heading: 'error.invalid_client.heading', message: 'error.invalid_client.message' },
  unauthorized_client: { heading: 'error.unauthorized_client.heading', message: 'error.unauthorized_client.message' },
  invalid_redirect_uri: { heading: 'error.invalid_redirect_uri.heading', message: 'error.invalid_redirect_uri.message' },
  session_not_found: { heading: 'error.session_not_found.heading', message: 'error.session_not_found.message', hint: 'error.session_not_found.hint' },
  login_required: { heading: 'error.login_required.heading', message: 'error.login_required.message', hint: 'error.login_required.hint' },
  consent_required: { heading: 'error.consent_required.heading', message: 'error.consent_required.message', hint: 'error.consent_required.hint' },
  interaction_required: { heading: 'error.interaction_required.heading', message: 'error.interaction_required.message', hint: 'error.interaction_required.hint' },
  invalid_scope: { heading: 'error.invalid_scope.heading', message: 'error.invalid_scope.message' },
  invalid_target: { heading: 'error.invalid_target.heading', message: 'error.invalid_target.message' },
  unsupported_response_type: { heading: 'error.unsupported_response_type.heading', message: 'error.unsupported_response_type.message' },
  unsupported_response_mode: { heading: 'error.unsupported_response_type.heading', message: 'error.unsupported_response_type.message' },
  access_denied: { heading: 'error.access_denied.heading', message: 'error.access_denied.message' },
  unmet_authentication_requirements: {
    heading: 'error.unmet_authentication_requirements.heading',
    message: 'error.unmet_authentication_requirements.message',
    hint: 'error.unmet_authentication_requirements.hint',
  },
  temporarily_unavailable: { heading: 'error.temporarily_unavailable.heading', message: 'error.temporarily_unavailable.message' },
  server_error: { heading: 'error.server_error.heading', message: 'error.server_error.message' },
};

const BAD_REQUEST: Words = { heading: 'error.bad_request.heading', message: 'error.bad_request.message', hint: 'error.bad_request.hint' };

/** Anything that goes wrong while signing out, whatever the provider calls it. */
const SIGN_OUT_FAILED: Words = { heading: 'error.sign_out_failed.heading', message: 'error.sign_out_failed.message', hint: 'error.sign_out_failed.hint' };

/** Where people type a device's code (oidc-provider's code_verification route). */
export const DEVICE_PATH = '/device';

/** What went wrong on the device page, in the template's words: one of oidc-provider's re-render errors, or anything else. */
function deviceProblem(error: Error | undefined): 'wrong' | 'denied' | 'failed' | undefined {
  if (!error) return undefined;
  if (['NoCodeError', 'NotFoundError', 'ExpiredError', 'AlreadyUsedError'].includes(error.name)) return 'wrong';
  if (error.name === 'AbortedError') return 'denied';
  return 'failed';
}

export class Pages {
  readonly #eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true });
  readonly stylesheet = readFileSync(path.join(VIEWS_DIR, 'gatehouse.css'), 'utf8');
  readonly favicon = readFileSync(path.join(VIEWS_DIR, 'favicon.svg'), 'utf8');

  constructor(readonly languages: Languages) {}

  /**
   * `title` is a catalog key, interpolated with the page's data (`consent.title` names the app).
   * Every template gets `t`, `html`, `strong` and `code` (src/i18n/catalogs.ts) and `lang` for <html lang>.
   */
  render(ctx: Context, view: string, title: string, data: Record<string, unknown>, status = 200): void {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    // Pages carry CSRF tokens and personal data: never cache them anywhere.
    ctx.set('Cache-Control', 'no-store');
    const words = this.languages.translator(this.languages.forRequest(ctx));
    ctx.body = this.#eta.render(view, { title, ...data, lang: words.locale, t: words.t, html: words.html, strong: words.strong, code: words.code, linkTo: words.linkTo, time: words.time });
  }

  error(ctx: Context, page: ErrorPage): void {
    this.render(ctx, 'error', page.heading, { ...page, requestId: ctx.state.requestId }, page.status);
  }

  /** The page for an OAuth error code, in Gatehouse's words. */
  oauthError(ctx: Context, status: number, error: string): void {
    const words = OAUTH_ERROR_PAGES[status >= 500 ? 'server_error' : error] ?? INVALID_REQUEST;
    this.error(ctx, { status, ...words });
  }

  /** A request to one of Gatehouse's own routes that failed: not an app's doing, so no app is named. */
  requestError(ctx: Context, status: number): void {
    if (status >= 500) return this.oauthError(ctx, status, 'server_error');
    this.error(ctx, { status, ...BAD_REQUEST });
  }

  // oidc-provider's renderError hook: errors that cannot be sent back to the app. `out` holds the
  // provider's description for developers; the page shows only the code's own words.
  async oidcError(ctx: KoaContextWithOIDC, out: { error: string }, error: Error): Promise<void> {
    const status = ctx.status >= 400 ? ctx.status : 400;
    if (status < 500 && ctx.oidc?.route?.startsWith('end_session')) return this.error(ctx, { status, ...SIGN_OUT_FAILED });
    // An expired or foreign interaction is an invalid_request to OAuth, "start again" to a person.
    this.oauthError(ctx, status, error instanceof errors.SessionNotFound ? 'session_not_found' : out.error);
  }
  // oidc-provider's logoutSource hook: `form` is its own form with its own CSRF token.
  // The app's ui_locales (RP-Initiated Logout §2) decide its language, as on the sign-in pages.
  async logout(ctx: Context & { oidc?: { client?: { clientName?: string }; params?: Record<string, unknown> } }, form: string): Promise<void> {
    this.languages.followUiLocales(ctx, ctx.oidc?.params?.ui_locales);
    this.render(ctx, 'logout', 'logout.title', { form, host: ctx.host, clientName: ctx.oidc?.client?.clientName });
  }

  // The device flow's page at /device (RFC 8628), for oidc-provider's deviceFlow hooks: enter the
  // code, confirm the app, done. Its forms carry oidc-provider's own CSRF token (`xsrf`, bound to
  // the browser's session; deviceFormToken reads it from the form oidc-provider hands over); a
  // problem is one of a few words, told in the template.
  async deviceCodeEntry(ctx: Context, xsrf: string, error: Error | undefined, throttled = false): Promise<void> {
    const problem = throttled ? 'throttled' : deviceProblem(error);
    const userCode = (error as { userCode?: unknown } | undefined)?.userCode;
    this.render(ctx, 'device', 'device.title', {
      step: 'enter', action: DEVICE_PATH, xsrf, problem,
      userCode: typeof userCode === 'string' ? userCode.slice(0, 20) : '',
    }, throttled ? 429 : problem === 'wrong' ? 400 : problem === 'failed' ? (ctx.status >= 400 ? ctx.status : 400) : 200);
  }

  async deviceConfirm(ctx: Context, xsrf: string, client: { clientName?: string | undefined }, userCode: string): Promise<void> {
    this.render(ctx, 'device', 'device.title', { step: 'confirm', action: DEVICE_PATH, xsrf, userCode, clientName: client.clientName });
  }

  async deviceApproved(ctx: Context & { oidc?: { client?: { clientName?: string } } }): Promise<void> {
    this.render(ctx, 'device', 'device.done.title', { step: 'done', clientName: ctx.oidc?.client?.clientName });
  }

  // The provider names the app (client_id) only when the person signed out of that app alone; a
  // valid post_logout_redirect_uri never gets here, since the provider redirects to it itself.
  // `signedOutOf` is the app this browser's sign-out cookie names (src/logout/signed-out-page.ts):
  // the page is anyone's to ask for, with any client_id, so it names the app and its way back only
  // to the browser that has just signed out of it, and is the generic page for everyone else.
  async loggedOut(
    ctx: Context & { oidc?: { client?: { clientId?: string; clientName?: string; postLogoutRedirectUris?: readonly string[] } } },
    signedOutOf: string | undefined,
  ): Promise<void> {
    const named = ctx.oidc?.client;
    const client = named?.clientId !== undefined && named.clientId === signedOutOf ? named : undefined;
    // The way back to the app is an address it registered, never one the request carries: the
    // client_id in this page's query picks a registered app, not a destination.
    const backToApp = client?.postLogoutRedirectUris?.find((uri) => redirectUriProblem(uri) === undefined);
    this.render(ctx, 'logged-out', 'loggedOut.title', { clientName: client?.clientName, backToApp });
  }
}
