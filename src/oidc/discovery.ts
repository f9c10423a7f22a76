// Discovery advertises what a registered app can use. oidc-provider computes
// response_types_supported from the response types it serves, and it serves `none` only for
// Gatehouse's own account pages (account-sign-in.ts): no app can register for it, so it is taken
// out of both discovery documents. oidc-provider's `discovery` setting can add members but not
// change computed ones, hence a middleware around the provider; test/e2e/discovery.test.ts walks
// every advertised value and fails if one is not usable. It edits the document oidc-provider left
// in the response (src/oidc/internals.ts: discoveryDocument).
import type { Context, Middleware, Next } from 'koa';
import { DISCOVERY_PATHS, discoveryDocument } from './internals.js';

const NOT_FOR_APPS = new Set(['none']);

export function advertiseWhatAppsCanUse(paths: string[] = DISCOVERY_PATHS): Middleware {
  const documents = new Set(paths);
  return async function correctDiscovery(ctx: Context, next: Next) {
    await next();
    if (!documents.has(ctx.path) || ctx.status !== 200) return;
    const body = discoveryDocument(ctx);
    if (body && Array.isArray(body.response_types_supported)) {
      body.response_types_supported = body.response_types_supported.filter((type) => !NOT_FOR_APPS.has(type as string));
    }
  };
}
