// What Gatehouse's middleware in front of the mounted provider assumes about how oidc-provider
// reads requests and shapes answers: its routes and how its router matches them, how it reads a
// Basic header and a form body, what it refuses as a structured token, and the discovery and error
// bodies it leaves to be corrected. Part of src/oidc/internals.ts.
import type { Context } from 'koa';
import { decodeProtectedHeader } from 'jose';

/**
 * Every route name oidc-provider may register with a fixed path (lib/helpers/initialize_app.js);
 * pathFor throws for those a disabled feature left out. `discovery` is not here: its two paths are
 * DISCOVERY_PATHS. If oidc-provider adds a route, its other spellings pass the canonical-path
 * check (src/http/canonical-paths.ts) until it is listed here.
 */
export const PROVIDER_ROUTES = [
  'authorization', 'token', 'introspection', 'revocation', 'userinfo', 'jwks', 'end_session',
  'end_session_confirm', 'end_session_success', 'pushed_authorization_request', 'registration',
  'code_verification', 'device_authorization', 'backchannel_authentication', 'challenge', 'credential',
];

/** The routes with a path parameter, and the parameter's name (initialize_app.js). */
export const PROVIDER_ROUTES_WITH_A_PARAMETER: ReadonlyArray<readonly [string, string]> = [['resume', 'uid'], ['device_resume', 'uid'], ['client', 'clientId']];

/** The two paths oidc-provider serves its discovery document at. */
export const DISCOVERY_PATHS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

/**
 * A path as oidc-provider's router compares it with a route's fixed segments: ASCII letters in one
 * case (lib/helpers/router.js, fold; it folds other letters too, but never onto ASCII, so no other
 * spelling reaches an ASCII route). Its router also retries a path once without one trailing slash
 * (Router#match). If either changes, canonical-paths.ts answers 404 for spellings that no longer
 * reach the provider anyway, or lets through new ones it does not know.
 */
export function routerFold(path: string): string {
  return path.replace(/[a-z]/g, (letter) => letter.toUpperCase());
}

/**
 * The client id and secret in a Basic Authorization header, decoded as oidc-provider decodes them
 * (lib/shared/client_auth.js: split on the first `:`, then each part form-urlencoded, RFC 6749
 * §2.3.1). Undefined for anything it would refuse as malformed. If it decodes differently, the
 * per-client rate limit (src/security/endpoint-limits.ts) counts a request against another
 * client's name, and a receiver polling for security events (src/security-events/poll-endpoint.ts)
 * is told its secret is wrong where introspection takes it.
 */
