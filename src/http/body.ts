// @koa/bodyparser (co-body, raw-body underneath) refuses a body it cannot read with an error that
// carries its HTTP status: 400, 413, 415. A compressed body that does not decompress is the one
// exception: zlib's error carries none, and every surface then answered the person's bad input
// with a 500. The routes that parse a body do it through this reader, where that error is a 400
// too. The reader also calls the next middleware outside its own `try`, so an error of the route's
// is never taken for the body's.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';

type Options = NonNullable<Parameters<typeof bodyParser>[0]>;

/** A body parser that refuses any body it cannot read with a 4xx, its status said in `status`. */
export function bodyReader(options: Options): Middleware {
  const parse = bodyParser(options);
  return async function readBody(ctx: Context, next: Next) {
    try {
      await parse(ctx, async () => {});
    } catch (error) {
      throw unreadable(error);
    }
    return next();
  };
}

function unreadable(error: unknown): unknown {
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) return error;
  return Object.assign(new Error('The request body could not be read: it does not decompress as its Content-Encoding says.'), { status: 400, expose: true, type: 'entity.unreadable' });
}
