// Names Gatehouse adds to what oidc-provider and the RFCs define, in one place.

/**
 * The client Gatehouse's own console and self-service pages sign people in through. Its grants are
 * a person's sign-in to Gatehouse itself, never a "connected app".
 */
export const ACCOUNT_CLIENT_ID = 'gatehouse';

/** The scope of the admin API. Reserved: only an admin client holds it, and no API may define it. */
export const ADMIN_SCOPE = 'gatehouse:admin';

/** Claim in a JWT access token naming the grant it came from, so the server can tell whether it still stands. */
export const GRANT_ID_CLAIM = 'grant_id';

/**
 * Claim in a JWT access token carrying the claims parameter's `userinfo` request (OIDC Core §5.5):
 * userinfo rebuilds a JWT's token from its claims (src/tokens/jwt-access-tokens.ts), and releases the claims
 * asked for one by one only if the token says which they were, as an opaque token's record does.
 */
export const USERINFO_CLAIMS_CLAIM = 'userinfo_claims';

/**
 * Claim in a JWT access token made by token exchange (RFC 8693): the app the person's grant was
 * given to. The token's own client_id is the API that exchanged it, so whether the token still
 * stands asks about both (src/tokens/jwt-truth.ts).
 */
export const GRANT_CLIENT_CLAIM = 'grant_client_id';

/** RFC 8693's grant type, and the one token type Gatehouse exchanges and issues (§3). */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** Client metadata: the API scopes an app may be granted (oidc-provider's `scope` covers OIDC scopes only). */
export const API_SCOPE_METADATA = 'api_scope';

/** Client metadata: the API (RFC 8707 resource identifier) whose introspection credentials a client is. */
export const RESOURCE_METADATA = 'resource_server';

/** A JWT access token that also names this audience may be used at the userinfo endpoint. */
export function userinfoAudience(issuer: string): string {
  return `${issuer}/me`;
}

/** Client metadata: an admin client, which alone may be granted the admin API's scope. */
export const ADMIN_METADATA = 'gatehouse_admin';

/** Client metadata: the previous secret's digest and when it stops working, during a rotation's overlap. */
export const PREVIOUS_SECRET_METADATA = 'previous_client_secret';

/** The admin API's path, and the audience (RFC 8707 resource indicator) of the tokens it accepts. */
export const ADMIN_API_PATH = '/admin/api/v1';
export function adminApiAudience(issuer: string): string {
  return `${issuer}${ADMIN_API_PATH}`;
}

/** Where the built-in account client (src/oidc/account-sign-in.ts) returns people after they sign in. */
export const ACCOUNT_CALLBACK_PATH = '/account/callback';

/**
 * Every app's ID tokens are signed with this (src/oidc/models/client.ts), and so are its logout
 * tokens (src/logout/): the one algorithm every relying party has.
 */
export const ID_TOKEN_SIGNING_ALG = 'RS256';
/** Client metadata: the weakest authentication level (src/factors/levels.ts) the app accepts a sign-in at. */
export const REQUIRE_ACR_METADATA = 'gatehouse_require_acr';
