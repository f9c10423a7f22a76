// What Gatehouse assumes about oidc-provider's models: the Client methods it replaces, the wording
// of a refused replay, the order in which the models call their adapters, which models hang off a
// grant, and where stored payloads keep what Gatehouse reads or strips. Part of
// src/oidc/internals.ts.
import type { Provider } from 'oidc-provider';
import { deepFrozen } from '../../db/frozen.js';

/** The Client instance methods Gatehouse replaces, as oidc-provider calls them. */
export interface ClientMethods {
  /** lib/shared/client_auth.js, for client_secret_basic and client_secret_post. */
  compareClientSecret(this: { clientSecret?: string } & Record<string, unknown>, actual: string): Promise<boolean>;
  /** lib/actions/authorization/response_parameters.js (and authorization_error_handler.js). */
  redirectUriAllowed(this: { redirectUris?: string[] }, value: unknown): boolean;
  /** lib/actions/end_session.js. */
  postLogoutRedirectUriAllowed(this: { postLogoutRedirectUris?: string[] }, value: unknown): boolean;
  /**
   * lib/helpers/process_response_types.js (and the code it stores, which the token endpoint's ID
   * token repeats): whether the ID token carries `sid`. oidc-provider's own answers yes only for
   * apps registered for back-channel logout with sessions required.
   */
  includeSid(this: Record<string, unknown>): boolean;
  /**
   * lib/actions/end_session.js (confirm): called once per app of the session that registered a
   * `backchannel_logout_uri`, with the person and the app's `sid`, before the session and its
   * grants are destroyed; a rejection is emitted as `backchannel.error` and the sign-out goes on.
   */
  backchannelLogout(this: { clientId: string; backchannelLogoutUri?: string } & Record<string, unknown>, sub: string, sid: string | undefined): Promise<void>;
}

/**
 * Replaces Client instance methods on this provider's Client model (lib/models/client.js): the
 * narrowest hook oidc-provider offers for hashed secrets and exact redirect URI matching. Relies on
 * its endpoints calling these methods on the client, by these names, for every check. If that
 * changes, secrets stop matching (they are stored as digests) or loopback redirects match any port
 * again (src/oidc/models/client.ts).
 */
export function replaceClientMethods(provider: Provider, methods: Partial<ClientMethods>): void {
  const prototype = provider.Client.prototype as unknown as Record<string, unknown>;
  for (const [name, method] of Object.entries(methods)) {
    if (typeof prototype[name] !== 'function') throw new TypeError(`oidc-provider's Client has no ${name} to replace`);
    prototype[name] = method;
  }
}

/**
 * Client.find (lib/models/client.js) only reads the object the Client adapter hands it: it hashes
 * its JSON to find the Client it built for the same metadata before, and builds one, for metadata
 * it has not seen, from its own copy (lib/helpers/client_schema.js). So the adapter hands out one
 * deep-frozen object per client instead of a copy per request (src/oidc/models/client.ts). If that
 * changes, Client.find throws a TypeError on the frozen object rather than changing the cached
 * metadata (test/oidc/internals.contract.test.ts).
 */
export function readOnlyClientMetadata<T extends object>(metadata: T): Readonly<T> {
  return deepFrozen(metadata);
}

/**
 * Client.find (lib/models/client.js) asks the Client adapter for the metadata and then hashes its
 * JSON to find the Client it built from the same metadata before: a JSON.stringify and a SHA-256
 * on every authenticated request. The adapter hands out one frozen object per client until the
 * client changes (readOnlyClientMetadata above), so the Client built from an object is remembered
 * by that object, and Client.find runs only for metadata not seen before (or not cached: it then
 * reads it through the adapter as before). Relies on every endpoint looking clients up through
 * the static Client.find; one that did not would only not be faster.
 */
export function rememberClientsByMetadata(provider: Provider, cachedMetadata: (id: string) => object | undefined): void {
  const model = provider.Client as unknown as { find(id: unknown): Promise<unknown> };
  const find = model.find.bind(model);
  const built = new WeakMap<object, unknown>();
  model.find = async (id: unknown) => {
    const metadata = typeof id === 'string' && id.length > 0 ? cachedMetadata(id) : undefined;
    if (!metadata) return find(id);
    const known = built.get(metadata);
    if (known) return known;
    const client = await find(id);
    if (client) built.set(metadata, client);
    return client;
  };
}

/**
 * Introspection answers with the token's `extra` spread into the response (lib/actions/
 * introspection.js, before a signed response wraps it), which only access tokens get from
 * extraTokenClaims (lib/models/formats/opaque.js). A refresh token stores the sign-in it continues
 * (acr, amr, authTime: lib/models/refresh_token.js) but has no `extra`: this gives every refresh
 * token one that reports that sign-in, so an app introspecting its refresh token learns how the
 * person signed in, as for its access tokens. `extra` is not in a refresh token's stored payload,
 * so nothing of it is ever written. If introspection stops reading `extra`, the three claims go
 * missing from refresh-token answers (test/factors/second-factor.test.ts).
 */
