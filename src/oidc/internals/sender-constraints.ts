// What Gatehouse borrows of oidc-provider's own DPoP handling (RFC 9449) for a grant type it
// registers itself (src/oidc/grants/token-exchange.ts): the checks its token endpoint applies to a
// proof, the replay check, a client's dpop_bound_access_tokens, and the binding of an access token
// to the proof's key. A grant registered with Provider#registerGrantType is handed only the ctx,
// not the helpers oidc-provider's own grants get (lib/actions/token.js, callTokenHandler), so these
// are reached by their module paths: the package has no exports map. Part of src/oidc/internals.ts.
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import validateDpop, { checkDpopReplay } from 'oidc-provider/lib/helpers/validate_dpop.js';
import { checkDpopRequired } from 'oidc-provider/lib/helpers/sender_constraints.js';

/** A DPoP proof oidc-provider accepted for this request: the key's RFC 7638 thumbprint, the proof's jti and iat. */
export interface DpopProof {
  thumbprint: string;
  jti: string;
  iat: number;
}

type ErrorClass = new (description: string) => Error;

/**
 * The request's DPoP proof, checked as oidc-provider checks one at the token endpoint, or
 * undefined when the request carries none. Relies on validateDpop(provider, ctx)
 * (lib/helpers/validate_dpop.js): the `DPoP` header verified against the proof's embedded key with
 * an algorithm of enabledJWA.dPoPSigningAlgValues and typ dpop+jwt; htm the request's method; htu
 * the route's URL (ctx.oidc.urlFor); iat within its window or a nonce of features.dPoP's, required
 * when requireNonce says so (use_dpop_nonce, with a DPoP-Nonce header); any other failure
 * invalid_dpop_proof. It does not record the jti: bindToProofKey does. If validateDpop moves or
 * changes its signature, the import or the contract test fails; if it stopped throwing for a bad
 * proof, token exchange would bind tokens to unproven keys (test/oidc/internals.contract.test.ts).
 */
export async function dpopProofOf(provider: Provider, ctx: KoaContextWithOIDC): Promise<DpopProof | undefined> {
  return validateDpop(provider, ctx);
}

/**
 * Refuses a request without a proof from a client registered with dpop_bound_access_tokens.
 * Relies on checkDpopRequired(provider, ctx, dPoP, ErrorClass) (lib/helpers/sender_constraints.js)
 * reading the authenticated client's dpopBoundAccessTokens, as oidc-provider's own grants do. If it
 * stops throwing, such a client gets bearer tokens from token exchange.
 */
export function requireProofIfRegistered(provider: Provider, ctx: KoaContextWithOIDC, proof: DpopProof | undefined, error: ErrorClass): void {
  checkDpopRequired(provider, ctx, proof, error);
}

/** What of an AccessToken bindToProofKey sets (lib/models/access_token.js). */
interface BindableToken {
  setThumbprint(prop: 'jkt', input: string): void;
  readonly tokenType: string;
}

/**
 * Binds the access token being issued to the proof's key, as oidc-provider's own grants do
 * (applyDpopBinding, lib/helpers/grant_common.js): the proof's jti is recorded for the client with
 * checkDpopReplay(provider, ctx, dPoP, clientId, ErrorClass) (lib/helpers/validate_dpop.js, through
 * ReplayDetection.unique, so src/oidc/models/replay-detection.ts refuses a replay as
 * invalid_dpop_proof), then AccessToken#setThumbprint('jkt', thumbprint) (lib/models/
 * access_token.js), which the JWT format writes as cnf.jkt (lib/models/formats/jwt.js) and which
 * makes tokenType 'DPoP'. Nothing without a proof. If the replay check stops recording, a proof
 * could be used twice; if setThumbprint stops setting jkt, exchanged tokens come out as bearer
 * tokens although their answer says DPoP (the contract test checks the JWT's cnf).
 */
export async function bindToProofKey(provider: Provider, ctx: KoaContextWithOIDC, proof: DpopProof | undefined, token: BindableToken, error: ErrorClass): Promise<void> {
  if (!proof) return;
  await checkDpopReplay(provider, ctx, proof, ctx.oidc.client!.clientId, error);
  token.setThumbprint('jkt', proof.thumbprint);
}
