import type { Middleware } from 'koa';
import helmet from 'koa-helmet';

/**
 * Security headers on every response (helmet). The CSP allows only our own stylesheet and our own
 * scripts, served from this origin (the passkey pages', src/passkeys/assets.ts), never inline ones;
 * oidc-provider adds the hash of its form_post auto-submit script itself.
 * `form-action` is deliberately absent: browsers apply it to the redirect chain after a form post,
 * and a sign-in ends in a redirect to the app's own origin.
 */
export function securityHeaders(): Middleware {
  const headers = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Sent below, and only over TLS (RFC 6797 §7.2 forbids it on plain HTTP).
    strictTransportSecurity: false,
    // Discovery and the JWKS are fetched cross-origin by browser apps.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  }) as unknown as Middleware;
  return async function setSecurityHeaders(ctx, next) {
    // ctx.secure: TLS here, or X-Forwarded-Proto: https from a trusted proxy (TRUST_PROXY).
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    return headers(ctx, next);
  };
}
