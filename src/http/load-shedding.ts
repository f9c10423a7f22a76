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
import { answerUnavailable, asksForHtml } from './unavailable.js';

/** Long enough for a burst to pass, short enough that a person's retry is not a long wait. */
export const SHED_RETRY_AFTER_SECONDS = 1;

/** The middleware, and `admit` for a request that holds a slot only while it works (a held poll). */
export type LoadShedding = Middleware & {
  /** A slot, and what gives it back; undefined when none is free (answer busy). */
  admit(): (() => void) | undefined;
};

export function loadShedding(maxConcurrentRequests: number, pages: Pages): LoadShedding {
  let inProgress = 0;
  const admit = () => {
    if (inProgress >= maxConcurrentRequests) return undefined;
    inProgress += 1;
    let released = false;
    return () => {
      if (!released) inProgress -= 1;
      released = true;
    };
  };
  // The counter itself, not admit(): this runs on every token request, and needs no closure.
  async function shedLoad(ctx: Context, next: Next) {
    if (inProgress >= maxConcurrentRequests) return answerBusy(ctx, pages, SHED_RETRY_AFTER_SECONDS);
    inProgress += 1;
    try {
      await next();
    } finally {
      inProgress -= 1;
    }
    return undefined;
  }
  return Object.assign(shedLoad, { admit });
}

/** Too busy: the request is answered at once, before it costs anything (src/http/unavailable.ts). */
export function answerBusy(ctx: Context, pages: Pages, retryAfterSeconds: number): void {
  answerUnavailable(ctx, pages, 'busy', retryAfterSeconds, asksForHtml(ctx));
}