export function basicAuthorization(header: string): { clientId: string; secret: string } | undefined {
  const [scheme, value, ...rest] = header.split(' ');
  if (rest.length || scheme?.toLowerCase() !== 'basic' || !value) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const form = (part: string) => decodeURIComponent(part.replace(/\+/g, '%20'));
    return { clientId: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/** The client id of basicAuthorization. */
export function basicAuthorizationClientId(header: string): string | undefined {
  return basicAuthorization(header)?.clientId;
}

/** oidc-provider's own limit for request bodies (lib/shared/selective_body.js, LIMIT: 56 KiB). */
export const PROVIDER_BODY_LIMIT = '56kb';
export const PROVIDER_BODY_LIMIT_BYTES = 56 * 1024;

/**
 * The form body oidc-provider will read for this request, when middleware in front of it parsed
 * the body already: lib/shared/selective_body.js finds the stream consumed and uses
 * `ctx.request.body` instead (printing a one-time notice). A change made to it here is what the
 * provider sees: structured-tokens.ts puts its JWT handle into `token` this way. If that changes,
 * requests whose body we read arrive empty at the provider (every one refused as invalid_request).
 */
export function bodyProviderReads(ctx: Context): Record<string, unknown> | undefined {
  return (ctx.request as { body?: Record<string, unknown> }).body;
}

/** Hands oidc-provider a form read in front of it (see bodyProviderReads). */
export function setBodyProviderReads(ctx: Context, form: Record<string, unknown>): void {
  (ctx.request as { body?: Record<string, unknown> }).body = form;
}

/**
 * What introspection and revocation refuse as a structured token (lib/shared/
 * reject_structured_tokens.js: anything jose's decodeProtectedHeader parses). If the test changes,
 * JWTs reach the adapters raw or handles are refused (src/tokens/structured-tokens.ts).
 */
export function isStructuredToken(token: string): boolean {
  try {
    return !!decodeProtectedHeader(token);
  } catch {
    return false;
  }
}

/**
 * How a JWT reaches the AccessToken/ClientCredentials adapters from the introspection and
 * revocation endpoints (src/tokens/structured-tokens.ts): behind a prefix no opaque token can
 * start with, which isStructuredToken refuses to parse, so oidc-provider passes the handle on as
 * an opaque value. The two endpoints get different prefixes because they need different payloads
 * (jwt-access-tokens.ts, accessTokenPayload). Each prefix ends in a dot: the handle then has four
 * parts (six for a JWE), which decodeProtectedHeader refuses at once, before base64-decoding
 * anything — with `jwt~` alone it decoded `jwt~<header>`, failed, and threw a DOMException, a
 * tenth of a JWT introspection's main-thread time.
 */
export const JWT_HANDLE_PREFIX = 'jwt~.';
export const JWT_REVOCATION_HANDLE_PREFIX = 'jwt-revocation~.';

/**
 * The error code oidc-provider answers with when an authenticated client asks the token endpoint
 * for a grant type, or a pushed authorization request for a response type, it is not registered
 * for (lib/actions/token.js; lib/actions/authorization/response_parameters.js at a pushed
 * authorization request). RFC 6749 says unauthorized_client; policies/grant-type-errors.ts corrects answers with
 * this code. If it changes, that correction stops applying.
 */
export const UNREGISTERED_TYPE_ERROR = 'invalid_request';

/**
 * The discovery document oidc-provider answered with, as the object it left in `ctx.body` (lib/
 * actions/discovery.js) for middleware around the provider to edit. Undefined for anything else.
 * If it stops being a plain object there, discovery.ts can no longer correct what it advertises.
 */
export function discoveryDocument(ctx: Context): Record<string, unknown> | undefined {
  const body = ctx.body as unknown;
  return body && typeof body === 'object' && !Buffer.isBuffer(body) ? body as Record<string, unknown> : undefined;
}

/**
 * The resume route (`resume`, `${routes.authorization}/:uid` in lib/helpers/initialize_app.js, at
 * its default /auth). In 9.13 a resume that fails with a registered client_id in its query is a
 * 500: the error handler (lib/shared/authorization_error_handler.js) looks the client up from the
 * query and reads request parameters a resume never has. src/http/resume-guard.ts drops a
 * resume's query. If the path moves, the guard stops applying; if an upgrade fixes the handler,
 * the guard can go.
 */
export const RESUME_PATH = /^\/auth\/[^/]+$/;

/**
 * The CSRF token in the form oidc-provider hands its deviceFlow page hooks (lib/helpers/
 * user_code_form.js: a hidden `xsrf` input, checked by lib/shared/xsrf.js against the session).
 * Gatehouse renders its own form with it. If the form changes: /device's forms are refused.
 */
export function deviceFormToken(form: string): string {
  return /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? '';
}

/**
 * A typed user code as oidc-provider looks it up (lib/helpers/user_codes.js, normalize): upper
 * case, everything but letters and digits dropped, so `bcdf-ghjk` finds BCDFGHJK. If it changes:
 * wrong codes are counted for codes oidc-provider finds, or the other way round.
 */
export function normalizeUserCode(input: string): string {
  return input.replace(/[a-z]/g, (char) => char.toUpperCase()).replace(/\W/g, '');
}
