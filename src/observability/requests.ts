// Every HTTP request, measured and traced in one place, outermost, so what it records is what the
// client got (after the error boundary, load shedding and the rate limits had their say).
//
// A request is named by its route, never its path: paths carry ids and whatever a caller makes
// up, and each distinct label value is a time series of its own. Gatehouse's routes are known by
// their template (@koa/router's matched layer), oidc-provider's by their endpoint name (`token`,
// `authorization`, …; the fixed table of its paths covers those answered before it ran, such as a
// rate-limited token request), a fixed path answered by a middleware by what it set in
// ctx.state.route, and everything else is `unmatched`.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { Context, Middleware } from 'koa';
import { withoutQuotedValues } from '../db/errors.js';
import { httpRequestDuration, httpRequests } from './metrics.js';
import { tracer, tracingOn } from './tracing.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The method as a label: a made-up one is `other`. */
function methodOf(ctx: Context): string {
  return METHODS.has(ctx.method) ? ctx.method : 'other';
}

/**
 * @param providerRoutes oidc-provider's endpoints by path (path → route name), for requests it
 * never saw.
 */
export function routeOf(ctx: Context, providerRoutes: ReadonlyMap<string, string>): string {
  const own = (ctx.state as { route?: unknown }).route;
  if (typeof own === 'string') return own;
  // Before the matched layer: oidc-provider routes with @koa/router too, by its own paths.
  const provider = (ctx as { oidc?: { route?: unknown } }).oidc?.route;
  if (typeof provider === 'string') return provider;
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return matched;
  return providerRoutes.get(ctx.path) ?? 'unmatched';
}

export function observeRequests(providerRoutes: ReadonlyMap<string, string>): Middleware {
  return async function observeRequest(ctx, next) {
    if (!tracingOn()) return measure(ctx, next, providerRoutes);
    const method = methodOf(ctx);
    const started = process.hrtime.bigint();
    // A caller's traceparent (W3C Trace Context) makes this request's span its child.
    const parent = propagation.extract(ROOT_CONTEXT, ctx.headers);
    const span = tracer().startSpan(method, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': method, 'url.path': ctx.path, 'url.scheme': ctx.protocol },
    }, parent);
    let failed = false;
    try {
      await context.with(trace.setSpan(parent, span), next);
    } catch (error) {
      failed = true;
      span.recordException(withoutQuotedValues(error) as Error);
      throw error;
    } finally {
      // Thrown past the error boundary, Koa answers 500 whatever ctx.status said.
      const status = failed ? 500 : ctx.status;
      const route = routeOf(ctx, providerRoutes);
      count(method, route, status, started);
      span.updateName(`${method} ${route}`);
      span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}

function count(method: string, route: string, status: number, started: bigint): void {
  httpRequests.inc({ method, route, status: String(status) });
  httpRequestDuration.observe({ method, route }, Number(process.hrtime.bigint() - started) / 1e9);
}

/** observeRequest's metrics alone, while tracing is off. */
async function measure(ctx: Context, next: () => Promise<unknown>, providerRoutes: ReadonlyMap<string, string>): Promise<void> {
  const method = methodOf(ctx);
  const started = process.hrtime.bigint();
  let failed = false;
  try {
    await next();
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // Thrown past the error boundary, Koa answers 500 whatever ctx.status said.
    count(method, routeOf(ctx, providerRoutes), failed ? 500 : ctx.status, started);
  }
}
