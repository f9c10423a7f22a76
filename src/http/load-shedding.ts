// Load shedding: at most MAX_CONCURRENT_REQUESTS requests in progress per instance; one more is
// answered 503 with Retry-After at once. Without a bound, an instance past its capacity queues
// everything (the event loop, the database pool, argon2's threads), every request slows down
// together until clients time out mid-request, and /readyz times out too, so the load balancer
// cannot tell a busy instance from a dead one. With it, admitted requests keep their latency and
// the rest learn immediately to retry (elsewhere, or a moment later).
//
// A request is counted from the moment it is admitted until its handling returns, and an
// admitted request is never cut. /healthz, /readyz and the stylesheet are answered before this
// middleware (src/app.ts), so they are never shed.
import type { Context, Middleware, Next } from 'koa';
import type { Pages } from './pages.js';

/** Long enough for a burst to pass, short enough that a person's retry is not a long wait. */
export const SHED_RETRY_AFTER_SECONDS = 1;

export function loadShedding(maxConcurrentRequests: number, pages: Pages): Middleware {
  let inProgress = 0;
  return async function shedLoad(ctx: Context, next: Next) {
    if (inProgress >= maxConcurrentRequests) return answerBusy(ctx, pages, SHED_RETRY_AFTER_SECONDS);
    inProgress += 1;
    try {
      await next();
    } finally {
      inProgress -= 1;
    }
    return undefined;
  };
}

/**
 * 503 with Retry-After, never cached: the friendly page for a person's browser, OAuth error JSON
 * (`temporarily_unavailable`, RFC 6749 §4.1.2.1's code for this) for everything else.
 */
export function answerBusy(ctx: Context, pages: Pages, retryAfterSeconds: number): void {
  // Browsers ask for text/html on every navigation and form post; apps and APIs do not.
  if (/\btext\/html\b/i.test(ctx.get('accept'))) {
    pages.oauthError(ctx, 503, 'temporarily_unavailable');
  } else {
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable', error_description: 'The server is busy; try again in a moment.' };
  }
  ctx.set('Retry-After', String(retryAfterSeconds));
  ctx.set('Cache-Control', 'no-store');
}
