import Router from '@koa/router';
import { isReachable, type Database } from '../db/knex.js';

/**
 * /healthz: the process answers. /readyz: it can also reach its database, and is not shutting
 * down (503 from the first moment of a graceful stop, so the load balancer sends no more).
 * Both are answered before load shedding, so an overloaded instance still reports itself.
 */
export function healthRoutes(db: Database, draining: () => boolean): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (draining()) {
      ctx.status = 503;
      ctx.body = { status: 'draining' };
      return;
    }
    const database = await isReachable(db);
    ctx.status = database ? 200 : 503;
    ctx.body = { status: database ? 'ready' : 'unavailable', database: database ? 'ok' : 'unreachable' };
  });
  return router;
}
