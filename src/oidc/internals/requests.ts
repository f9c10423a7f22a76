// What Gatehouse reads of the request oidc-provider is answering, beyond its documented
// `ctx.oidc.route`, `ctx.oidc.params` and `ctx.oidc.client`: where it keeps the request, which
// entities it names and when, and how it rebuilds a Grant. Part of src/oidc/internals.ts; each
// export says what of oidc-provider it leans on and what breaks if that changes.
import type { Context } from 'koa';
import { Provider, type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';

type OidcContext = KoaContextWithOIDC['oidc'];
type GrantModel = OidcContext['provider']['Grant'];
type GrantInstance = InstanceType<GrantModel>;
type SessionInstance = NonNullable<OidcContext['session']>;

/**
 * The request oidc-provider is answering, from anywhere under it (adapters, events, hooks that are
 * given no ctx). Relies on: `Provider.ctx`, the AsyncLocalStorage store that lib/helpers/
 * initialize_app.js (ensureOIDC) enters for every routed request, holding the very ctx object its
 * middleware, hooks and `provider.use` middleware are given (src/tokens/refresh-retry.ts keys a
 * WeakMap by it). If it changes: sessions lose their device facts, revocations go unaudited, and
 * the refresh rotation falls back to separate consume and save (src/oidc/models/refresh-token.ts).
 */
export function currentRequest(): KoaContextWithOIDC | undefined {
  return Provider.ctx;
}

/**
 * The token endpoint's request while it answers a refresh_token grant. Relies on currentRequest
 * and on the route name `token` (documented) with the parsed `grant_type` parameter.
 */
export function refreshGrantRequest(): KoaContextWithOIDC | undefined {
  const ctx = currentRequest();
  return ctx?.oidc?.route === 'token' && ctx.oidc.params?.grant_type === 'refresh_token' ? ctx : undefined;
}

/** The grants that exchange a one-time code for tokens through lib/helpers/grant_common.js (issueTokens). */
const CODE_GRANT_TYPES: ReadonlySet<unknown> = new Set(['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code']);

/**
 * The token endpoint's request while it exchanges an authorization code or a device code. Relies on
 * currentRequest and on the route name `token` (documented) with the parsed `grant_type`. If it
 * stops naming such a request, codes are consumed on their own again (src/oidc/models/
 * code-redemption.ts): a failed exchange spends its code.
 */
export function codeExchangeRequest(): KoaContextWithOIDC | undefined {
  const ctx = currentRequest();
  return ctx?.oidc?.route === 'token' && CODE_GRANT_TYPES.has(ctx.oidc.params?.grant_type) ? ctx : undefined;
}

/**
 * The refresh token a refresh_token grant presented, once found. Relies on lib/actions/grants/
 * refresh_token.js naming it the request's `RefreshToken` entity before it calls consume() (and
 * renaming the entity to the successor only after). If that changes, a held consume that fails is
 * still reported, only without its grant id.
 */
export function presentedRefreshToken(ctx: KoaContextWithOIDC): { grantId?: string; clientId?: string; accountId?: string } | undefined {
  return ctx.oidc.entities?.RefreshToken;
}

/**
 * The refresh token a rotation just consumed, while its successor is being built. Relies on
 * lib/actions/grants/refresh_token.js naming it `RotatedRefreshToken` right after consume(), before
 * the successor's TTL is asked for (as oidc-provider's own default ttl.RefreshToken reads it). If
 * that changes, a public client's refresh tokens slide with each rotation instead of dying with
 * the first one's lifetime.
 */
export function rotatedRefreshToken(ctx: KoaContextWithOIDC | undefined): { remainingTTL: number } | undefined {
  return ctx?.oidc?.entities.RotatedRefreshToken;
}

/**
 * The code or refresh token the token being issued comes from, with its `claims` (the claims
 * parameter it was asked with). Relies on the token endpoint naming the redeemed code
 * `AuthorizationCode` (lib/actions/grants/authorization_code.js) and the refresh token
 * `RotatedRefreshToken`/`RefreshToken` (refresh_token.js) before the access token is formatted,
 * and on the stored `claims` shape. If that changes, JWT access tokens stop carrying the claims
 * request for userinfo (configuration.ts, formats.customizers.jwt).
 */
export function tokenSourceOf(ctx: KoaContextWithOIDC): { claims?: { userinfo?: Record<string, unknown> } } | undefined {
  const { entities } = ctx.oidc;
  return (entities.AuthorizationCode ?? entities.RotatedRefreshToken ?? entities.RefreshToken) as { claims?: { userinfo?: Record<string, unknown> } } | undefined;
}

/**
 * What oidc-provider left of its context on a request it answered, read by middleware around the
 * mounted provider after it returns. Relies on lib/helpers/initialize_app.js (ensureOIDC) defining
 * `ctx.oidc` on the ctx koa-mount hands it — our own request's ctx — and leaving it there. If that
 * changes, unauthorized_client is answered as invalid_request again (policies/grant-type-errors.ts)
 * and discovery and the JWKS lose their caching policy (http/metadata-caching.ts).
 */
export function providerContextOf(ctx: Context): OidcContext | undefined {
  return (ctx as unknown as Partial<KoaContextWithOIDC>).oidc;
}

/**
 * The grant this session holds for an app. Relies on Session#grantIdFor (lib/models/session.js,
 * used by oidc-provider's default loadExistingGrant). If it changes, every authorization asks for
 * consent again.
 */
export function sessionGrantIdFor(session: SessionInstance, clientId: string): string | undefined {
  return session.grantIdFor(clientId);
}

/**
 * A Grant built from a payload its adapter's find() would return, without the find. Relies on
 * BaseModel.find (lib/models/base_model.js) being `new this(payload)` after checking the stored
 * exp (opaque.verify, with clockTolerance): the one query that finds the newest grant also checks
 * its expiry. If that changes, remembered consent may be copied wrongly or not at all.
 */
export function grantFromStored(Grant: GrantModel, payload: AdapterPayload): GrantInstance {
  return new Grant(payload);
}

/**
 * The provider's session for a request to one of Gatehouse's own pages, outside oidc-provider's
 * routes, and its `uid`. Relies on Session.get(ctx) (lib/models/session.js) reading the session
 * cookie through provider.createContext when the ctx has no `ctx.oidc`, and on a found session
 * carrying its `uid`, `accountId` and `loginTs`. If that changes, the admin console and account
 * pages see nobody signed in (src/oidc/account-sign-in.ts), and a step-up to a higher level asks
 * for the password, since it cannot keep the session's sign-in time (src/interaction/routes.ts).
 */
export async function pageSession(provider: Provider, ctx: Context): Promise<{ accountId?: string; uid?: unknown; acr?: unknown; amr?: unknown; loginTs?: unknown }> {
  return provider.Session.get(ctx);
}

/**
 * Our own request's `ctx.state`, from the ctx oidc-provider hands an event listener or hook. Relies
 * on the provider (a Koa application, mounted with koa-mount: src/app.ts) running on our request's
 * ctx and passing that same object to its events (lib/helpers/initialize_app.js, error handler):
 * what our middleware put there (the request id) is there, and what is put there reaches our error
 * boundary. If that changes, a database outage met inside the provider is answered as its 500
 * rather than our 503 (src/http/provider-errors.ts).
 */
export function requestState(ctx: { state?: Record<string, unknown> }): Record<string, unknown> | undefined {
  return ctx.state;
}

/**
 * The access token the revocation endpoint is revoking, once found. Relies on lib/actions/
 * revocation.js naming the found token by its kind (`ctx.oidc.entity(token.kind, token)`) before it
 * asks revokeGrantPolicy (lib/helpers/revoke.js), as oidc-provider's own default policy reads it.
 * If that changes, revoking a token made by token exchange revokes the grant of the app the person
 * gave it to, not just that token (configuration.ts, revokeGrantPolicy).
 */
export function accessTokenBeingRevoked(ctx: KoaContextWithOIDC): { extra?: Record<string, unknown> } | undefined {
  return ctx.oidc.route === 'revocation' ? ctx.oidc.entities?.AccessToken as { extra?: Record<string, unknown> } | undefined : undefined;
}

/** What a resource server is told by getResourceServerInfo (lib/helpers/configuration_result.js, resourceServer). */
export interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenTTL: number;
  accessTokenFormat: 'jwt';
  jwt: { sign: { alg: string } };
}

/**
 * An access token aimed at an API, for a grant type Gatehouse registers itself (src/oidc/grants/).
 * Relies on Provider#ResourceServer (lib/provider.js, lib/helpers/resource_server.js) and on an
 * AccessToken's `resourceServer` setter (lib/models/base_token.js) setting the token's audience,
 * its format (lib/models/formats, by accessTokenFormat) and, through ttl.AccessToken, its lifetime,
 * as oidc-provider's own grants do with what getResourceServerInfo returns. If that changes,
 * exchanged tokens come out without an audience (their save throws: 500) or with the wrong lifetime.
 */
export function accessTokenFor(
  provider: Provider,
  token: ConstructorParameters<Provider['AccessToken']>[0],
  identifier: string,
  info: ResourceServerInfo,
): InstanceType<Provider['AccessToken']> {
  const accessToken = new provider.AccessToken(token);
  const { ResourceServer } = provider as unknown as { ResourceServer: new (identifier: string, info: ResourceServerInfo) => unknown };
  (accessToken as unknown as { resourceServer: unknown }).resourceServer = new ResourceServer(identifier, info);
  return accessToken;
}
