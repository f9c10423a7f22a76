// The page a verification link opens. A GET only shows what the link would do and a button: mail
// scanners and link previews follow links, and must not verify or move anyone's address. The
// button POSTs the token back (with this browser's CSRF token), and that one use spends it. A link
// that no longer works — spent, expired, unknown, or meant for an address the account no longer
// has — gets a page saying so (410), never a 500; nobody needs to be signed in.
import Router from '@koa/router';
import type { Context } from 'koa';
import { isGatehouseError } from '../errors.js';
import type { CsrfProtection } from '../http/csrf.js';
import { csrfGuard, formBody, formParser } from '../http/forms.js';
import type { Pages } from '../http/pages.js';
import { VERIFY_PAGE } from './address-mail.js';
import { LinkNoLongerWorks, type Addresses } from './addresses.js';

export interface VerificationPageDependencies {
  addresses: Addresses;
  pages: Pages;
  csrf: CsrfProtection;
}

const TITLE = 'Verify your email address';

export function verificationRoutes(deps: VerificationPageDependencies): Router {
  const { addresses, pages, csrf } = deps;
  const router = new Router();

  function noLongerWorks(ctx: Context) {
    pages.render(ctx, 'verify-email', TITLE, { state: 'dead', accountUrl: '/account' }, 410);
  }

  async function showLink(ctx: Context) {
    const token = ctx.query.token;
    const effect = await addresses.preview(token);
    if (!effect) return noLongerWorks(ctx);
    // The token goes back in the form, not in the address bar's history of a page that acts.
    ctx.set('Cache-Control', 'no-store');
    pages.render(ctx, 'verify-email', TITLE, { state: 'confirm', effect, token, action: VERIFY_PAGE, csrf: csrf.token(ctx) });
  }

  async function followLink(ctx: Context) {
    const token = formBody(ctx).token;
    try {
      const effect = await addresses.follow(token, ctx.ip);
      ctx.set('Cache-Control', 'no-store');
      pages.render(ctx, 'verify-email', TITLE, { state: 'done', effect, accountUrl: '/account' });
    } catch (error) {
      if (error instanceof LinkNoLongerWorks) return noLongerWorks(ctx);
      if (isGatehouseError(error, 'email_taken')) return pages.render(ctx, 'verify-email', TITLE, { state: 'taken', accountUrl: '/account' }, 409);
      throw error;
    }
  }

  router.get(VERIFY_PAGE, showLink);
  router.post(VERIFY_PAGE, formParser(), csrfGuard(csrf, pages, 'Open the link in the mail again and press the button.'), followLink);
  return router;
}
