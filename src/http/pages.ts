// Server-rendered pages for people: every HTML response Gatehouse sends goes through here, so each
// carries the same layout, escaping and caching rules. Templates in views/ hold no logic or queries.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Eta } from 'eta';
import { VIEWS_DIR } from '../paths.js';
import type { Context } from 'koa';


export interface ErrorPage {
  status: number;
  heading: string;
  message: string;
  hint?: string;
}

/** What people read for each OAuth error code that can end up on a page instead of at the app. */
const OAUTH_ERROR_PAGES: Record<string, Omit<ErrorPage, 'status'>> = {
  invalid_client: { heading: 'Unknown application', message: 'The application that sent you here is not registered with Gatehouse.' },
  invalid_redirect_uri: { heading: 'Unregistered return address', message: 'The application asked to send you back to an address it has not registered, so Gatehouse stopped here to protect you.' },
  invalid_request: { heading: 'Something is wrong with this request', message: 'The application sent a sign-in request that Gatehouse cannot accept.' },
  session_not_found: { heading: 'This sign-in has expired', message: 'The sign-in took too long or was already completed.', hint: 'Go back to the application and start again.' },
  invalid_target: { heading: 'Unknown API', message: 'The application asked for access to an API that is not registered with Gatehouse.' },
  access_denied: { heading: 'Access denied', message: 'The request was not allowed.' },
  temporarily_unavailable: { heading: 'Gatehouse is busy', message: 'Too many requests are being handled right now. Please try again in a moment.' },
  server_error: { heading: 'Something went wrong', message: 'Gatehouse could not complete this request. Please try again in a moment.' },
};

export class Pages {
  readonly #eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true });
  readonly stylesheet = readFileSync(path.join(VIEWS_DIR, 'gatehouse.css'), 'utf8');

  render(ctx: Context, view: string, title: string, data: Record<string, unknown>, status = 200): void {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    // Pages carry CSRF tokens and personal data: never cache them anywhere.
    ctx.set('Cache-Control', 'no-store');
    ctx.body = this.#eta.render(view, { title, ...data });
  }

  error(ctx: Context, page: ErrorPage): void {
    this.render(ctx, 'error', page.heading, { ...page, requestId: ctx.state.requestId }, page.status);
  }

  /** A page for an OAuth error code, with the provider's description when it helps a developer. */
  oauthError(ctx: Context, status: number, error: string, description?: string): void {
    const known = OAUTH_ERROR_PAGES[error] ?? OAUTH_ERROR_PAGES.invalid_request!;
    const hint = status >= 500 ? undefined : (description ?? known.hint);
    this.error(ctx, { status, ...known, ...(hint ? { hint } : {}) });
  }

  // oidc-provider's renderError hook: errors that cannot be sent back to the app.
  async oidcError(ctx: Context, out: { error: string; error_description?: string }, _error: Error): Promise<void> {
    this.oauthError(ctx, ctx.status >= 400 ? ctx.status : 400, out.error, out.error_description);
  }

  // oidc-provider's logoutSource hook: `form` is its own form with its own CSRF token.
  async logout(ctx: Context & { oidc?: { client?: { clientName?: string } } }, form: string): Promise<void> {
    this.render(ctx, 'logout', 'Sign out', { form, host: ctx.host, clientName: ctx.oidc?.client?.clientName });
  }

  async loggedOut(ctx: Context & { oidc?: { client?: { clientName?: string } } }): Promise<void> {
    this.render(ctx, 'logged-out', 'Signed out', { clientName: ctx.oidc?.client?.clientName });
  }
}
