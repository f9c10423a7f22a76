// OpenID Connect Core §3.1.2.1 and RP-Initiated Logout §2: the authorization and end-session
// endpoints accept a form POST as well as a GET. oidc-provider serves POST there only when its
// session cookie is SameSite=None (`enableHttpPostMethods` refuses to start otherwise), because a
// form an app's page posts to Gatehouse is a cross-site POST, and a SameSite=Lax cookie does not
// ride on one: the provider would not see who is signed in. Gatehouse keeps its cookies Lax, and
// answers such a POST with a 303 to the same endpoint carrying the same parameters as its query.
// The browser follows with a top-level GET, which does carry Lax cookies, and from there the
// request is exactly the GET one, with every check the GET gets. Nothing new is reachable: any
// site could already link to the GET.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import type { Pages } from './pages.js';

/**
 * The parameters end up in a URL: proxies commonly refuse request lines over 8 KB (nginx's
 * default buffer), so a longer request is refused here, with a page, rather than there.
 */
const MAX_QUERY_LENGTH = 8 * 1024;

const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '8kb', encoding: 'utf-8' });

export function formPostAsGet(paths: string[], pages: Pages): Middleware {
  const endpoints = new Set(paths);
  return async function redirectFormPost(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || !endpoints.has(ctx.path)) return next();
    if (ctx.is('application/x-www-form-urlencoded') !== 'application/x-www-form-urlencoded') {
      return pages.oauthError(ctx, 400, 'invalid_request');
    }
    try {
      await parseForm(ctx, async () => {});
    } catch (error) {
      const tooLarge = (error as { status?: number }).status === 413;
      return pages.oauthError(ctx, tooLarge ? 413 : 400, 'invalid_request');
    }
    // The raw form, re-encoded: duplicates and order survive (the GET refuses duplicates as it
    // would have), and nothing unencoded reaches the Location header.
    const raw = (ctx.request as { rawBody?: string }).rawBody ?? '';
    const query = new URLSearchParams(raw).toString();
    if (query.length > MAX_QUERY_LENGTH) {
      return pages.oauthError(ctx, 413, 'invalid_request');
    }
    ctx.status = 303; // set first: ctx.redirect keeps a redirect status it finds
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(query ? `${ctx.path}?${query}` : ctx.path);
    return undefined;
  };
}
