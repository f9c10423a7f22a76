// Which audience a client assertion (private_key_jwt, and client_secret_jwt should it ever be
// enabled) may name. An assertion is a signed "I am this client" meant for one server: accepting
// one written for anyone else lets that someone replay it here. The 2025 audience-injection attacks
// (CVE-2025-27370/27371) showed that endpoint URLs are such an "anyone else": a malicious server
// advertises our token endpoint as its own, the client signs an assertion for that URL and hands
// it over. OpenID Connect Core's errata and RFC 7523bis therefore require the issuer identifier
// as the only audience, a single string.
//
// oidc-provider first checks `aud` against the issuer and endpoint URLs it builds from the request
// (its Host, or X-Forwarded-Host behind a proxy: the caller's to choose); src/http/issuer-origin.ts
// pins those to ISSUER. This hook then narrows what is left to the issuer alone. It runs after the
// signature is verified and before the jti is recorded, so a refused assertion spends nothing.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';

type AssertHook = NonNullable<Configuration['assertJwtClientAuthClaimsAndHeader']>;

export interface ClientAssertionPolicy {
  issuer: string;
  /**
   * Also accept the token endpoint's URL and the URL of the endpoint being called (introspection,
   * revocation, pushed authorization requests), both built from the issuer, never from the request.
   */
  acceptEndpointUrls: boolean;
}

export function clientAssertionAudience(policy: ClientAssertionPolicy): AssertHook {
  return async function assertAudience(ctx: KoaContextWithOIDC, claims) {
    const { aud } = claims as { aud?: unknown };
    // An array is refused even when it holds the issuer: the attack works by getting our
    // identifier into an assertion the client believes it wrote for somebody else.
    if (typeof aud !== 'string') {
      throw new errors.InvalidClientAuth('audience (aud) must be the issuer identifier, as a single string');
    }
    if (aud === policy.issuer) return;
    if (policy.acceptEndpointUrls && endpointUrls(ctx).includes(aud)) return;
    throw new errors.InvalidClientAuth('audience (aud) must be the issuer identifier');
  };
}

/** provider.urlFor resolves against the issuer given to the Provider, unlike ctx.oidc.urlFor. */
function endpointUrls(ctx: KoaContextWithOIDC): string[] {
  const { provider, route } = ctx.oidc;
  const urls = [provider.urlFor('token')];
  try {
    urls.push(provider.urlFor(route));
  } catch {
    // Not a named route of oidc-provider's: the token endpoint is the only URL to accept.
  }
  return urls;
}
