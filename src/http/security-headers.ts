import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, Middleware } from 'koa';
import helmet from 'helmet';

/** Sent only over TLS (RFC 6797 §7.2 forbids it on plain HTTP). */
const STRICT_TRANSPORT_SECURITY = 'max-age=31536000; includeSubDomains';

/**
 * What helmet sets. The CSP allows only our own stylesheet and our own scripts, served from this
 * origin (the passkey pages', src/passkeys/assets.ts), never inline ones; oidc-provider adds the
 * hash of its form_post auto-submit script itself. `form-action` is deliberately absent: browsers
 * apply it to the redirect chain after a form post, and a sign-in ends in a redirect to the app's
 * own origin.
 */
const HELMET_OPTIONS: Parameters<typeof helmet>[0] = {
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
  // Set below, from the request.
  strictTransportSecurity: false,
  // Discovery and the JWKS are fetched cross-origin by browser apps.
  crossOriginResourcePolicy: { policy: 'cross-origin' },
};

/**
 * Helmet's headers, taken once: with these options none depends on the request, so running helmet
 * (and a promise around it) on every response only repeated the same work. A directive computed
 * per request (a CSP nonce, say) would be frozen here: it would need helmet per response again.
 */
function helmetHeaders(): ReadonlyArray<readonly [string, string]> {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: unknown) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
  };
  let done = false;
  helmet(HELMET_OPTIONS)({} as IncomingMessage, recorder as unknown as ServerResponse, () => { done = true; });
  // helmet answers synchronously; if it ever stops, every response would go out without headers.
  if (!done || headers.size === 0) throw new Error('helmet did not set its headers synchronously');
  return [...headers];
}

/**
 * Headers that only act on a document a browser renders: how it opens other windows, its agent
 * cluster, DNS prefetching of its links, old Internet Explorer's download prompt, Flash and PDF
 * cross-domain policies, the retired XSS auditor. The endpoints apps and APIs call answer JSON, so
 * their answers go without these (OWASP's REST Security Cheat Sheet lists what an API response
 * needs); everything else still applies to them, CSP and X-Frame-Options included.
 */
const DOCUMENT_ONLY = new Set([
  'cross-origin-opener-policy',
  'origin-agent-cluster',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
]);

/**
 * Security headers on every response. At `apiPaths` (token, introspection, revocation, userinfo,
 * the JWKS: src/http/api-lane.ts) a JSON answer leaves out the document-only ones; whatever comes
 * back there as a page (a browser's GET /token, the busy page, an error page) gets them after
 * all, which is why this runs outside the error boundary.
 */
export function securityHeaders(apiPaths: Iterable<string>): Middleware {
  const every = helmetHeaders();
  const api = every.filter(([name]) => !DOCUMENT_ONLY.has(name.toLowerCase()));
  const documentOnly = every.filter(([name]) => DOCUMENT_ONLY.has(name.toLowerCase()));
  const lane = new Set(apiPaths);
  const set = (ctx: Context, headers: ReadonlyArray<readonly [string, string]>) => {
    for (const [name, value] of headers) ctx.res.setHeader(name, value);
  };
  return function setSecurityHeaders(ctx, next) {
    // ctx.secure: TLS here, or X-Forwarded-Proto: https from a trusted proxy (TRUST_PROXY).
    if (ctx.secure) ctx.res.setHeader('Strict-Transport-Security', STRICT_TRANSPORT_SECURITY);
    if (!lane.has(ctx.path)) {
      set(ctx, every);
      return next();
    }
    set(ctx, api);
    return next().finally(() => {
      // A prefix test rather than ctx.response.is('html') (a media-type parse): this is on every token request.
      if (!ctx.headerSent && String(ctx.res.getHeader('content-type') ?? '').startsWith('text/html')) set(ctx, documentOnly);
    });
  };
}
