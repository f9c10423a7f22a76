// Per-client rate limits on POST /token, /token/introspection and /token/revocation, in front of
// oidc-provider: TOKEN_RATE_LIMIT, INTROSPECTION_RATE_LIMIT and REVOCATION_RATE_LIMIT requests per
// minute (fixed windows), each endpoint counted on its own. Over the limit: HTTP 429 with
// Retry-After and a JSON error body.
//
// In memory, per instance. These limits keep one client from monopolising the server; they need
// not be exact across instances (N instances allow N × the limit, which also grows with the
// capacity deployed), and a counter in memory costs no database round trip on the busiest
// endpoints. Sign-in throttling is different — it must hold across instances — and lives in
// PostgreSQL (sign-in-throttle.ts).
//
// Who is counted. The client is read from the Basic Authorization header (RFC 6749 §2.3.1:
// form-urlencoded, then base64, as oidc-provider decodes it: src/oidc/internals.ts), else from the
// form body's client_id or the subject of its client_assertion — parsed only then, only for these
// paths, with oidc-provider's own limits (urlencoded, 56kb); oidc-provider then reads the parsed
// body, as after structured-tokens.ts.
// None of that is authenticated yet, and client ids are not secret, so a claim alone must not
// let anyone spend another client's budget:
//   - a request with credentials (Basic, client_secret, client_assertion) counts against the
//     client — unless oidc-provider then refuses the authentication (401, or a 400
//     invalid_request about how it was presented), in which case the point moves to the
//     caller's address (IPv4 address or IPv6 /64), and an address that used up its budget that
//     way is refused before it reaches the client's counter again;
//   - a request naming a client without credentials (a public client) counts against that
//     client from that address: its callers are the client's users' browsers and devices, so one
//     budget for all of them would be both too small and anyone's to exhaust;
//   - a request naming no client counts against its address.
import type { Context, Middleware, Next } from 'koa';
import { decodeJwt } from 'jose';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Config } from '../config.js';
import { digest } from '../crypto/digest.js';
import { readTokenEndpointForm } from '../http/provider-form.js';
import { throttleBlocks } from '../observability/metrics.js';
import { basicAuthorizationClientId } from '../oidc/internals.js';
import { networkOf } from './client-address.js';

export type EndpointLimits = Config['rateLimits'];
export type LimitedEndpoint = keyof EndpointLimits;
export type EndpointPaths = Record<LimitedEndpoint, string>;

const WINDOW_SECONDS = 60;

interface Caller {
  clientId: string | undefined;
  /** Presented client credentials, which oidc-provider will check. */
  credentials: boolean;
}

/** Registered client ids are short; a long one (anything may be sent) is kept by its digest, so a key's size stays bounded. */
const LONGEST_KEPT_AS_IS = 64;

function boundedId(clientId: string): string {
  // The two forms cannot collide: '=' and '#' tell them apart.
  return clientId.length <= LONGEST_KEPT_AS_IS ? `=${clientId}` : `#${digest(clientId)}`;
}

export function endpointRateLimits(paths: EndpointPaths, limits: EndpointLimits): Middleware {
  const limiters = new Map<LimitedEndpoint, RateLimiterMemory>();
  for (const endpoint of ['token', 'introspection', 'revocation'] as const) {
    if (limits[endpoint] > 0) limiters.set(endpoint, new RateLimiterMemory({ keyPrefix: endpoint, points: limits[endpoint], duration: WINDOW_SECONDS }));
  }

  return async function limitTokenEndpoints(ctx: Context, next: Next) {
    if (ctx.method !== 'POST') return next();
    const endpoint = endpointAt(paths, ctx.path);
    const limiter = endpoint && limiters.get(endpoint);
    if (!limiter) return next();

    const caller = await callerOf(ctx);
    if (!caller) return undefined; // the body could not be read; answered already

    // A client is charged only once it has proven who it is: until then its budget is only read,
    // so nobody can spend (and exhaust) a client's budget by naming it. Whatever fails to
    // authenticate — a wrong secret, a made-up client_id — is charged to the caller's address.
    // Reading before and charging after lets a burst overshoot by its own concurrency, which a
    // rate limit (unlike the sign-in throttle) can afford.
    const addressKey = `address:${networkOf(ctx.ip)}`;
    const clientKey = caller.clientId === undefined
      ? undefined
      : caller.credentials
        ? `client:${boundedId(caller.clientId)}`
        : `public:${boundedId(caller.clientId)}:${addressKey}`;
    for (const key of clientKey ? [addressKey, clientKey] : [addressKey]) {
      const spent = await limiter.get(key);
      if (spent && spent.consumedPoints >= limiter.points) {
        throttleBlocks.inc({ limit: endpoint });
        return tooManyRequests(ctx, spent.msBeforeNext);
      }
    }

    await next();

    await limiter.penalty(clientKey && !clientAuthenticationRefused(ctx) ? clientKey : addressKey);
    return undefined;
  };
}

function endpointAt(paths: EndpointPaths, path: string): LimitedEndpoint | undefined {
  if (path === paths.token) return 'token';
  if (path === paths.introspection) return 'introspection';
  if (path === paths.revocation) return 'revocation';
  return undefined;
}

/** Who the request says it is; undefined when the body was unreadable and an answer was sent. */
async function callerOf(ctx: Context): Promise<Caller | undefined> {
  const authorization = ctx.get('authorization');
  if (authorization) return { clientId: basicAuthorizationClientId(authorization), credentials: true };
  if (!ctx.is('application/x-www-form-urlencoded')) return { clientId: undefined, credentials: false };
  const body = await readTokenEndpointForm(ctx);
  if (!body) return undefined;
  const clientId = typeof body.client_id === 'string' ? body.client_id : assertionSubject(body.client_assertion);
  return { clientId, credentials: body.client_secret !== undefined || body.client_assertion !== undefined };
}

/** private_key_jwt and client_secret_jwt name the client as the assertion's subject. */
function assertionSubject(assertion: unknown): string | undefined {
  if (typeof assertion !== 'string') return undefined;
  try {
    const { sub } = decodeJwt(assertion);
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** oidc-provider refused the client's authentication, or how it was presented. */
function clientAuthenticationRefused(ctx: Context): boolean {
  if (ctx.status === 401) return true;
  const error = (ctx.body as { error?: unknown } | null | undefined)?.error;
  return ctx.status === 400 && error === 'invalid_request';
}

/**
 * RFC 6749 registers no error code for rate limiting at these endpoints (RFC 8628's slow_down
 * belongs to the device flow's polling), so the HTTP status carries the meaning — 429 with
 * Retry-After (RFC 6585) — and the body keeps the OAuth error shape clients already parse.
 */
function tooManyRequests(ctx: Context, msBeforeNext: number): void {
  const seconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
  ctx.status = 429;
  ctx.set('Retry-After', String(seconds));
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: 'too_many_requests', error_description: `too many requests; try again in ${seconds} seconds` };
}
