// JWT access tokens whose signature this process already checked. An API introspects the same
// token many times in its ten-minute life, and an ES256 verification is about a third of what a
// JWT introspection costs in CPU; remembering the outcome by the token's exact text makes every
// presentation after the first skip it.
//
// Only what verification proves is remembered — the token's text is ours, signed by a key of this
// key set, with these claims — never whether the token still stands: that is asked on every
// presentation (jwt-truth.ts). An entry goes when the token expires, exactly when jose would start
// refusing it, and the whole map goes with its key set (JwtAccessTokens is rebuilt on rotation).
// A failed verification is never remembered, so nothing an attacker sends takes a slot.
import type { JWTPayload } from 'jose';

export interface VerifiedJwtOptions {
  maxEntries: number;
  /** The clock tolerance verification allowed past `exp`. */
  clockToleranceSeconds: number;
}

interface Verified {
  claims: JWTPayload;
  /** The last second (epoch) in which jose would still accept the token. */
  lastValidSecond: number;
}

export class VerifiedJwts {
  // Insertion order is eviction order: the oldest verification goes first. Hits do not reorder
  // (a Map delete-and-set per hit would cost more than it saves for ten-minute tokens).
  readonly #entries = new Map<string, Verified>();

  constructor(private readonly options: VerifiedJwtOptions) {}

  /**
   * The claims `key` verified with, while the token is unexpired at `nowMs`. Each caller gets its
   * own copy: the claims are handed on to oidc-provider's models.
   */
  get(key: string, nowMs: number): JWTPayload | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (Math.floor(nowMs / 1000) > entry.lastValidSecond) {
      this.#entries.delete(key);
      return undefined;
    }
    return structuredClone(entry.claims);
  }

  /** Remembers claims that just verified; `exp` is required by that verification. */
  remember(key: string, claims: JWTPayload): void {
    if (typeof claims.exp !== 'number') return;
    if (this.#entries.size >= this.options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    // jose refuses once `exp <= now - tolerance`, i.e. accepts through exp + tolerance - 1.
    this.#entries.set(key, { claims: structuredClone(claims), lastValidSecond: claims.exp + this.options.clockToleranceSeconds - 1 });
  }

  get size(): number {
    return this.#entries.size;
  }
}
