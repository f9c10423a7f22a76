// DPoP server nonces (RFC 9449 §8). A nonce is worked out from a secret and the current minute,
// not stored: every instance sharing KEY_ENCRYPTION_KEY hands out and accepts the same nonces, and
// checking one costs no query. oidc-provider makes its own from dpopNonceSecret (its
// features.dPoP.nonceSecret); the admin API's are DpopNonces below, under a subkey of their own.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** How long one nonce step lasts; a nonce is accepted for two steps either side of now. */
const STEP_SECONDS = 60;
const STEPS_ACCEPTED = [-2, -1, 0, 1, 2];

function subkey(secret: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `gatehouse ${purpose}`, 32));
}

/** The 32-byte secret oidc-provider derives its DPoP nonces from. */
export function dpopNonceSecret(keyEncryptionKey: Buffer): Buffer {
  return subkey(keyEncryptionKey, 'dpop nonces (oidc-provider)');
}

export class DpopNonces {
  readonly #key: Buffer;

  constructor(
    keyEncryptionKey: Buffer,
    /** Seconds since the epoch; injectable so a test can step past a nonce's life. */
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.#key = subkey(keyEncryptionKey, 'dpop nonces (admin api)');
  }

  #at(step: number): string {
    return createHmac('sha256', this.#key).update(String(step)).digest('base64url');
  }

  #step(): number {
    return Math.floor(this.now() / STEP_SECONDS);
  }

  /** The nonce to hand out now (the next step's, so it lives as long as possible). */
  next(): string {
    return this.#at(this.#step() + 1);
  }

  accepts(nonce: string): boolean {
    if (typeof nonce !== 'string' || nonce.length !== 43) return false;
    const step = this.#step();
    const given = Buffer.from(nonce);
    // Every candidate is compared, so the time taken says nothing about which step matched.
    return STEPS_ACCEPTED.map((offset) => timingSafeEqual(Buffer.from(this.#at(step + offset)), given)).some(Boolean);
  }
}
