// Names Gatehouse adds to what oidc-provider and the RFCs define, in one place.

/** Claim in a JWT access token naming the grant it came from, so the server can tell whether it still stands. */
export const GRANT_ID_CLAIM = 'grant_id';

/** Client metadata: the API scopes an app may be granted (oidc-provider's `scope` covers OIDC scopes only). */
export const API_SCOPE_METADATA = 'api_scope';

/** Client metadata: the API (RFC 8707 resource identifier) whose introspection credentials a client is. */
export const RESOURCE_METADATA = 'resource_server';

/** A JWT access token that also names this audience may be used at the userinfo endpoint. */
export function userinfoAudience(issuer: string): string {
  return `${issuer}/me`;
}
