import Router from '@koa/router';
import { isReachable, type Database } from '../db/knex.js';

/**
 * /healthz: the process answers. /readyz: it can also reach its database, and is not shutting
 * down (503 from the first moment of a graceful stop, so the load balancer sends no more).
 * Both are answered before load shedding, so an overloaded instance still reports itself.
 */
export function healthRoutes(db: Database, draining: () => boolean): Router {
  const router = new Router();
  const databaseAnswers = sharedProbe(() => isReachable(db));
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
    const database = await databaseAnswers();
    ctx.status = database ? 200 : 503;
    ctx.body = { status: database ? 'ready' : 'unavailable', database: database ? 'ok' : 'unreachable' };
  });
  return router;
}

/** How long one answer about the database serves every /readyz asking. */
const PROBE_FRESH_MS = 1000;

/**
 * /readyz is exempt from load shedding, so nothing else bounds what it costs: however many ask, the
 * database gets at most one probe in flight and one a second.
 */
function sharedProbe(probe: () => Promise<boolean>): () => Promise<boolean> {
  let last: { at: number; answer: Promise<boolean> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= PROBE_FRESH_MS) last = { at: now, answer: probe() };
    return last.answer;
  };
}
