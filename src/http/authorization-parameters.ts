// Before oidc-provider stores an authorization request, each of its parameters is held to a length.
// Nothing else bounds them: with only a public client's id, anyone can start a sign-in at /auth
// (an Interaction row kept an hour), push a request to /request (kept a minute) or ask for device
// authorization (kept ten minutes), and oidc-provider keeps state, nonce, login_hint, acr_values
// and the rest as sent. A 38 KB state made a 68 KB row. Below the caps every real app fits
// comfortably; above them the request is refused before the provider sees it, so nothing is stored.
//
// The caps, in UTF-8 bytes of each decoded value (a repeated parameter: of each value):
//   - 1 KB for anything not named below: nonce (a random value; Connect2id ships 128 characters as
//     its default), login_hint (an email or username), prompt, max_age, acr_values, ui_locales,
//     claims_locales, dpop_jkt, code_challenge (43–128 characters by RFC 7636), and any parameter
//     a later feature adds;
//   - 2 KB for state (an app may pack a return address into it; 1–2 KB is the common limit), and
//     for redirect_uri, resource and request_uri (an app's registered URIs are at most 2,000
//     characters);
//   - 4 KB for scope and claims (a list of scopes, a small JSON document);
//   - 8 KB for id_token_hint (an ID token Gatehouse issued, with its claims);
//   - 16 KB for request: a signed request object carries the other parameters inside it.
// The client's own credentials at /request and /device/auth (client_secret, client_assertion) are
// not held to them: they are checked, never stored, and a client assertion may carry a certificate.
// The request stays within what a proxy passes anyway (/auth's query within Node's 16 KB of headers,
// a body within oidc-provider's 56 KB).
//
// /auth answers a person, and may not send anything to an app whose redirect_uri it has not yet
// checked (the over-long value may be that redirect_uri): an invalid_request page, as for any
// request it cannot trust the app's address with. /request and /device/auth answer programs:
// invalid_request JSON, 400. A form posted to /auth becomes the GET it redirects to
// (form-post-endpoints.ts), and is held to the caps there.
import type { Context, Middleware, Next } from 'koa';
import { readTokenEndpointForm } from './provider-form.js';
import type { Pages } from './pages.js';

const KB = 1024;

/** The cap of any parameter not named in PARAMETER_CAPS, in UTF-8 bytes. */
export const DEFAULT_PARAMETER_CAP = KB;

/** Parameters allowed more than DEFAULT_PARAMETER_CAP, in UTF-8 bytes. */
export const PARAMETER_CAPS: Readonly<Record<string, number>> = {
  state: 2 * KB,
  redirect_uri: 2 * KB,
  resource: 2 * KB,
  request_uri: 2 * KB,
  scope: 4 * KB,
  claims: 4 * KB,
  id_token_hint: 8 * KB,
  request: 16 * KB,
};

/** Client authentication at the back-channel endpoints: checked by oidc-provider, never stored. */
const CREDENTIALS = new Set(['client_secret', 'client_assertion', 'client_assertion_type']);

export function capOf(name: string): number {
  return Object.hasOwn(PARAMETER_CAPS, name) ? PARAMETER_CAPS[name]! : DEFAULT_PARAMETER_CAP;
}

/** The first parameter over its cap, or undefined when every value fits. */
export function overLongParameter(params: Record<string, unknown>): { name: string; cap: number } | undefined {
  for (const [name, value] of Object.entries(params)) {
    if (CREDENTIALS.has(name)) continue;
    const cap = capOf(name);
    const values = Array.isArray(value) ? value : [value];
    if (values.some((one) => typeof one === 'string' && Buffer.byteLength(one, 'utf8') > cap)) return { name, cap };
  }
  return undefined;
}

export interface AuthorizationEndpoints {
  authorization: string;
  pushedAuthorization: string;
  deviceAuthorization: string;
}

export function capAuthorizationParameters(paths: AuthorizationEndpoints, pages: Pages): Middleware {
  const backChannel = new Set([paths.pushedAuthorization, paths.deviceAuthorization]);
  return async function capParameterLengths(ctx: Context, next: Next) {
    if (ctx.method === 'GET' && ctx.path === paths.authorization) {
      if (overLongParameter(ctx.query)) return pages.oauthError(ctx, 400, 'invalid_request');
      return next();
    }
    if (ctx.method === 'POST' && backChannel.has(ctx.path)) {
      // Read as oidc-provider reads it, and handed on to it (provider-form.ts).
      const form = await readTokenEndpointForm(ctx);
      if (!form) return undefined;
      const over = overLongParameter(form);
      if (over) {
        ctx.status = 400;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'invalid_request', error_description: `the ${over.name} parameter is longer than ${over.cap} bytes` };
        return undefined;
      }
    }
    return next();
  };
}
