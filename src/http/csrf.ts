// CSRF protection for every form Gatehouse renders: a per-browser secret in a signed, HttpOnly
// cookie, and a token derived from it in each form (the `csrf` package's synchronizer tokens).
// The forms kit (forms.ts) checks it on every form route.
import Tokens from 'csrf';
import type { Context } from 'koa';

const tokens = new Tokens();

export interface CsrfOptions {
  cookieName: string;
}

export class CsrfProtection {
  constructor(private readonly options: CsrfOptions) {}

  /** A token for a form on this page, creating the browser's secret on first use. */
  token(ctx: Context): string {
    let secret = ctx.cookies.get(this.options.cookieName, { signed: true });
    if (!secret) {
      secret = tokens.secretSync();
      ctx.cookies.set(this.options.cookieName, secret, {
        signed: true,
        httpOnly: true,
        sameSite: 'lax',
        // Secure whenever the request arrived over TLS (directly or through a trusted proxy).
        secure: ctx.secure,
        path: '/',
        overwrite: true,
      });
    }
    return tokens.create(secret);
  }

  /** True when the submitted form carries a token made from this browser's secret. */
  verify(ctx: Context, submitted: unknown): boolean {
    const secret = ctx.cookies.get(this.options.cookieName, { signed: true });
    return typeof submitted === 'string' && submitted.length < 256 && !!secret && tokens.verify(secret, submitted);
  }
}

