// DPoP proofs (RFC 9449 §4.3, §7.1) at the resource endpoints Gatehouse serves itself (the admin
// API); oidc-provider checks those sent to its own endpoints (token, userinfo). A proof is a JWT
// the caller signs with the key its access token is bound to, for exactly this request: method
// (htm), URL without query (htu, built from ISSUER, never from the request's headers), the token
// (ath, its SHA-256), a moment (iat, within five minutes), and a jti used once, remembered in the
// database so a proof replayed at another instance is refused too.
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import type { DpopNonces } from './nonces.js';

/** Algorithms a proof may be signed with: asymmetric only (no HMAC, never `none`). Discovery advertises these. */
// Ed25519 is the fully-specified name openid-client signs Ed25519 keys with; EdDSA the older one.
export const DPOP_ALGORITHMS: Array<'ES256' | 'PS256' | 'Ed25519' | 'EdDSA'> = ['ES256', 'PS256', 'Ed25519', 'EdDSA'];

/** How far a proof's iat may be from now, either way. */
export const DPOP_IAT_WINDOW_SECONDS = 300;

/** The longest jti kept: a proof with a longer one is refused rather than stored. */
const MAX_JTI_LENGTH = 256;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/**
 * Why a proof was refused. `invalid_dpop_proof` (RFC 9449 §7.1): the proof is malformed, not for
 * this request, stale or replayed. `use_dpop_nonce` (§8, §9): send it again with the nonce given.
 */
export class DpopProofError extends Error {
  constructor(
    readonly code: 'invalid_dpop_proof' | 'use_dpop_nonce',
    readonly description: string,
  ) {
    super(description);
  }
}

export interface ProofRequest {
  method: string;
  /** The absolute URL the request was for, from ISSUER and the path: never from Host. */
  url: string;
  /** The access token the proof must be bound to (ath). */
  accessToken: string;
}

export interface ProofPolicy {
  nonces: DpopNonces;
  requireNonce: boolean;
  /**
   * Records the proof's jti (with its key's thumbprint) for `expiresInSeconds`; false when it was
   * already recorded: the proof is a replay.
   */
  remember(id: string, expiresInSeconds: number): Promise<boolean>;
  /** Seconds since the epoch. */
  now?: () => number;
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof's key: what the token's cnf.jkt must equal. */
  thumbprint: string;
}

/** SHA-256 of the access token, base64url: a proof's `ath`. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** The value of a DPoP header, or a refusal: several proofs (joined by commas) are malformed. */
export function singleProof(header: string): string {
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(header.trim())) throw new DpopProofError('invalid_dpop_proof', 'The DPoP header must hold exactly one proof JWT.');
  return header.trim();
}

export async function verifyProof(header: string, request: ProofRequest, policy: ProofPolicy): Promise<VerifiedProof> {
  const proof = singleProof(header);
  const now = (policy.now ?? (() => Math.floor(Date.now() / 1000)))();
  let jwk: JWK;
  let payload: Record<string, unknown>;
  try {
    const protectedHeader = decodeProtectedHeader(proof);
    jwk = protectedHeader.jwk as JWK;
    if (!jwk || typeof jwk !== 'object' || PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw new Error('the jwk header must be a public key');
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGORITHMS }));
  } catch {
    throw new DpopProofError('invalid_dpop_proof', 'The DPoP proof is not a dpop+jwt signed by the public key in its header with ' + DPOP_ALGORITHMS.join(', ') + '.');
  }
  const { iat, jti, htm, htu, ath, nonce } = payload;
  if (typeof jti !== 'string' || !jti || jti.length > MAX_JTI_LENGTH) throw new DpopProofError('invalid_dpop_proof', 'The DPoP proof needs a jti.');
  if (typeof iat !== 'number' || Math.abs(now - iat) > DPOP_IAT_WINDOW_SECONDS) throw new DpopProofError('invalid_dpop_proof', 'The DPoP proof was not made just now (iat).');
  if (htm !== request.method) throw new DpopProofError('invalid_dpop_proof', 'The DPoP proof is for another HTTP method (htm).');
  if (typeof htu !== 'string' || withoutQuery(htu) !== withoutQuery(request.url)) throw new DpopProofError('invalid_dpop_proof', 'The DPoP proof is for another URL (htu).');
  if (ath !== accessTokenHash(request.accessToken)) throw new DpopProofError('invalid_dpop_proof', 'The DPoP proof is for another access token (ath).');
  if (nonce !== undefined && (typeof nonce !== 'string' || !policy.nonces.accepts(nonce))) throw new DpopProofError('use_dpop_nonce', 'The DPoP nonce is not one Gatehouse gave, or has expired: use the one in the DPoP-Nonce header.');
  if (nonce === undefined && policy.requireNonce) throw new DpopProofError('use_dpop_nonce', 'Send the DPoP proof again with the nonce in the DPoP-Nonce header.');
  const thumbprint = await calculateJwkThumbprint(jwk);
  // Remembered for as long as the proof could pass the iat check, and keyed by the key too, so one
  // caller's jti cannot block another's.
  const id = createHash('sha256').update(`dpop ${thumbprint} ${jti}`).digest('base64url');
  if (!(await policy.remember(id, 2 * DPOP_IAT_WINDOW_SECONDS))) throw new DpopProofError('invalid_dpop_proof', 'This DPoP proof was used before: make a new one for every request.');
  return { thumbprint };
}

function withoutQuery(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    parsed.search = '';
    parsed.hash = '';
    return parsed.href;
  } catch {
    return undefined;
  }
}

/**
 * Proof checking for one of Gatehouse's own resource endpoints (the admin API): its nonces, and
 * jtis remembered in oidc-provider's ReplayDetection records, which every instance shares.
 */
export class ResourceProofs {
  constructor(
    private readonly policy: ProofPolicy,
  ) {}

  verify(proof: string, request: ProofRequest): Promise<VerifiedProof> {
    return verifyProof(proof, request, this.policy);
  }

  /** The nonce to hand out with a refusal (DPoP-Nonce). */
  nonce(): string {
    return this.policy.nonces.next();
  }
}
