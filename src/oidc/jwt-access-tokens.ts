// RFC 9068 JWT access tokens are not stored: oidc-provider signs them and forgets them. Where the
// server itself must accept one (userinfo), this module verifies it against Gatehouse's own keys
// and turns it back into the AccessToken payload oidc-provider expects, so the provider's own
// userinfo pipeline (scope, grant, account and claims checks) runs unchanged.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { GRANT_ID_CLAIM } from './configuration.js';

/** Algorithms Gatehouse signs access tokens with; nothing else is ever accepted. */
export const ACCESS_TOKEN_ALGORITHMS = ['ES256', 'RS256'];

/** Header members that point at keys elsewhere: a token naming one is not one of ours. */
const FOREIGN_KEY_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'crit'];

export function looksLikeJwt(value: string): boolean {
  return value.length < 16_384 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);
}

export interface JwtAccessTokenVerifier {
  /** The verified claims, or undefined for anything that is not a live token we signed for `audience`. */
  verify(value: string, audience: string): Promise<JWTPayload | undefined>;
}

export function createJwtAccessTokenVerifier(options: {
  issuer: string;
  jwks: JSONWebKeySet;
  clockToleranceSeconds: number;
}): JwtAccessTokenVerifier {
  const keySet = createLocalJWKSet(options.jwks);
  return {
    async verify(value, audience) {
      if (typeof value !== 'string' || !looksLikeJwt(value)) return undefined;
      try {
        const header = decodeProtectedHeader(value);
        if (FOREIGN_KEY_HEADERS.some((name) => name in header)) return undefined;
        const { payload } = await jwtVerify(value, keySet, {
          issuer: options.issuer,
          audience,
          typ: 'at+jwt',
          algorithms: ACCESS_TOKEN_ALGORITHMS,
          requiredClaims: ['exp', 'iat', 'jti', 'client_id'],
          clockTolerance: options.clockToleranceSeconds,
        });
        return payload;
      } catch {
        return undefined;
      }
    },
  };
}

/** The stored-token shape oidc-provider's AccessToken model is built from. */
export function accessTokenPayloadFromJwt(claims: JWTPayload): AdapterPayload {
  const cnf = claims.cnf as { jkt?: string; 'x5t#S256'?: string } | undefined;
  return {
    jti: claims.jti!,
    kind: 'AccessToken',
    iat: claims.iat!,
    exp: claims.exp!,
    clientId: claims.client_id as string,
    // A client_credentials token has sub = client_id and no person behind it.
    accountId: claims.sub !== claims.client_id ? claims.sub : undefined,
    grantId: claims[GRANT_ID_CLAIM] as string | undefined,
    scope: claims.scope as string | undefined,
    ...(cnf?.jkt ? { jkt: cnf.jkt } : {}),
    ...(cnf?.['x5t#S256'] ? { 'x5t#S256': cnf['x5t#S256'] } : {}),
    // `aud` is left out on purpose: it was checked above, and oidc-provider's userinfo refuses
    // tokens that carry an audience.
  } as AdapterPayload;
}

/**
 * The AccessToken model's storage: opaque tokens from the database, JWT access tokens verified
 * in place when they name the userinfo audience.
 */
export class AccessTokenAdapter implements Adapter {
  constructor(
    private readonly stored: Adapter,
    private readonly verifier: JwtAccessTokenVerifier,
    private readonly userinfoAudience: string,
  ) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (typeof id === 'string' && looksLikeJwt(id)) {
      const claims = await this.verifier.verify(id, this.userinfoAudience);
      return claims ? accessTokenPayloadFromJwt(claims) : undefined;
    }
    return (await this.stored.find(id)) ?? undefined;
  }

  upsert(id: string, payload: AdapterPayload, expiresIn: number) { return this.stored.upsert(id, payload, expiresIn); }
  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  consume(id: string) { return this.stored.consume(id); }
  destroy(id: string) { return this.stored.destroy(id); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
