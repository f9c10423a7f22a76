// Token exchange (RFC 8693) for API-to-API delegation: an API that received a person's access
// token exchanges it for one aimed at a downstream API it is allowed to call, so the downstream API
// sees who the call is for (`sub`, the person) and who is making it (`act`, the API).
//
// The request (client authentication: the API's own credentials, the ones it introspects with):
//
//   grant_type=urn:ietf:params:oauth:grant-type:token-exchange
//   subject_token=<the person's JWT access token, issued for this API>
//   subject_token_type=urn:ietf:params:oauth:token-type:access_token
//   resource=<downstream API identifier>   (or audience=<the same>; one API per exchange)
//   scope=<optional: at most what may be given, see below>
//   requested_token_type=<optional: urn:ietf:params:oauth:token-type:access_token>
//
// The answer is an RFC 9068 JWT for the downstream API: `sub` the person, `act: {sub: <this API's
// identifier>}` (with the subject token's own `act` nested inside, when it was itself exchanged),
// `client_id` this API's client, the person's grant (`grant_id`, and `grant_client_id`, the app it
// was given to), and `scope` only what the person allowed the app for the downstream API, of that
// API's scopes, and of what was asked. It lives at most EXCHANGED_ACCESS_TOKEN_TTL_SECONDS, never
// longer than the downstream API's own lifetime nor than the subject token. Revoking the person's
// grant, disabling the person, the app or this API ends it, as for any token of that grant.
//
// Sender constraint (RFC 9449): an exchange that carries a `DPoP` proof gets a token bound to the
// proof's key (`cnf.jkt`, `token_type: DPoP`), the proof checked as oidc-provider checks one at the
// token endpoint for its own grants, its jti accepted once. A subject token bound to the app's key
// (`cnf.jkt`) is exchanged only with a proof: the token the API gets is then bound to the API's
// own key, never a bearer token. A bearer subject token with a proof is bound too; without one it
// gives a bearer token, unless the API's client is registered to require DPoP.
//
// Errors (RFC 8693 §2.2.2, RFC 6749 §5.2):
//   invalid_request      a missing subject_token, a subject_token_type or requested_token_type
//                        other than an access token, an actor_token (the API itself is the actor);
//                        no DPoP proof for a DPoP-bound subject token, or from an API's client
//                        registered to require DPoP
//   invalid_dpop_proof   a DPoP proof that fails a check, or one used before
//   use_dpop_nonce       a DPoP proof without the server's nonce, when nonces are required
//   invalid_grant        the subject token is not a live access token of ours for a person, was
//                        not issued for this API, has expired, or was revoked (with its grant, its
//                        person or its app)
//   invalid_target       no downstream API or more than one, one that is unknown or disabled, or one
//                        this API may not exchange for (gatehouse resource update --may-exchange-for)
//   invalid_scope        a scope asked for that may not be given, or nothing at all may be given
//   unauthorized_client  the client is not an API's (only APIs are registered for this grant)
//   invalid_client       a disabled API's client (it no longer authenticates)
import { errors, type Provider, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWTPayload } from 'jose';
import type { AuditLog } from '../../audit/log.js';
import type { Config } from '../../config.js';
import { EXCHANGED_ACCESS_TOKEN_TTL_SECONDS } from '../../lifetimes.js';
import type { ResourceServerStore } from '../../resources/store.js';
import { kindOf, type JwtAccessTokens } from '../../tokens/jwt-access-tokens.js';
import { ACCESS_TOKEN_TYPE, GRANT_CLIENT_CLAIM, GRANT_ID_CLAIM, RESOURCE_METADATA, TOKEN_EXCHANGE_GRANT } from '../../vocabulary.js';
import { accessTokenFor, bindToProofKey, dpopProofOf, requireProofIfRegistered } from '../internals.js';
import { apiScopesOf } from '../client-scopes.js';

