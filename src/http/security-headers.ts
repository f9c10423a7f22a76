import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
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
 * (and a promise around it) on every response only repeated the same work.
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
 * they go without these (OWASP's REST Security Cheat Sheet lists what an API response needs);
 * everything else still applies to them, CSP and X-Frame-Options included for a 404 page.
 */
const DOCUMENT_ONLY = new Set([
  'cross-origin-opener-policy',
  'origin-agent-cluster',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
]);

function setting(headers: ReadonlyArray<readonly [string, string]>): Middleware {
  return function setSecurityHeaders(ctx, next) {
    const { res } = ctx;
    for (const [name, value] of headers) res.setHeader(name, value);
    // ctx.secure: TLS here, or X-Forwarded-Proto: https from a trusted proxy (TRUST_PROXY).
    if (ctx.secure) res.setHeader('Strict-Transport-Security', STRICT_TRANSPORT_SECURITY);
    return next();
  };
}

/** Security headers on every response. */
export function securityHeaders(): Middleware {
  return setting(helmetHeaders());
}

/** The same for the endpoints apps and APIs call (src/http/api-lane.ts), less what only a document uses. */
export function apiSecurityHeaders(): Middleware {
  return setting(helmetHeaders().filter(([name]) => !DOCUMENT_ONLY.has(name.toLowerCase())));
}
