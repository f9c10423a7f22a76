// The RefreshToken model's storage, in one class: the token a refresh_token grant presents is
// found through the one-query lookup (token-lookup.ts) and reviewed for a retry to forgive
// (src/tokens/refresh-retry.ts); the grant's consume of it is held back, with the save of its
// successor and of an opaque access token, until the response is ready, and then sent as one
// statement (the repository's rotate; held-issuance.ts); every write drops what the lookup read
// this tick.
//
// What this relies on of oidc-provider's internals is in src/oidc/internals/ (refreshGrantRequest,
// presentedRefreshToken, and the grant's adapter calls in order, REFRESH_GRANT_ADAPTER_CALLS: find,
// consume the presented token, then save its successor, then an opaque access token), each checked
// by test/oidc/internals.contract.test.ts; test/oidc/refresh-rotation.test.ts pins the order too.
import type { Adapter, AdapterPayload, KoaContextWithOIDC } from 'oidc-provider';
import { isLookupKey, type IssuedRecord, type ModelRecords } from '../../records/index.js';
import { isJwtHandle } from '../../tokens/jwt-access-tokens.js';
import type { RefreshRetries } from '../../tokens/refresh-retry.js';
import { presentedRefreshToken, refreshGrantRequest } from '../internals.js';
import type { CodeRedemptions } from './code-redemption.js';
import type { HeldIssuance, HeldIssue } from './held-issuance.js';
import type { TokenLookup } from './token-lookup.js';

/**
 * A held-back consume that did not go through when written for a refused refresh or exchange.
 * Identifiers only: never the token.
 */
export interface HeldConsumeFailure {
  grantId: string | undefined;
  clientId: string | undefined;
  requestId: string | undefined;
  error: unknown;
}

/**
 * A refresh's rotation, held until its response is ready: the presented token's consume, its
 * successor, and the opaque access token issued with them. Sent as one statement, so a refresh
 * that fails before its answer (the API's lookup, the access token's insert, the rotation itself)
 * rotated nothing: the presented token is still unused and the retry simply refreshes. Of
 * concurrent refreshes of one token the rotation statement's `consumed_at is null` lets one win;
 * a loser is forgiven as a duplicate of the winner's request (refresh-retry.ts, forgiveLostRace)
 * or refused as a replay, its grant revoked, as before anything was held.
 */
class HeldRotation implements HeldIssue {
  successor?: IssuedRecord;
  accessToken?: IssuedRecord;

  constructor(
    private readonly stored: ModelRecords,
    private readonly retries: RefreshRetries,
    private readonly request: KoaContextWithOIDC,
    readonly presented: string,
    private readonly onFailure: (failure: HeldConsumeFailure) => void,
  ) {}

  issue(): Promise<void> {
    // Without a successor (a future oidc-provider consuming without saving) the consume goes alone.
    if (!this.successor) return this.stored.redeem(this.presented, this.accessToken ? [this.accessToken] : []);
    return this.#rotate(this.accessToken);
  }

  // Refused after the consume (a resource it may not have): spent as before rotations were held,
  // the successor kept for a retry in the window, though no token left.
  async refused(ctx: KoaContextWithOIDC): Promise<void> {
    const facts = {
      grantId: presentedRefreshToken(ctx)?.grantId,
      clientId: ctx.oidc?.client?.clientId,
      requestId: (ctx.state as { requestId?: string } | undefined)?.requestId,
    };
    const spent = this.successor ? this.#rotate(undefined) : this.stored.consume(this.presented);
    await spent.catch((error: unknown) => this.onFailure({ ...facts, error }));
  }

  #rotate(accessToken: IssuedRecord | undefined): Promise<void> {
    const { id, payload, expiresIn } = this.successor!;
    return this.stored.rotate(this.presented, id, payload, expiresIn, {
      sealedSuccessor: this.retries.seal(this.presented, id),
      forgiveLoss: () => this.retries.forgiveLostRace(this.request, this.presented, id, payload),
      accessToken,
    });
  }
}

export class RefreshTokenModel implements Adapter {
  constructor(
    private readonly stored: ModelRecords,
    private readonly lookup: TokenLookup,
    private readonly retries: RefreshRetries,
    private readonly onHeldConsumeFailure: (failure: HeldConsumeFailure) => void,
    private readonly codes: CodeRedemptions,
    private readonly held: HeldIssuance,
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

  /** A refresh_token grant's consume is held (HeldRotation); any other is written at once. */
  async consume(id: string): Promise<void> {
    try {
      const request = refreshGrantRequest();
      const holding = request && this.held.hold(request, new HeldRotation(this.stored, this.retries, request, id, this.onHeldConsumeFailure));
      if (!holding) await this.stored.consume(id);
    } finally {
      this.lookup.forget(id);
    }
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    // A code exchange's refresh token is saved with the code's consume (code-redemption.ts).
    const redeemed = this.codes.redeemWith({ model: 'RefreshToken', id, payload, expiresIn });
    if (redeemed) return redeemed;
    const held = this.held.heldBy(refreshGrantRequest());
    if (!(held instanceof HeldRotation) || held.successor) return this.stored.upsert(id, payload, expiresIn);
    held.successor = { model: 'RefreshToken', id, payload, expiresIn };
  }

  async destroy(id: string): Promise<void> {
    await this.stored.destroy(id);
    this.lookup.forget(id);
  }

  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
