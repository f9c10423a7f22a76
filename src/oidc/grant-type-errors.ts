// RFC 6749 §5.2: a client using a grant type it is not authorized for gets `unauthorized_client`.
// oidc-provider answers `invalid_request` instead, and offers no hook for the token endpoint's
// errors, so this middleware, wrapped around the provider at the token endpoint, corrects the
// code after the fact. It decides from the outcome, not from the wording: the client
// authenticated, it is not registered for the grant type, and the answer was invalid_request (an
// unknown grant type is unsupported_grant_type, answered before this check). That relies on oidc-provider leaving `ctx.oidc` (its context,
// an internal) on the request after it answers; test/oidc/token-errors.test.ts fails loudly if an
// upgrade changes that.
import type { Context, Middleware, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

export function unauthorizedClientForDisallowedGrants(tokenPath: string): Middleware {
  return async function correctGrantTypeError(ctx: Context, next: Next) {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== tokenPath || ctx.status !== 400) return;
    const body = ctx.body as { error?: unknown } | undefined;
    if (body?.error !== 'invalid_request') return;
    const oidc = (ctx as unknown as Partial<KoaContextWithOIDC>).oidc;
    const grantType = oidc?.params?.grant_type;
    const client = oidc?.client;
    if (typeof grantType !== 'string' || !client) return;
    if (client.grantTypeAllowed(grantType)) return;
    ctx.body = { error: 'unauthorized_client', error_description: `this client is not registered for the ${grantType} grant type` };
  };
}
