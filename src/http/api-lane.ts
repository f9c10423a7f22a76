// The endpoints apps and APIs call on every request — token, introspection, revocation, userinfo,
// the JWKS — are answered by a chain of their own. They serve no page, so the sign-in, account,
// admin and enrolment routers, the asset and page rewrites, and the guards of other provider
// endpoints have nothing to do for them; in the one chain, each of those still cost a function
// call, a promise and a path test on every token request (about 20 of them), which the benchmark
// measured as a good part of Gatehouse's CPU per request beyond bare oidc-provider's.
//
// Only a request for exactly one of these paths takes the lane; any other spelling goes down the
// main chain, where src/http/canonical-paths.ts answers it. Whatever the lane's requests need
// (load shedding, the per-client limits, the JWT handles, …) is the same middleware instance the
// main chain uses, so a count such as load shedding's is shared between the two.
import type { Middleware } from 'koa';
import compose from 'koa-compose';

/**
 * A middleware that hands a request for one of `paths` to `lane` (which must answer it: the main
 * chain is not resumed), and every other request to the rest of the main chain.
 */
export function apiLane(paths: Iterable<string>, lane: Middleware[]): Middleware {
  const exact = new Set(paths);
  const run = compose(lane);
  return (ctx, next) => (exact.has(ctx.path) ? run(ctx) : next());
}
