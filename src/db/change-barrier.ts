// oidc-provider's own endpoints revoke too, with no audited act around them: the revocation
// endpoint (a JWT's jti, a token's grant), a replayed refresh token or code at the token endpoint
// (its grant), signing out of an app (its grant). Their answer must wait, as an audited act's does,
// until every instance has heard of what they revoked (ChangeFeed.barrier): an app told "revoked"
// may at once ask another instance, or tell the API that introspects there.
//
// The writes happen deep inside the provider's models, so they mark the request they belong to
// (revokedInThisRequest), and a middleware of the provider's, outermost of its own, waits once the
// provider is done, before Koa sends the answer. Requests that revoke nothing (almost every token,
// introspection and userinfo request) wait for nothing and cost no query.
//
// The request is the one oidc-provider is answering, as its own async context knows it
// (identifyRequestsBy, given src/oidc/internals.ts's currentRequest): not an AsyncLocalStorage of
// our own, which would add its bookkeeping to every promise of every request on the hot paths.
import type { Context, Next } from 'koa';
import type { ChangeFeed } from './notifications.js';

let requestOf: () => object | undefined = () => undefined;
const revoked = new WeakSet<object>();

/** How to tell which request is being answered; until set, nothing is marked (no request waits). */
export function identifyRequestsBy(current: () => object | undefined): void {
  requestOf = current;
}

/** Says that the request being answered, if any, revoked something other instances may have cached. */
export function revokedInThisRequest(): void {
  const request = requestOf();
  if (request) revoked.add(request);
}

/** Middleware for provider.use, registered first: the answer of a request that revoked waits until every instance has heard. */
export function answeredOnceHeardEverywhere(changes: Pick<ChangeFeed, 'barrier'>) {
  return async function heardEverywhere(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } finally {
      // Also when it failed: what was revoked before the failure was committed all the same.
      if (revoked.delete(ctx)) await changes.barrier?.();
    }
  };
}
