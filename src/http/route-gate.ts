// A router's middleware that runs only for the paths its routes can match. Koa hands every
// request to every router, and @koa/router tests each of its routes' patterns in turn: with a
// dozen routers in front of the provider, a token or introspection request went through about 150
// regular expressions that could never match it. The fixed start of a route's path (up to its
// first parameter) says enough to pass a router by.
import type Router from '@koa/router';
import type { Middleware } from 'koa';

/** `router.routes()`, skipped for a path no route of the router begins like. */
export function routesFor(router: Router): Middleware {
  const routes = router.routes() as unknown as Middleware;
  const starts = new Set<string>();
  for (const layer of router.stack) {
    // Middleware the router was given with use() runs only once one of its routes matched.
    if (layer.methods.length === 0) continue;
    // A pattern we cannot read (a RegExp route): the router runs for every path, as before.
    if (typeof layer.path !== 'string') return routes;
    starts.add(fixedStart(layer.path));
  }
  // @koa/router matches paths in any case (its default), so the comparison does too.
  const lowered = [...starts].map((start) => start.toLowerCase());
  return (ctx, next) => {
    const path = ctx.path.toLowerCase();
    return lowered.some((start) => path.startsWith(start)) ? routes(ctx, next) : next();
  };
}

/** `/interaction/:uid/login` → `/interaction`: the text before the first parameter, without a trailing slash. */
function fixedStart(path: string): string {
  const parameter = path.search(/[:{(*]/);
  const fixed = parameter === -1 ? path : path.slice(0, parameter);
  return fixed.endsWith('/') ? fixed.slice(0, -1) : fixed;
}
