// Discovery and the JWKS are public, the same for every caller (src/http/issuer-origin.ts makes
// them independent of the Host header), and fetched by every app and API: they may be cached, for
// a bounded time, by anyone. oidc-provider sends them with no caching policy at all.
import type { Middleware } from 'koa';
import type { Config } from '../config.js';
import { providerContextOf } from '../oidc/internals.js';

/** Discovery changes only with the configuration, i.e. on a restart. */
export const DISCOVERY_MAX_AGE_SECONDS = 3600;
const JWKS_MAX_AGE_CAP_SECONDS = 300;

/**
 * A rotated-in key is published KEY_PUBLISH_BEFORE_SIGNING seconds before it signs, and every
 * instance has published it within KEY_REFRESH_INTERVAL of that. A key set cached just before the
 * last instance published must have expired before the key signs, or a verifier holding it would
 * refuse the first tokens the new key signs.
 */
export function jwksMaxAgeSeconds(keys: Config['keys']): number {
  return Math.max(0, Math.min(JWKS_MAX_AGE_CAP_SECONDS, keys.publishBeforeSigningSeconds - keys.refreshIntervalSeconds));
}

function cacheFor(seconds: number): string {
  return seconds > 0 ? `public, max-age=${seconds}` : 'no-cache';
}

export function metadataCaching(keys: Config['keys']): Middleware {
  const policies: Record<string, string> = {
    discovery: cacheFor(DISCOVERY_MAX_AGE_SECONDS),
    jwks: cacheFor(jwksMaxAgeSeconds(keys)),
  };
  return async function cacheMetadata(ctx, next) {
    await next();
    // The route oidc-provider matched, rather than its paths (discovery has two).
    const route = providerContextOf(ctx)?.route;
    const policy = route === undefined ? undefined : policies[route];
    if (policy && ctx.status === 200 && (ctx.method === 'GET' || ctx.method === 'HEAD')) ctx.set('Cache-Control', policy);
  };
}
