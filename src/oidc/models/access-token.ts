// The AccessToken and ClientCredentials models' storage, in one place: a JWT access token is
// verified in place (src/tokens/jwt-access-tokens.ts: signature, expiry, and whether it still
// stands), an opaque one is read through the one-query lookup (token-lookup.ts), and everything
// else goes to the records repository as for any model.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { isLookupKey, type ModelRecords } from '../../records/index.js';
import { accessTokenPayload, jwtHandleOf, kindOf, type JwtAccessTokens, type TokenKind } from '../../tokens/jwt-access-tokens.js';
import { currentRequest } from '../internals.js';
import type { HeldIssuance } from './held-issuance.js';
import type { TokenLookup } from './token-lookup.js';

export class AccessTokenModel implements Adapter {
  constructor(
    private readonly kind: TokenKind,
    private readonly stored: ModelRecords,
    private readonly lookup: TokenLookup,
    private readonly jwts: JwtAccessTokens,
    private readonly held: HeldIssuance,
  ) {}

  /**
   * A JWT as it arrives at userinfo (raw, must name the userinfo audience) or at introspection and
   * revocation (behind a handle prefix, any of our audiences); else an opaque token's live row.
   */
  async find(id: string): Promise<AdapterPayload | undefined> {
    if (typeof id !== 'string') return undefined;
    const handle = jwtHandleOf(id);
    if (!handle) return isLookupKey(id) ? this.lookup.find(this.kind, id) : undefined;
    const token = await this.jwts.resolve(handle.jwt, handle.purpose);
    if (!token || kindOf(token.claims) !== this.kind) return undefined;
    return accessTokenPayload(token, handle.purpose);
  }

  /**
   * Revocation destroys a token by its jti. For a JWT there is nothing stored, so the jti is
   * remembered as revoked; for an opaque token the row goes and the extra digest is harmless.
   */
  async destroy(id: string): Promise<void> {
    await Promise.all([this.#destroyStored(id), this.jwts.revoke(id)]);
  }

  async #destroyStored(id: string): Promise<void> {
    await this.stored.destroy(id);
    this.lookup.forget(id);
  }

  async consume(id: string): Promise<void> {
    try {
      await this.stored.consume(id);
    } finally {
      this.lookup.forget(id);
    }
  }

  /**
   * An opaque access token a code exchange or a refresh issues is saved with the code's consume or
   * the rotation (held-issuance.ts): stored only if they are.
   */
  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    if (this.kind === 'AccessToken' && this.held.holdAccessToken(currentRequest(), { model: this.kind, id, payload, expiresIn })) return;
    return this.stored.upsert(id, payload, expiresIn);
  }

  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
