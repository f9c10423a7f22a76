// Which app the signed-out page may name. A person who signs out of one app (RP-initiated logout
// without a post_logout_redirect_uri) is sent by oidc-provider to /session/end/success?client_id=…,
// and that page, needing no session, would tell anyone who asks with any id whether the app
// exists, its name and the address it registered for coming back (for an internal app, an
// internal host name). So the sign-out leaves a short-lived signed cookie naming the app, and the
// page names an app only for the browser whose cookie names it; anyone else, for any id, known or
// not, gets the same generic page with the same status.
import type { Context, Middleware } from 'koa';
import { MINUTE } from '../lifetimes.js';

/** Long enough to land on the page (and reload it), short enough that a copied cookie soon stops vouching. */
export const SIGNED_OUT_COOKIE_SECONDS = 5 * MINUTE;

export class SignedOutApps {
  readonly cookieName: string;

  constructor(issuer: string, private readonly now: () => number = Date.now) {
    // Over TLS, __Host- (Secure, this host, Path=/) as for the session cookie: no sibling
    // subdomain or plain-http page can plant it.
    this.cookieName = `${issuer.startsWith('https://') ? '__Host-' : ''}gh_signed_out`;
  }

  /** This browser has just signed out of `clientId`. */
  remember(ctx: Context, clientId: string): void {
    const until = Math.floor(this.now() / 1000) + SIGNED_OUT_COOKIE_SECONDS;
    // Signed with COOKIE_KEYS like Gatehouse's other cookies; the expiry is inside the signed
    // value, so the cookie stops vouching on the server's clock, whatever the browser keeps.
    ctx.cookies.set(this.cookieName, `${until}.${Buffer.from(clientId, 'utf8').toString('base64url')}`, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: '/',
      maxAge: SIGNED_OUT_COOKIE_SECONDS * 1000,
      overwrite: true,
    });
  }

  /** The app this browser has just signed out of, if its cookie is genuine and current. */
  signedOutOf(ctx: Context): string | undefined {
    const value = ctx.cookies.get(this.cookieName, { signed: true });
    const match = value ? /^(\d{1,12})\.([A-Za-z0-9_-]{1,700})$/.exec(value) : null;
    if (!match || Number(match[1]) * 1000 <= this.now()) return undefined;
    return Buffer.from(match[2]!, 'base64url').toString('utf8');
  }
}

/**
 * In front of oidc-provider's end_session_success route: a client_id this browser did not just
 * sign out of is dropped before the provider sees it, so the provider neither looks it up (an
 * unknown id would be its 400, a known one the app's page) nor names it: the page is the generic
 * one, 200, for every id. The page itself checks the cookie again (Pages#loggedOut), so a
 * spelling of the path that got past this check would still name no app.
 */
export function onlyTheAppJustSignedOutOf(successPath: string, signedOut: SignedOutApps): Middleware {
  return async function dropUnvouchedClientId(ctx, next) {
    if (ctx.path === successPath && ctx.querystring) {
      const query = new URLSearchParams(ctx.querystring);
      const asked = query.getAll('client_id');
      if (asked.length > 0 && (asked.length > 1 || asked[0] !== signedOut.signedOutOf(ctx))) {
        query.delete('client_id');
        ctx.querystring = query.toString();
      }
    }
    return next();
  };
}