export const PARAMETERS = [
  'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'resource', 'audience', 'scope',
] as const;

/** What the JWT customizer adds to an exchanged token (configuration.ts, formats.customizers.jwt). */
export interface ExchangeClaims {
  act: Record<string, unknown>;
  [GRANT_CLIENT_CLAIM]: string;
}

const exchanged = new WeakMap<object, ExchangeClaims>();

/** The claims an access token being issued by this grant carries beyond oidc-provider's; undefined for any other token. */
export function exchangeClaimsOf(token: object): ExchangeClaims | undefined {
  return exchanged.get(token);
}

export interface TokenExchangeDependencies {
  config: Config;
  jwts: JwtAccessTokens;
  resources: ResourceServerStore;
  audit: AuditLog;
}

export function registerTokenExchange(provider: Provider, deps: TokenExchangeDependencies): void {
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, (ctx) => exchange(provider, deps, ctx), PARAMETERS, ['resource', 'audience']);
}

type Params = Record<string, unknown>;

function single(params: Params, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function all(params: Params, name: string): string[] {
  const value = params[name];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return typeof value === 'string' && value !== '' ? [value] : [];
}

/** The one downstream API named by `resource` and/or `audience` (RFC 8693 §2.1 allows both, for one target here). */
function targetOf(params: Params): string {
  const targets = new Set([...all(params, 'resource'), ...all(params, 'audience')]);
  if (targets.size !== 1) throw new errors.InvalidTarget('name exactly one downstream API, with resource or audience');
  return [...targets][0]!;
}

function checkTokenTypes(params: Params): void {
  if (!single(params, 'subject_token')) throw new errors.InvalidRequest('missing required parameter \'subject_token\'');
  if (single(params, 'subject_token_type') !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`unsupported subject_token_type: only ${ACCESS_TOKEN_TYPE} is exchanged`);
  }
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
    throw new errors.InvalidRequest('actor_token is not supported: the authenticated API is the actor');
  }
  const requested = params.requested_token_type;
  if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`unsupported requested_token_type: only ${ACCESS_TOKEN_TYPE} is issued`);
  }
}

function audiencesOf(claims: JWTPayload): string[] {
  return Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
}

/** RFC 9449 §6.1: the subject token names the key it is bound to. */
function isDpopBound(claims: JWTPayload): boolean {
  const cnf = claims.cnf as { jkt?: unknown } | undefined;
  return typeof cnf?.jkt === 'string';
}

function scopesOf(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}

