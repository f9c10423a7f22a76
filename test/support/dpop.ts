// DPoP proofs built by hand with jose, for the attacks openid-client would never make: a proof for
// another URL, method or token, a stale one, one replayed, one signed by another key.
import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface ProofKey { privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK; thumbprint: string }

export async function proofKey(alg: string = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, publicKey, jwk, thumbprint: await calculateJwkThumbprint(jwk) };
}

export interface ProofClaims {
  htm: string;
  htu: string;
  /** The access token the proof is for (its SHA-256 becomes ath). */
  accessToken?: string;
  iat?: number;
  jti?: string;
  nonce?: string;
  alg?: string;
  /** The key named in the header, when it is not the one that signs (a forgery). */
  headerJwk?: JWK;
}

export function ath(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export async function proof(key: ProofKey, claims: ProofClaims): Promise<string> {
  const { htm, htu, accessToken, iat = Math.floor(Date.now() / 1000), jti = randomUUID(), nonce, alg = 'ES256', headerJwk } = claims;
  return new SignJWT({ htm, htu, ...(accessToken ? { ath: ath(accessToken) } : {}), ...(nonce ? { nonce } : {}) })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: headerJwk ?? key.jwk })
    .setIssuedAt(iat)
    .setJti(jti)
    .sign(key.privateKey);
}
