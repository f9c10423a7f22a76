// Discovery advertises what a registered app can use. oidc-provider computes
// response_types_supported from the response types it serves, and it serves `none` only for
// Gatehouse's own account pages (account-sign-in.ts): no app can register for it, so it is taken
// out of both discovery documents. oidc-provider's `discovery` setting can add members but not
// change computed ones, hence a middleware around the provider; test/e2e/discovery.test.ts walks
// every advertised value and fails if one is not usable.
import type { Context, Middleware, Next } from 'koa';

export const DISCOVERY_PATHS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

const NOT_FOR_APPS = new Set(['none']);

export function advertiseWhatAppsCanUse(paths: string[] = DISCOVERY_PATHS): Middleware {
  const documents = new Set(paths);
  return async function correctDiscovery(ctx: Context, next: Next) {
    await next();
    if (!documents.has(ctx.path) || ctx.status !== 200) return;
    const body = ctx.body as { response_types_supported?: unknown } | undefined;
    if (Array.isArray(body?.response_types_supported)) {
      body.response_types_supported = body.response_types_supported.filter((type) => !NOT_FOR_APPS.has(type as string));
    }
  };
}
