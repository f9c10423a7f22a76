import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * base64url(SHA-256(value)). How Gatehouse stores anything a caller presents as proof (tokens,
 * codes, session ids, client secrets): these values carry at least 128 random bits, so a fast
 * digest cannot be reversed and needs no per-value salt.
 */
export function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** Constant-time comparison of a presented value against a stored digest. */
export function matchesDigest(presented: string, storedDigest: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = Buffer.from(storedDigest, 'base64url');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A new random secret: 32 bytes, base64url. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
