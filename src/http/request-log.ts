import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';
import { tracingOn } from '../observability/tracing.js';

const SAFE_REQUEST_ID = /^[\w.-]{8,64}$/;

/**
 * Gives every request an id (a caller's X-Request-Id when it looks like one) and logs one line
 * when it ends. Only the path is logged: query strings carry codes, states and id_token_hints.
 * With tracing on, the line names the request's trace, so a slow request found in the log is one
 * search away in the tracing backend.
 */
export function requestLog(logger: Logger): Middleware {
  return async function logRequest(ctx, next) {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    const requestId = SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const status = ctx.status;
      const span = tracingOn() ? trace.getActiveSpan()?.spanContext() : undefined;
      logger[status >= 500 ? 'error' : 'info']({
        msg: 'request',
        requestId,
        method: ctx.method,
        path: ctx.path,
        status,
        durationMs: Math.round(durationMs * 10) / 10,
        ip: ctx.ip,
        ...(span && trace.isSpanContextValid(span) ? { traceId: span.traceId } : {}),
      });
    }
  };
}
