// Koa reads a request's path with parseurl, which throws for a target it cannot parse: an
// absolute-form target with a malformed host (`GET http://[::1/auth HTTP/1.1`). Thrown from the
// first middleware to read the path, before the error boundary, that was Koa's bare 500, and the
// metrics and the request log, reading the path again as they finished, threw too: nothing was
// counted or logged. The first middleware answers it, as the client's bad request it is.
import type { Context, Middleware, Next } from 'koa';

export function refuseUnreadableTargets(): Middleware {
  return function requireReadableTarget(ctx: Context, next: Next) {
    try {
      void ctx.path;
    } catch {
      ctx.status = 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = 'The request target cannot be read.';
      return undefined;
    }
    return next();
  };
}
