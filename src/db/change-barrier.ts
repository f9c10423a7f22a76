// oidc-provider's own endpoints revoke too, with no audited act around them: the revocation
// endpoint (a JWT's jti, a token's grant), a replayed refresh token or code at the token endpoint
// (its grant), signing out of an app (its grant). Their answer must wait, as an audited act's does,
// until every instance has heard of what they revoked (ChangeFeed.barrier): an app told "revoked"
// may at once ask another instance, or tell the API that introspects there.
//
// The writes happen deep inside the provider's models, so they mark the request they belong to
// (revokedInThisRequest) and the middleware around the provider waits once the provider is done,
// before Koa sends the answer. Requests that revoke nothing (almost every token, introspection
// and userinfo request) wait for nothing and cost no query.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context, Middleware, Next } from 'koa';
import type { ChangeFeed } from './notifications.js';

const requests = new AsyncLocalStorage<{ revoked: boolean }>();

/** Says that the request being answered, if any, revoked something other instances may have cached. */
export function revokedInThisRequest(): void {
  const request = requests.getStore();
  if (request) request.revoked = true;
}

/** `middleware`, whose answer waits until every instance has heard of what it revoked. */
export function answeredOnceHeardEverywhere(middleware: Middleware, changes: Pick<ChangeFeed, 'barrier'>): Middleware {
  return async function heardEverywhere(ctx: Context, next: Next) {
    const request = { revoked: false };
    try {
      await requests.run(request, () => middleware(ctx, next));
    } finally {
      // Also when it failed: what was revoked before the failure was committed all the same.
      if (request.revoked) await changes.barrier?.();
    }
  };
}
