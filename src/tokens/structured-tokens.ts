// oidc-provider's introspection and revocation endpoints refuse any token that parses as a JWT
// ("structured tokens cannot be introspected"), because it never stores JWT access tokens (that
// test, and the handle prefixes it lets through, are in src/oidc/internals.ts).
// Gatehouse can answer for them (jwt-access-tokens.ts), so in front of exactly those two
// endpoints this middleware parses the form body and puts a JWT behind a handle prefix, which
// oidc-provider treats as an opaque value and hands to the AccessToken/ClientCredentials adapters.
// Each endpoint has its own prefix, so the adapters can tell introspection (no grant needed: the
// token's truth was checked as a whole) from revocation (the grant is what gets revoked).
// The body is read through http/provider-form.ts, which oidc-provider then uses.
import type { Context, Middleware, Next } from 'koa';
import { readTokenEndpointForm } from '../http/provider-form.js';
import { isStructuredToken, JWT_HANDLE_PREFIX, JWT_REVOCATION_HANDLE_PREFIX } from '../oidc/internals.js';

/** Where the two endpoints are. */
export interface TokenEndpointPaths { introspection: string; revocation: string }

export function structuredTokenHandles(paths: TokenEndpointPaths): Middleware {
  return async function handleStructuredTokens(ctx: Context, next: Next) {
    const prefix = ctx.method === 'POST' ? handlePrefixFor(paths, ctx.path) : undefined;
    if (!prefix || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    const body = await readTokenEndpointForm(ctx);
    if (!body) return undefined;
    if (!ctx.get('authorization') && body.client_id === undefined && body.client_assertion === undefined) {
      // RFC 7662 §2.1 and RFC 6749 §5.2: a caller that does not authenticate at all is an
      // unauthenticated client (401), not a malformed request (oidc-provider's 400).
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Basic realm="gatehouse"');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_client', error_description: 'client authentication is required' };
      return undefined;
    }
    if (typeof body.token === 'string' && isStructuredToken(body.token)) {
      body.token = `${prefix}${body.token}`;
    }
    return next();
  };
}

function handlePrefixFor(paths: TokenEndpointPaths, path: string): string | undefined {
  if (path === paths.introspection) return JWT_HANDLE_PREFIX;
  if (path === paths.revocation) return JWT_REVOCATION_HANDLE_PREFIX;
  return undefined;
}
