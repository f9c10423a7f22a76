// Keyed digests for the identifiers rate limiting stores or hands out: emails and addresses are
// personal data, and a plain SHA-256 of an email is reversed by hashing a list of likely emails.
// An HMAC under a key derived from KEY_ENCRYPTION_KEY (which never enters the database, and which
// every instance shares) cannot be reversed or even checked by someone holding only the database.
import { createHmac, hkdfSync } from 'node:crypto';

export type KeyedDigest = (...parts: string[]) => string;

/** A digest function under a subkey of `secret` for one purpose (HKDF-SHA256, `purpose` as info). */
export function keyedDigest(secret: Buffer, purpose: string, bytes = 32): KeyedDigest {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `gatehouse ${purpose}`, 32));
  // JSON keeps the parts apart: ("a", "b:c") and ("a:b", "c") never collide.
  return (...parts) => createHmac('sha256', key).update(JSON.stringify(parts)).digest().subarray(0, bytes).toString('base64url');
}

/**
 * How sign-in limits key an email: trimmed and lowercased, as the users table matches it
 * (`lower(email)`). JavaScript lowercases U+0130 (İ) to "i" plus U+0307 where PostgreSQL gives a
 * plain "i"; without dropping U+0307 every "i" written as İ would open a fresh budget for the same
 * account. Dropping it can only merge keys, which makes a limit stricter, never looser.
 */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase().replace(/\u0307/g, '');
}
