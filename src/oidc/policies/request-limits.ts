// What a request may ask for, beyond what oidc-provider checks itself: claims only of the scopes
// the app is registered for, and machine tokens with exactly the scopes asked for. The hooks in
// configuration.ts call these.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { tokenSourceOf } from '../internals.js';

/** Claims that say nothing about the person beyond the sign-in itself: no scope needed. */
const SIGN_IN_CLAIMS = ['sub', 'sid', 'auth_time', 'acr', 'amr', 'iss'];

type ClaimsRequest = { userinfo?: object | null; id_token?: object | null };

/**
 * The claims parameter (OIDC Core §5.5) may ask only for claims of scopes the app is registered
 * for: it is another way to ask, not a way around the registration. The person still consents to
 * each claim (src/interaction/routes.ts).
 */
export function assertRegisteredClaims(claims: ClaimsRequest, client: { scope?: string }, claimsByScope: Record<string, readonly string[]>): void {
  const registered = new Set((client.scope ?? '').split(' '));
  const allowed = new Set(SIGN_IN_CLAIMS);
  for (const [scope, released] of Object.entries(claimsByScope)) {
    if (registered.has(scope)) released.forEach((claim) => allowed.add(claim));
  }
  const asked = [...Object.keys(claims.userinfo ?? {}), ...Object.keys(claims.id_token ?? {})];
  // A claim Gatehouse does not know is ignored, as oidc-provider ignores it (§5.5: not every
  // requested claim can be provided); one it knows but the app may not have is refused.
  const known = new Set(Object.values(claimsByScope).flat());
  const refused = [...new Set(asked.filter((claim) => known.has(claim) && !allowed.has(claim)))];
  if (refused.length) {
    throw new errors.InvalidRequest(`the claims parameter asks for claims this app is not registered for: ${refused.join(' ')}`);
  }
}

/**
 * The claims parameter of the code or refresh token an access token is being issued from:
 * oidc-provider gives a token for an API none (it does not expect it at userinfo), Gatehouse's
 * JWTs are userinfo tokens too (src/tokens/jwt-access-tokens.ts).
 */
export function claimsRequestBehind(ctx: KoaContextWithOIDC): { userinfo?: Record<string, unknown> } | undefined {
  return tokenSourceOf(ctx)?.claims;
}

export function isClientCredentials(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.params?.grant_type === 'client_credentials';
}

/**
 * A machine token's scopes (RFC 6749 §3.3, §5.1): each one asked for must be one this client was
 * registered for on the API the token is for. oidc-provider would silently drop the rest and
 * could issue a token with no scope at all; Gatehouse answers invalid_scope instead, so what a
 * client receives is always exactly what it asked for.
 */
export function checkMachineScopes(ctx: KoaContextWithOIDC, available: string[], audience: string): void {
  const scope = ctx.oidc.params?.scope;
  const requested = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
  if (requested.length === 0) {
    throw new errors.InvalidScope(`scope is required: this client may ask for ${available.join(' ')} at ${audience}`, '');
  }
  const refused = [...new Set(requested.filter((s) => !available.includes(s)))];
  if (refused.length) {
    throw new errors.InvalidScope(`not available to this client at ${audience}: ${refused.join(' ')}`, refused.join(' '));
  }
}
