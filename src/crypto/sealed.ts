// Sealing a value Gatehouse must store but nobody holding only the database may read: the scheme
// src/keys/material.ts uses for private signing keys (a compact JWE, dir + A256GCM), under a subkey
// of KEY_ENCRYPTION_KEY for one purpose, and bound to the row it belongs to (the `row` parameter in
// the authenticated protected header), so a sealed value copied to another row does not open there.
import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';

/** A 32-byte subkey of `secret` for one purpose (HKDF-SHA256, as src/security/keyed-digest.ts derives its keys). */
export function subkey(secret: Uint8Array, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), `gatehouse ${purpose}`, 32));
}

/** The value as JSON, sealed under `key` for the row `row`. */
export async function sealJson(value: unknown, key: Uint8Array, row: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(value)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', row })
    .encrypt(key);
}

/**
 * The value sealed for `row`. Throws when the key is not the one it was sealed under, the sealed
 * text was altered, or it was sealed for another row; the message never includes the value.
 */
export async function openJson(sealed: string, key: Uint8Array, row: string): Promise<unknown> {
  const { plaintext, protectedHeader } = await compactDecrypt(sealed, key, {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM'],
  });
  if (protectedHeader.row !== row) throw new Error(`the sealed value belongs to row ${String(protectedHeader.row)}, not ${row}`);
  return JSON.parse(new TextDecoder().decode(plaintext)) as unknown;
}
