// Gatehouse's own pages — the admin console and the self-service account pages — sign people in
// the way every app does: an authorization request, answered by the same login page. They use a
// built-in client (`gatehouse`) with response_type `none` (OAuth 2.0 Multiple Response Types §4):
// the person signs in, the provider's session cookie is set, and the browser comes back with
// nothing but `state`. No code or token is issued, because these pages never call an API: they
// read the provider's session directly, on the same origin.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { ClientMetadata, Provider } from 'oidc-provider';
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import { digest, randomSecret } from '../crypto/digest.js';
import type { Pages } from '../http/pages.js';
import { ACCOUNT_CALLBACK_PATH } from '../vocabulary.js';
import { pageSession } from './internals.js';

export { ACCOUNT_CLIENT_ID };

export function accountClientMetadata(issuer: string): ClientMetadata {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: 'your Gatehouse account',
    token_endpoint_auth_method: 'none',
    redirect_uris: [`${issuer}${ACCOUNT_CALLBACK_PATH}`],
    post_logout_redirect_uris: [],
    grant_types: [],
    response_types: ['none'],
    scope: 'openid',
  };
}

/** The person signed in to this browser, by the provider's session cookie. */
export interface SignedIn {
  accountId: string;
  /** The session's public handle (digest of its uid), as session listings name it. */
  sessionHandle: string;
  /** The level the session's sign-in reached (src/factors/levels.ts), if it says. */
  acr: string | undefined;
  /** When the person last signed in (seconds since the epoch), if the session says. */
  authTime: number | undefined;
}

interface PendingSignIn {
  state: string;
  returnTo: string;
}

/** Only our own pages: a path, never another origin (`//evil.example`, `/\evil.example`). */
const OWN_PAGE = /^\/(?:account|admin)(?:[/?][\x21-\x7e]*)?$/;

export interface AccountSignInOptions {
  provider(): Provider;
  issuer: string;
  pages: Pages;
  /** Over TLS the pending sign-in cookie gets the __Secure- prefix. */
  secureCookies: boolean;
}

export class AccountSignIn {
  readonly #cookie: string;

  constructor(private readonly options: AccountSignInOptions) {
    this.#cookie = `${options.secureCookies ? '__Secure-' : ''}gh_account_sign_in`;
  }

  /** Who is signed in to this browser, if anyone (one query: the session row). */
  async current(ctx: Context): Promise<SignedIn | undefined> {
    const session = await pageSession(this.options.provider(), ctx);
    if (!session.accountId || typeof session.uid !== 'string') return undefined;
    return {
      accountId: session.accountId,
      sessionHandle: digest(session.uid),
      acr: typeof session.acr === 'string' ? session.acr : undefined,
      authTime: typeof session.loginTs === 'number' ? session.loginTs : undefined,
    };
  }

  /** Sends the browser to sign in, and back to `returnTo` (one of our pages) afterwards. */
  begin(ctx: Context, returnTo: string, options: { forceLogin?: boolean; acr?: string; maxAgeSeconds?: number } = {}): void {
    const pending: PendingSignIn = { state: randomSecret(16), returnTo: OWN_PAGE.test(returnTo) ? returnTo : '/account' };
    ctx.cookies.set(this.#cookie, Buffer.from(JSON.stringify(pending)).toString('base64url'), {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: ACCOUNT_CALLBACK_PATH,
      maxAge: 15 * 60_000,
      overwrite: true,
    });
    const request = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'none',
      scope: 'openid',
      redirect_uri: `${this.options.issuer}${ACCOUNT_CALLBACK_PATH}`,
      state: pending.state,
      ...(options.forceLogin ? { prompt: 'login' } : {}),
      // A level or a recent sign-in the page needs (the console: src/admin/console/kit.ts): the
      // sign-in pages ask for what is missing, as for any app (src/interaction/routes.ts).
      ...(options.acr ? { acr_values: options.acr } : {}),
      ...(options.maxAgeSeconds !== undefined ? { max_age: String(options.maxAgeSeconds) } : {}),
    });
    ctx.redirect(`${this.options.provider().pathFor('authorization')}?${request}`);
    ctx.set('Cache-Control', 'no-store');
  }

  /** The redirect URI: checks `state` against this browser's pending sign-in and goes back. */
  routes(): Router {
    const router = new Router();
    router.get(ACCOUNT_CALLBACK_PATH, async (ctx) => {
      const pending = this.#pending(ctx);
      ctx.cookies.set(this.#cookie, null, { path: ACCOUNT_CALLBACK_PATH, signed: true });
      ctx.set('Cache-Control', 'no-store');
      if (!pending || typeof ctx.query.state !== 'string' || ctx.query.state !== pending.state) {
        return this.options.pages.error(ctx, {
          status: 400,
          heading: 'error.account_sign_in.expired.heading',
          message: 'error.account_sign_in.expired.message',
          hint: 'error.account_sign_in.hint',
        });
      }
      if (ctx.query.error === 'unmet_authentication_requirements') {
        return this.options.pages.error(ctx, {
          status: 403,
          heading: 'error.account_sign_in.secondStep.heading',
          message: 'error.account_sign_in.secondStep.message',
          hint: 'error.account_sign_in.secondStep.hint',
        });
      }
      if (typeof ctx.query.error === 'string') {
        return this.options.pages.error(ctx, {
          status: 403,
          heading: 'error.account_sign_in.failed.heading',
          message: ctx.query.error === 'access_denied' ? 'error.account_sign_in.cancelled' : 'error.account_sign_in.failed',
          hint: 'error.account_sign_in.hint',
        });
      }
      ctx.redirect(pending.returnTo);
    });
    return router;
  }

  #pending(ctx: Context): PendingSignIn | undefined {
    const raw = ctx.cookies.get(this.#cookie, { signed: true });
    if (!raw) return undefined;
    try {
      const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PendingSignIn>;
      if (typeof parsed.state !== 'string' || typeof parsed.returnTo !== 'string' || !OWN_PAGE.test(parsed.returnTo)) return undefined;
      return { state: parsed.state, returnTo: parsed.returnTo };
    } catch {
      return undefined;
    }
  }
}
