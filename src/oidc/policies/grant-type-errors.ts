// RFC 6749 §5.2 and §4.1.2.1: a client asking for a grant type, or a response type, it is not
// registered for gets `unauthorized_client`. oidc-provider answers `invalid_request` at the token
// endpoint and at pushed authorization requests (RFC 9126 §2.3 uses the authorization endpoint's
// codes) and at device authorization (RFC 8628 §3.2 uses the token endpoint's), and offers no hook for those errors, so this middleware, wrapped around the provider,
// corrects the code after the fact. It decides from the outcome, not from the wording: the client
// authenticated, it is not registered for what it asked, and the answer was invalid_request (an
// unknown grant or response type is unsupported_*, answered before this check). That relies on
// oidc-provider leaving `ctx.oidc` (its context) on the request after it answers, and on the code
// it answers with (src/oidc/internals.ts: providerContextOf, UNREGISTERED_TYPE_ERROR);
// test/oidc/token-errors.test.ts fails loudly if an upgrade changes that.
import type { Context, Middleware, Next } from 'koa';
import { providerContextOf, UNREGISTERED_TYPE_ERROR } from '../internals.js';
import { DEVICE_CODE_GRANT } from '../../clients/store.js';

export interface ClientErrorPaths { token: string; pushedAuthorization: string; deviceAuthorization?: string }

/** RFC 8628 §3.2: an app that did not opt into the device flow asks for device authorization. */
function deviceFlowNotAllowed(ctx: Context): void {
  if ((ctx.body as { error?: unknown } | undefined)?.error !== UNREGISTERED_TYPE_ERROR) return;
  const client = providerContextOf(ctx)?.client;
  if (!client || client.grantTypeAllowed(DEVICE_CODE_GRANT)) return;
  ctx.body = { error: 'unauthorized_client', error_description: `this client is not registered for the ${DEVICE_CODE_GRANT} grant type` };
}

export function unauthorizedClientErrors(paths: ClientErrorPaths): Middleware {
  return async function correctUnauthorizedClient(ctx: Context, next: Next) {
    await next();
    if (ctx.method !== 'POST' || ctx.status !== 400) return;
    if (ctx.path === paths.deviceAuthorization) return deviceFlowNotAllowed(ctx);
    if (ctx.path !== paths.token && ctx.path !== paths.pushedAuthorization) return;
    if ((ctx.body as { error?: unknown } | undefined)?.error !== UNREGISTERED_TYPE_ERROR) return;
    const oidc = providerContextOf(ctx);
    const client = oidc?.client;
    if (!client) return;
    const [kind, asked, allowed] = ctx.path === paths.token
      ? ['grant', oidc.params?.grant_type, (type: string) => client.grantTypeAllowed(type)] as const
      : ['response', oidc.params?.response_type, (type: string) => client.responseTypeAllowed(type as Parameters<typeof client.responseTypeAllowed>[0])] as const;
    if (typeof asked !== 'string' || allowed(asked)) return;
    ctx.body = { error: 'unauthorized_client', error_description: `this client is not registered for the ${asked} ${kind} type` };
  };
}