export function reportRefreshTokenSignIn(provider: Provider): void {
  Object.defineProperty(provider.RefreshToken.prototype, 'extra', {
    configurable: true,
    get(this: { acr?: unknown; amr?: unknown; authTime?: unknown }) {
      return {
        ...(typeof this.acr === 'string' ? { acr: this.acr } : {}),
        ...(Array.isArray(this.amr) ? { amr: this.amr } : {}),
        ...(typeof this.authTime === 'number' ? { auth_time: this.authTime } : {}),
      };
    },
    // Should oidc-provider ever give refresh tokens an `extra` of their own, it is kept beside these.
    set(this: object, value: unknown) {
      Object.defineProperty(this, 'extra', { configurable: true, enumerable: true, writable: true, value });
    },
  });
}

/**
 * The `error_detail` Gatehouse's storage gives a replay it refuses (src/records/model-records.ts): the
 * detail of an OIDCProviderError (lib/helpers/errors.js) is kept out of the response
 * (error_description stays generic) and reaches the grant.error event.
 */
export const REPLAY_REFUSED_DETAIL = 'grant consumed';

/**
 * The `error_detail` of a code or refresh token presented again: oidc-provider's own wording
 * (lib/helpers/grant_source.js: "authorization code already consumed"; lib/actions/grants/
 * refresh_token.js: "refresh token already used") or the storage's (REPLAY_REFUSED_DETAIL). Its
 * errors carry no code for it, so the words are matched. If they change, reuse is logged as an
 * ordinary refusal and no refresh_token.reuse_detected audit event is recorded (events.ts).
 */
const REUSE_DETAIL = new RegExp(`already (used|consumed)|${REPLAY_REFUSED_DETAIL}`);

/** oidc-provider's specific reason for an error (OIDCProviderError#error_detail), or ''. */
export function errorDetailOf(error: unknown): string {
  const detail = (error as { error_detail?: unknown } | undefined)?.error_detail;
  return typeof detail === 'string' ? detail : '';
}

export function isReuseDetail(detail: string): boolean {
  return REUSE_DETAIL.test(detail);
}

/**
 * The adapter calls of one refresh_token grant with rotateRefreshToken on that issues an opaque
 * access token, in order, all under one request: find(presented), consume(presented),
 * upsert(successor), then the access token's upsert (lib/actions/grants/refresh_token.js: after
 * the successor's save it looks up the API, getResourceServerInfo, and saves the access token; a
 * JWT access token is not saved at all); then the ID token is signed and the body set, with
 * nothing more written. src/oidc/models/refresh-token.ts holds the consume, the successor and the
 * access token back and sends them as one statement once the response is ready (held-issuance.ts's
 * provider.use middleware), so a refresh failing on its way rotates nothing. If the order changes,
 * whatever is held is still written before any token leaves, only without the successor or the
 * access token in the statement (each then saved on its own when the grant saves it).
 */
export const REFRESH_GRANT_ADAPTER_CALLS = [
  ['RefreshToken', 'find'],
  ['RefreshToken', 'consume'],
  ['RefreshToken', 'upsert'],
  ['AccessToken', 'upsert'],
] as const;

/**
 * The adapter calls of one authorization_code (or device_code) grant that issues an opaque access
 * token and a refresh token, in order, all under one request: find the code, consume it, save the
 * access token, save the refresh token (lib/actions/grants/authorization_code.js, device_code.js,
 * lib/helpers/grant_source.js consumeGrantSource, grant_common.js issueTokens); then the ID token is
 * signed and the body set, with nothing more written. A JWT access token is not saved at all
 * (lib/models/base_model.js save: no payload). src/oidc/models/code-redemption.ts holds the
 * consume and the access token's save back and sends them with the refresh token's save as one
 * statement, or, when no refresh token is saved, once the response is ready. If the order changes,
 * a held consume is still written before any token leaves (the middleware), only in a statement
 * of its own.
 */
export const CODE_GRANT_ADAPTER_CALLS = [
  ['AuthorizationCode', 'find'],
  ['AuthorizationCode', 'consume'],
  ['AccessToken', 'upsert'],
  ['RefreshToken', 'upsert'],
] as const;

/**
 * The ReplayDetection adapter calls of ReplayDetection.unique(iss, jti, exp) (lib/models/
 * replay_detection.js), in order: find(id), then upsert(id) when nothing was found. src/oidc/models/replay-detection.ts
 * (ReplayDetectionAdapter) answers find() with nothing and makes the upsert the atomic check. If
 * unique() stops saving through upsert, a client assertion could be accepted twice.
 */
