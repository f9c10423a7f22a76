// The page a verification link opens. A GET only shows what the link would do and a button: mail
// scanners and link previews follow links, and must not verify or move anyone's address. The
// button POSTs the token back (with this browser's CSRF token), and that one use spends it. A link
// that no longer works — spent, expired, unknown, or meant for an address the account no longer
// has — gets a page saying so (410), never a 500; nobody needs to be signed in. A link that would
// move an account to a new address also asks for that account's password (why:
// src/security/link-password.ts); a wrong one answers 400 on the same page and spends nothing.
//
// The change page names the account asking only in part ("j•••@example.com"). Whoever reads the
// new mailbox needs enough to tell that the asking account is not theirs; they do not need, and
// a mistyped address's stranger should not get, the account holder's whole address. The password
// is what actually stops a stranger's account from gaining the address; this is only a warning.
import Router from '@koa/router';
import type { Context } from 'koa';
import { isGatehouseError } from '../errors.js';
import type { CsrfProtection } from '../http/csrf.js';
import { csrfGuard, formBody, formParser, type Problem } from '../http/forms.js';
import type { Pages } from '../http/pages.js';
import { VERIFY_PAGE } from './address-mail.js';
import { checkLinkPassword, LINK_PASSWORD_FIELD, LinkPasswordRequired, PASSWORD_NEEDED, type LinkPasswordDependencies } from '../security/link-password.js';
import { LinkNoLongerWorks, type Addresses, type LinkPreview } from './addresses.js';

export interface VerificationPageDependencies extends LinkPasswordDependencies {
  addresses: Addresses;
  pages: Pages;
  csrf: CsrfProtection;
}

const TITLE = 'verify.title';

/** "jane.doe@example.com" as "j•••@example.com": recognisable to its owner, little to anyone else. */
export function partlyHidden(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '•••';
  return `${address.slice(0, 1)}•••${address.slice(at)}`;
}

export function verificationRoutes(deps: VerificationPageDependencies): Router {
  const { addresses, pages, csrf } = deps;
  const router = new Router();

  function noLongerWorks(ctx: Context) {
    pages.render(ctx, 'verify-email', TITLE, { state: 'dead', accountUrl: '/account' }, 410);
  }

  function confirmPage(ctx: Context, preview: LinkPreview, token: unknown, problem?: Problem) {
    // The token goes back in the form, not in the address bar's history of a page that acts.
    ctx.set('Cache-Control', 'no-store');
    pages.render(ctx, 'verify-email', TITLE, {
      state: 'confirm',
      effect: preview,
      asking: preview.kind === 'change' ? partlyHidden(preview.currentEmail) : undefined,
      token,
      action: VERIFY_PAGE,
      csrf: csrf.token(ctx),
      problem: problem?.message,
    }, problem?.status);
  }

  async function showLink(ctx: Context) {
    const token = ctx.query.token;
    const preview = await addresses.preview(token);
    if (!preview) return noLongerWorks(ctx);
    confirmPage(ctx, preview, token);
  }

  async function followLink(ctx: Context) {
    const body = formBody(ctx);
    const token = body.token;
    const preview = await addresses.preview(token);
    if (!preview) return noLongerWorks(ctx);
    let provenFor: string | undefined;
    if (preview.kind === 'change') {
      const problem = await checkLinkPassword(deps, ctx, { id: preview.accountId, email: preview.currentEmail }, body[LINK_PASSWORD_FIELD]);
      if (problem) return confirmPage(ctx, preview, token, problem);
      provenFor = preview.accountId;
    }
    try {
      const effect = await addresses.follow(token, ctx.ip, provenFor);
      ctx.set('Cache-Control', 'no-store');
      pages.render(ctx, 'verify-email', TITLE, { state: 'done', effect, accountUrl: '/account' });
    } catch (error) {
      if (error instanceof LinkNoLongerWorks) return noLongerWorks(ctx);
      // The link turned into a change between the check above and now: ask again rather than move anyone.
      if (error instanceof LinkPasswordRequired) {
        const now = await addresses.preview(token);
        return now ? confirmPage(ctx, now, token, { status: 400, message: PASSWORD_NEEDED, field: LINK_PASSWORD_FIELD }) : noLongerWorks(ctx);
      }
      if (isGatehouseError(error, 'email_taken')) return pages.render(ctx, 'verify-email', TITLE, { state: 'taken', accountUrl: '/account' }, 409);
      throw error;
    }
  }

  router.get(VERIFY_PAGE, showLink);
  router.post(VERIFY_PAGE, formParser(), csrfGuard(csrf, pages, 'error.form_expired.hint.verify'), followLink);
  return router;
}
