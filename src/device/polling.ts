// RFC 8628 §3.5: a device polls the token endpoint with its device code no more often than the
// `interval` the device authorization response gave it (5 seconds); sooner is `slow_down`, after
// which the device adds 5 seconds to its interval. oidc-provider tracks no polling rate, so this
// does, per device code (by digest) in the shared rate_limits table, allowing a second's jitter.
import type { Context, Middleware, Next } from 'koa';
import type { RateLimiterPostgres } from 'rate-limiter-flexible';
import { digest } from '../crypto/digest.js';
import { DEVICE_CODE_GRANT } from '../clients/store.js';
import type { Database } from '../db/knex.js';
import { readTokenEndpointForm } from '../http/provider-form.js';
import { databaseCounter } from '../security/rate-limit-store.js';

/** Seconds a device waits between polls (the device authorization response's `interval`). */
export const POLLING_INTERVAL_SECONDS = 5;

export function devicePolling(deps: { db: Database; tokenPath: string; deviceAuthorizationPath: string }): Middleware {
  const polls: RateLimiterPostgres = databaseCounter(deps.db, { keyPrefix: 'device_code_poll', points: 1, duration: POLLING_INTERVAL_SECONDS - 1 });
  return async function pollNoFasterThanTheInterval(ctx: Context, next: Next) {
    if (ctx.method === 'POST' && ctx.path === deps.tokenPath) {
      const form = await readTokenEndpointForm(ctx);
      if (!form) return;
      if (form.grant_type === DEVICE_CODE_GRANT && typeof form.device_code === 'string' && form.device_code) {
        const tooSoon = await polls.consume(digest(form.device_code)).then(() => false, (rejection: unknown) => {
          if (rejection instanceof Error) throw rejection;
          return true;
        });
        if (tooSoon) {
          ctx.status = 400;
          ctx.set('Cache-Control', 'no-store');
          ctx.body = { error: 'slow_down', error_description: `poll no more often than every ${POLLING_INTERVAL_SECONDS} seconds, and add 5 seconds to the interval now` };
          return;
        }
      }
      return next();
    }
    await next();
    // oidc-provider does not say how often to poll: say it, so no device falls back on a guess.
    if (ctx.method === 'POST' && ctx.path === deps.deviceAuthorizationPath && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      (ctx.body as Record<string, unknown>).interval = POLLING_INTERVAL_SECONDS;
    }
  };
}
