// Who may introspect or revoke which token. oidc-provider authenticates the caller and finds the
// token; these policies decide what the caller may learn or do. Anything not allowed reads as
// `active: false` (introspection) or a silent 200 (revocation, RFC 7009 §2.2): a prober learns
// nothing about tokens that are not its own.
//
// Whether a token still stands (grant, revocation, person, app) is settled before these run, as
// the token is found: JWTs by the truth query (src/tokens/jwt-truth.ts), opaque tokens by the lookup
// (src/oidc/models/token-lookup.ts). A token that no longer stands is never found, so these policies only decide
// who may see it.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { RESOURCE_METADATA } from '../../vocabulary.js';

type Token = { clientId?: string; aud?: string | string[] };
type Caller = { clientId: string } & Record<string, unknown>;

function audiences(token: Token): string[] {
  if (Array.isArray(token.aud)) return token.aud;
  return typeof token.aud === 'string' ? [token.aud] : [];
}

/** An app may introspect its own tokens; an API, tokens issued for it (its identifier in `aud`). */
export async function mayIntrospect(_ctx: KoaContextWithOIDC, caller: Caller, token: Token): Promise<boolean> {
  const api = caller[RESOURCE_METADATA];
  return token.clientId === caller.clientId || (typeof api === 'string' && audiences(token).includes(api));
}

/** A client may revoke only its own tokens; anything else is ignored without saying so. */
export async function mayRevoke(_ctx: KoaContextWithOIDC, caller: Caller, token: Token): Promise<boolean> {
  return token.clientId === caller.clientId;
}