export const REPLAY_DETECTION_ADAPTER_CALLS = ['find', 'upsert'] as const;

/**
 * The models findToken (lib/helpers/token_find.js) asks for one presented value at introspection
 * and revocation — all at once without a hint, one after another with one — JWT handles included.
 * src/oidc/models/token-lookup.ts answers them with one query. If a model is added, its tokens are never found
 * there; if one is dropped, the query reads a row nobody asked for.
 */
export const FIND_TOKEN_MODELS: readonly string[] = ['AccessToken', 'ClientCredentials', 'RefreshToken'];

/**
 * How a stored code or token says it ends with its sign-in session (lib/models/token_helpers.js,
 * checkSessionBinding): `expiresWithSession` true, and the session's `uid` in `sessionUid`. Before
 * such a code is exchanged, lib/models/authorization_code.js's find loads that Session by uid, and
 * validateGrant (lib/helpers/grant_source.js) the code's Grant after it. The token lookup
 * (src/records/statements.ts) reads the session by these fields with the code, so neither needs a
 * query of its own. If they are renamed, the lookup finds no session and Session.findByUid asks
 * the database, as before (test/oidc/internals.contract.test.ts checks the names).
 */
export const SESSION_BINDING = { bound: 'expiresWithSession', sessionUid: 'sessionUid' } as const;

/**
 * Where an Interaction's stored payload carries credentials (oidc-provider's example adapter lists
 * both fields; that they hold these values is lib/actions/authorization/interactions.js and
 * lib/models/interaction.js): `returnTo` embeds the interaction's own id (…/auth/<id>, also the
 * interaction cookie's value), and `session.cookie` is the session's id (the session cookie).
 * src/records/rows.ts keeps neither raw in oidc_records. If either moves, a dump of that table hands out a
 * live interaction or session, and nothing else notices.
 */
export const INTERACTION_OWN_ID_FIELD = 'returnTo';
export const INTERACTION_SESSION_COOKIE_FIELD = ['session', 'cookie'] as const;

/**
 * The consent a stored Grant payload holds (lib/models/grant.js: `openid.scope`, set by
 * addOIDCScope; `openid.claims`, the claims addOIDCClaims adds one by one; `resources[indicator]`,
 * the scope string addResourceScope sets). The grant listings read it straight from oidc_records,
 * in SQL too (src/grants/store.ts, src/grants/connected-apps.ts: `payload->'openid'->>'scope'`),
 * never through the model, and so does the choice of apps told of a changed claim
 * (src/security-events/). If it moves, people's connected apps show no scopes, offline access goes
 * unnoticed, and apps miss claim changes.
 */
export interface StoredGrantPayload {
  openid?: { scope?: string; claims?: unknown[] };
  resources?: Record<string, string>;
}

/**
 * The grants a stored Session payload holds (lib/models/session.js, authorizationFor:
 * `authorizations[clientId].grantId`), and the per-app session id each app's ID tokens carry as
 * `sid` (Session#sidFor: `authorizations[clientId].sid`, made by ensureClientContainer). Ending a
 * session reads them from oidc_records to revoke the grants (src/sessions/store.ts) and to name
 * the session in each app's logout token (src/logout/). If the grant moves, signing a session out
 * leaves its apps' grants standing; if the sid moves, logout tokens name no session and apps that
 * require one are sent none.
 */
export interface StoredSessionPayload {
  authorizations?: Record<string, { grantId?: unknown; sid?: unknown } | undefined>;
}

/**
 * When a sign-in session started: its payload's `iat`. lib/models/formats/opaque.js
 * (getValueAndPayload) stores `iat: token.iat || epochTime()`, so a session's first save stamps it,
 * every later save keeps what the session was loaded with, and a value set on the session before a
 * save is what is stored; a sign-in within the session (lib/actions/authorization/resume.js:
 * loginAccount, then resetIdentifier) keeps the same object, so the stamp survives its new id, and
 * lib/shared/session.js asks ttl.Session, with the session, on every request that used one.
 * SESSION_MAX_LIFETIME counts from it (src/records/index.ts sessionTtl and sessionOutlived, and
 * the session lists in SQL, src/records/sessions.ts). If it moves or is re-stamped, sessions end
 * at once (all refused as without a start) or never end by their maximum.
 */
export const SESSION_START_FIELD = 'iat';

/**
 * The models whose records hang off a grant: what oidc-provider revokes by grant id (lib/helpers/
 * revoke.js) and its own memory adapter keys by grant (lib/adapters/memory_adapter.js, grantable).
 * Session and Interaction also carry a grantId, but they belong to the person's browser, not to
 * the grant. src/records/revocation.ts deletes exactly these when a grant is revoked. If oidc-provider
 * adds one, its records outlive their grant's revocation.
 */
export const GRANTABLE_MODELS = [
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
] as const;
