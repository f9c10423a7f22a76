// Key material: generating a signing key pair and sealing or opening its private half. The private
// JWK is only ever stored as a compact JWE (dir, A256GCM) under KEY_ENCRYPTION_KEY, which never
// enters the database; keys.ts decides which keys exist and which one signs.
import {
  CompactEncrypt,
  calculateJwkThumbprint,
  compactDecrypt,
  errors,
  exportJWK,
  generateKeyPair,
  type JWK,
} from 'jose';

/** The JWS "alg" values Gatehouse signs with (RFC 7518 §3.1). */
export const JWS_ALGORITHMS = ['RS256', 'ES256'] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

/**
 * The private keys do not decrypt under the configured KEY_ENCRYPTION_KEY. An operator's mistake,
 * not a bug: the stack is left out so the start-up failure reads as the one line that matters.
 */
export class KeyEncryptionKeyMismatchError extends Error {
  constructor(readonly kid: string) {
    super(
      `KEY_ENCRYPTION_KEY does not match the one the signing keys were encrypted with (signing key ${kid} does not decrypt). ` +
        'Set KEY_ENCRYPTION_KEY to the value used when the keys were created. If that value is lost the keys cannot be ' +
        'recovered: delete the rows of signing_keys and restart, and every token signed so far stops verifying.',
    );
    this.name = 'KeyEncryptionKeyMismatchError';
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** A row's private key is unreadable for a reason other than the key-encryption key. */
export class SigningKeyCorruptError extends Error {
  constructor(readonly kid: string, reason: string) {
    super(`Signing key ${kid} in signing_keys is corrupt: ${reason}`);
    this.name = 'SigningKeyCorruptError';
    this.stack = `${this.name}: ${this.message}`;
  }
}

export interface GeneratedKey {
  kid: string;
  alg: JwsAlgorithm;
  publicJwk: JWK;
  privateJwkJwe: string;
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv', 'k'] as const;

/** What openPrivateJwk needs of a stored key. */
export interface SealedKey {
  kid: string;
  alg: JwsAlgorithm;
  privateJwkJwe: string;
}

/** A new key pair for `alg`, its private half sealed as a JWE under the key-encryption key. */
export async function generateSigningKey(alg: JwsAlgorithm, kek: Uint8Array): Promise<GeneratedKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const publicParameters = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicParameters, 'sha256');
  const publicJwk: JWK = { ...publicParameters, use: 'sig', alg, kid };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), use: 'sig', alg, kid };
  // The kid sits in the authenticated protected header so a JWE moved to another row is detected.
  const privateJwkJwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, cty: 'jwk+json' })
    .encrypt(kek);
  return { kid, alg, publicJwk, privateJwkJwe };
}

/** The private JWK sealed in a stored key; throws one of the two errors above when it cannot be read. */
export async function openPrivateJwk(key: SealedKey, kek: Uint8Array): Promise<JWK> {
  let plaintext: Uint8Array;
  let kidInHeader: unknown;
  try {
    const result = await compactDecrypt(key.privateJwkJwe, kek, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    plaintext = result.plaintext;
    kidInHeader = result.protectedHeader.kid;
  } catch (error) {
    // With dir + A256GCM a wrong key and a tampered ciphertext are indistinguishable; a wrong key
    // is by far the likelier cause, and it affects every row at once.
    if (error instanceof errors.JWEDecryptionFailed) throw new KeyEncryptionKeyMismatchError(key.kid);
    throw new SigningKeyCorruptError(key.kid, error instanceof Error ? error.message : String(error));
  }
  if (kidInHeader !== key.kid) throw new SigningKeyCorruptError(key.kid, `its JWE belongs to kid ${String(kidInHeader)}`);
  const jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
  if (jwk.kid !== key.kid || jwk.alg !== key.alg) {
    throw new SigningKeyCorruptError(key.kid, 'the decrypted JWK does not match its row');
  }
  return jwk;
}

/** A private JWK without its private members. */
export function toPublicJwk(jwk: JWK): JWK {
  const publicJwk: JWK = { ...jwk };
  for (const member of PRIVATE_JWK_MEMBERS) delete publicJwk[member];
  return publicJwk;
}