async function exchange(provider: Provider, deps: TokenExchangeDependencies, ctx: KoaContextWithOIDC): Promise<void> {
  const params = (ctx.oidc.params ?? {}) as Params;
  const client = ctx.oidc.client!;
  checkTokenTypes(params);
  const target = targetOf(params);
  // Before anything is looked up, as oidc-provider's own grants do: a malformed proof is an error,
  // never ignored.
  const proof = await dpopProofOf(provider, ctx);
  requireProofIfRegistered(provider, ctx, proof, errors.InvalidRequest);

  // Only an API's client is registered for this grant (src/oidc/models/client.ts); the API it
  // belongs to says where it may exchange tokens for.
  const apiIdentifier = (client as unknown as Record<string, unknown>)[RESOURCE_METADATA];
  if (typeof apiIdentifier !== 'string') throw new errors.UnauthorizedClient('only an API may exchange tokens');
  const [api, downstream] = await Promise.all([deps.resources.find(apiIdentifier), deps.resources.find(target)]);
  if (!api || api.disabledAt) throw new errors.UnauthorizedClient('the API is not enabled');
  if (!api.mayExchangeFor.includes(target)) throw new errors.InvalidTarget(`${api.identifier} may not exchange tokens for ${target}`);
  if (!downstream || downstream.disabledAt) throw new errors.InvalidTarget(`unknown resource ${target}`);

  // Ours, unexpired, still standing (grant, revocation, person, app), for a person, and issued for
  // this API: an API exchanges only the tokens it was sent.
  const subject = await deps.jwts.resolve(single(params, 'subject_token')!, 'exchange');
  const claims = subject?.claims;
  if (!claims || kindOf(claims) !== 'AccessToken' || typeof claims.sub !== 'string') {
    throw new errors.InvalidGrant('subject token invalid, expired or revoked');
  }
  if (!audiencesOf(claims).includes(apiIdentifier)) throw new errors.InvalidGrant('subject token was not issued for this API');
  // A token bound to the app's key must not come out of an exchange as a bearer token. The API
  // cannot prove the app's key, so it proves its own, and the new token is bound to that.
  if (!proof && isDpopBound(claims)) {
    throw new errors.InvalidRequest('the subject token is DPoP-bound: send a DPoP proof of the API\'s key with the exchange');
  }
  const grantId = claims[GRANT_ID_CLAIM] as string;

  // What the person allowed the app for the downstream API (the grant, cached: src/oidc/models/grant.ts),
  // and of that only what the app is still registered for: an app narrowed since the person
  // consented keeps its grant, and refresh holds it to its registration; so does an exchange.
  const grant = await provider.Grant.find(grantId);
  if (!grant || grant.accountId !== claims.sub) throw new errors.InvalidGrant('subject token invalid, expired or revoked');
  const app = grant.clientId ? await provider.Client.find(grant.clientId) : undefined;
  if (!app) throw new errors.InvalidGrant('subject token invalid, expired or revoked');
  const registered = apiScopesOf(app);
  const granted = scopesOf(grant.getResourceScope(target)).filter((scope) => downstream.scopes.includes(scope) && registered.has(scope));
  const requested = scopesOf(params.scope);
  const refused = requested.filter((scope) => !granted.includes(scope));
  if (refused.length) throw new errors.InvalidScope('requested scope was not granted for this API by the person', refused.join(' '));
  const scope = requested.length ? requested : granted;
  if (scope.length === 0) throw new errors.InvalidScope(`the person allowed none of ${target}'s scopes`, downstream.scopes.join(' '));

  const remaining = Number(claims.exp) - Math.floor(Date.now() / 1000);
  const ttl = Math.max(1, Math.min(EXCHANGED_ACCESS_TOKEN_TTL_SECONDS, downstream.accessTokenTtl ?? deps.config.ttl.accessToken, remaining));
  const token = accessTokenFor(provider, { client, accountId: claims.sub, grantId, gty: TOKEN_EXCHANGE_GRANT, scope: scope.join(' ') }, target, {
    scope: downstream.scopes.join(' '),
    audience: target,
    accessTokenTTL: ttl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  });
  const act = { sub: apiIdentifier, ...(claims.act && typeof claims.act === 'object' ? { act: claims.act } : {}) };
  const grantClientId = typeof claims[GRANT_CLIENT_CLAIM] === 'string' ? claims[GRANT_CLIENT_CLAIM] as string : String(claims.client_id);
  exchanged.set(token, { act, [GRANT_CLIENT_CLAIM]: grantClientId });
  // Last before the save, so a proof is spent only on an exchange that succeeds.
  await bindToProofKey(provider, ctx, proof, token, errors.InvalidDpopProof);
  const value = await token.save();

  // Written before the token is handed out: no exchange goes unrecorded.
  await deps.audit.append({
    type: 'token.exchanged',
    actor: { type: 'client', id: client.clientId, ip: ctx.ip ?? null },
    clientId: client.clientId,
    userId: claims.sub,
    details: { api: apiIdentifier, downstream: target, scope: token.scope, grantId, grantClientId, expiresIn: ttl, tokenType: token.tokenType, requestId: (ctx.state as { requestId?: string } | undefined)?.requestId },
  });

  ctx.body = {
    access_token: value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: token.tokenType,
    expires_in: token.expiration,
    scope: token.scope,
  };
}
