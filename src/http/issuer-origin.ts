// Where a request says it was sent is the caller's to choose: the Host header, X-Forwarded-Host
// behind a trusted proxy, or the authority of an absolute-form request line (`GET http://evil/…`).
// Koa builds ctx.host, ctx.href and ctx.URL from them, and oidc-provider builds every absolute URL
// it emits from ctx.href: discovery's endpoints and jwks_uri, the address a finished sign-in
// returns to, the logout form's action, and the endpoint URLs it accepts in a client assertion's
// `aud`. A forged Host would put all of those on the attacker's host, and a shared cache would
// hand the poisoned discovery document to everyone.
//
// So Gatehouse ignores where a request says it went: host and href always name ISSUER, whatever
// the headers say. Nothing is refused, so load balancers' health checks (which often send an IP as
// Host) and proxies that rewrite Host keep working. ctx.protocol and ctx.secure still describe the
// connection (TLS, or a trusted X-Forwarded-Proto): cookies' Secure flag and HSTS depend on it.
// That oidc-provider builds its URLs from ctx.href (lib/helpers/oidc_context.js, urlFor) is an
// internal this relies on (listed in src/oidc/internals.ts): test/oidc/internals.contract.test.ts
// and test/security/attacks/host-headers.test.ts fail if an upgrade changes it.
import type Koa from 'koa';

/**
 * Overrides the getters on app.request, Koa's documented prototype of every ctx.request; the
 * provider, mounted with koa-mount, handles the same ctx and so sees the same values.
 */
export function pinRequestOriginToIssuer(app: Koa, issuer: string): void {
  const { host, hostname, origin } = new URL(issuer);
  // Koa gives an IPv6 hostname without brackets.
  const bareHostname = hostname.replace(/^\[(.*)\]$/, '$1');
  Object.defineProperties(app.request, {
    host: { configurable: true, get: () => host },
    hostname: { configurable: true, get: () => bareHostname },
    href: {
      configurable: true,
      get(this: Koa.Request) {
        return origin + pathAndQuery(this.originalUrl);
      },
    },
    URL: {
      configurable: true,
      get(this: Koa.Request) {
        try {
          return new URL(this.href);
        } catch {
          return Object.create(null) as URL; // as Koa answers a URL it cannot parse
        }
      },
    },
  });
}

/**
 * The path and query of the request target. Browsers send origin-form (`/path?query`); anything
 * else — an absolute URL of any scheme (`GET evil://x/…`), `*` — keeps only the path and query it
 * names, so nothing of it can land between ISSUER and the path.
 */
function pathAndQuery(originalUrl: string): string {
  if (originalUrl.startsWith('/')) return originalUrl;
  try {
    const url = new URL(originalUrl, 'http://request-target.invalid');
    return url.pathname.startsWith('/') ? url.pathname + url.search : '/';
  } catch {
    return '/';
  }
}
