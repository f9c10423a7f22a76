// oidc-provider's introspection and revocation endpoints refuse any token that parses as a JWT
// ("structured tokens cannot be introspected"), because it never stores JWT access tokens.
// Gatehouse can answer for them (jwt-access-tokens.ts), so in front of exactly those two
// endpoints this middleware parses the form body and puts a JWT behind JWT_HANDLE_PREFIX, which
// oidc-provider treats as an opaque value and hands to the AccessToken/ClientCredentials adapters.
// oidc-provider reads an already-parsed body (printing a one-time notice that upstream parsing is
// not recommended); the parser here is limited to these two routes and to oidc-provider's own
// body size limit.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import { decodeProtectedHeader } from 'jose';
import { JWT_HANDLE_PREFIX } from './jwt-access-tokens.js';

/** oidc-provider's own limit for request bodies. */
const BODY_LIMIT = '56kb';

export function structuredTokenHandles(paths: () => string[]): Middleware {
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: BODY_LIMIT, encoding: 'utf-8' });
  return async function handleStructuredTokens(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || !paths().includes(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    try {
      await parseForm(ctx, async () => {});
    } catch (error) {
      const status = (error as { status?: number }).status;
      ctx.status = status === 413 ? 413 : 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = {
        error: 'invalid_request',
        error_description: status === 413 ? 'the request body is too large' : 'the request body could not be parsed',
      };
      return undefined;
    }
    const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
    if (!ctx.get('authorization') && body.client_id === undefined && body.client_assertion === undefined) {
      // RFC 7662 §2.1 and RFC 6749 §5.2: a caller that does not authenticate at all is an
      // unauthenticated client (401), not a malformed request (oidc-provider's 400).
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Basic realm="gatehouse"');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_client', error_description: 'client authentication is required' };
      return undefined;
    }
    if (typeof body.token === 'string' && parsesAsJwt(body.token)) {
      body.token = `${JWT_HANDLE_PREFIX}${body.token}`;
    }
    return next();
  };
}

/** The same test oidc-provider applies before refusing a token as structured. */
function parsesAsJwt(token: string): boolean {
  try {
    return !!decodeProtectedHeader(token);
  } catch {
    return false;
  }
}
