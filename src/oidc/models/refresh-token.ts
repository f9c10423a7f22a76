// The RefreshToken model's storage, in one class: the token a refresh_token grant presents is
// found through the one-query lookup (token-lookup.ts) and reviewed for a retry to forgive
// (src/tokens/refresh-retry.ts); the grant's consume of it is held back and sent with the save of
// its successor as one statement (the repository's rotate); every write drops what the lookup
// read this tick.
//
// What this relies on of oidc-provider's internals is in src/oidc/internals/ (refreshGrantRequest,
// presentedRefreshToken, and the grant's adapter calls in order, REFRESH_GRANT_ADAPTER_CALLS: find,
// consume the presented token, then save its successor), each checked by
// test/oidc/internals.contract.test.ts; test/oidc/refresh-rotation.test.ts pins the order too.
import type { Adapter, AdapterPayload, KoaContextWithOIDC } from 'oidc-provider';
import { isLookupKey, type ModelRecords } from '../../records/index.js';
import { isJwtHandle } from '../../tokens/jwt-access-tokens.js';
import type { RefreshRetries } from '../../tokens/refresh-retry.js';
import { presentedRefreshToken, refreshGrantRequest } from '../internals.js';
import type { CodeRedemptions } from './code-redemption.js';
import type { TokenLookup } from './token-lookup.js';

/** A refresh token the grant consumed, not yet written, and what writes it if no save takes it. */
interface HeldConsume {
  id: string;
  writeOnClose: () => void;
}

/**
 * A held-back consume written when its response closed that did not go through. Identifiers
 * only: never the token.
 */
export interface HeldConsumeFailure {
  grantId: string | undefined;
  clientId: string | undefined;
  requestId: string | undefined;
  error: unknown;
}

/** Requests of the refresh_token grant → the consume they hold back. */
const heldConsumes = new WeakMap<KoaContextWithOIDC, HeldConsume>();

/**
 * A refresh_token grant consumes the presented refresh token and then saves its successor: consume
 * holds the write back, and upsert sends both as one statement (ModelRecords.rotate). Should the
 * request fail between the two, nothing was written: the old token still works and no new one
 * exists. A replay is refused at the save instead of the consume, with the same invalid_grant and
 * the same grant revocation. Should a consume still be held back when the response goes out (a
 * future oidc-provider saving before it consumes, or not saving at all), it is written then, so a
 * presented refresh token can never stay usable — at worst a failed request costs its caller the
 * token, never a second use. The answer is gone by then, so a write that fails there (which leaves
 * the token usable) or is refused as a replay (its grant revoked, as any replay's) goes to
 * `onHeldConsumeFailure` rather than vanishing.
 */
export class RefreshTokenModel implements Adapter {
  constructor(
    private readonly stored: ModelRecords,
    private readonly lookup: TokenLookup,
    private readonly retries: RefreshRetries,
    private readonly onHeldConsumeFailure: (failure: HeldConsumeFailure) => void,
    private readonly codes: CodeRedemptions,
  ) {}

  /** The live token; the one a refresh_token grant presents is reviewed for a retry to forgive. */
  async find(id: string): Promise<AdapterPayload | undefined> {
    // findToken asks RefreshToken about JWT handles too; no stored token can be one.
    if (!isLookupKey(id) || isJwtHandle(id)) return undefined;
    const found = await this.lookup.find('RefreshToken', id);
    const request = refreshGrantRequest();
    if (!found || !request || request.oidc.params?.refresh_token !== id) return found;
    return this.retries.review(request, id, found, (presented) => this.stored.refuseReplay(presented));
  }

  async consume(id: string): Promise<void> {
    try {
      await this.#consume(id);
    } finally {
      this.lookup.forget(id);
    }
  }

  async #consume(id: string): Promise<void> {
    const request = refreshGrantRequest();
    if (!request || heldConsumes.has(request)) return this.stored.consume(id);
    const facts = {
      grantId: presentedRefreshToken(request)?.grantId,
      clientId: request.oidc.client?.clientId,
      requestId: (request.state as { requestId?: string } | undefined)?.requestId,
    };
    const writeOnClose = () => {
      heldConsumes.delete(request);
      this.stored.consume(id).catch((error: unknown) => this.onHeldConsumeFailure({ ...facts, error }));
    };
    heldConsumes.set(request, { id, writeOnClose });
    request.res.once('close', writeOnClose);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    // A code exchange's refresh token is saved with the code's consume (code-redemption.ts).
    const redeemed = this.codes.redeemWith({ model: 'RefreshToken', id, payload, expiresIn });
    if (redeemed) return redeemed;
    const request = refreshGrantRequest();
    const held = request ? heldConsumes.get(request) : undefined;
    if (!request || !held) return this.stored.upsert(id, payload, expiresIn);
    heldConsumes.delete(request);
    request.res.off('close', held.writeOnClose);
    return this.stored.rotate(held.id, id, payload, expiresIn, {
      sealedSuccessor: this.retries.seal(held.id, id),
      forgiveLoss: () => this.retries.forgiveLostRace(request, held.id, id, payload),
    });
  }

  async destroy(id: string): Promise<void> {
    await this.stored.destroy(id);
    this.lookup.forget(id);
  }

  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
