// The RefreshToken model's storage, in one class: the token a refresh_token grant presents is
// found through the one-query lookup (token-lookup.ts) and reviewed for a retry to forgive
// (src/tokens/refresh-retry.ts); the grant's consume of it is held back and sent with the save of
// its successor as one statement (the repository's rotate); every write drops what the lookup
// read this tick.
//
// What this relies on of oidc-provider's internals, each in one function below:
//   refreshGrantRequest    Provider.ctx, and ctx.oidc.route / ctx.oidc.params.grant_type, to know
//                          the request is the token endpoint answering a refresh_token grant;
//   presentedRefreshToken  ctx.oidc.params.refresh_token, the value that grant presents;
//   presentedGrantId       ctx.oidc.entities.RefreshToken, named before the grant consumes it;
//   requestClientId        ctx.oidc.client;
//   the order of lib/actions/grants/refresh_token.js with rotateRefreshToken on: find, consume
//   the presented token, then save its successor (RefreshTokenModel.consume and .upsert;
//   test/oidc/refresh-rotation.test.ts pins it).
import { Provider, type Adapter, type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';
import { isLookupKey, type ModelRecords } from '../../records/index.js';
import { isJwtHandle } from '../../tokens/jwt-access-tokens.js';
import type { RefreshRetries } from '../../tokens/refresh-retry.js';
import type { TokenLookup } from './token-lookup.js';

/** The token endpoint's request when it is answering a refresh_token grant. */
function refreshGrantRequest(): KoaContextWithOIDC | undefined {
  const ctx = Provider.ctx;
  return ctx?.oidc?.route === 'token' && ctx.oidc.params?.grant_type === 'refresh_token' ? ctx : undefined;
}

/** The refresh token the grant presents. */
function presentedRefreshToken(request: KoaContextWithOIDC): unknown {
  return request.oidc.params?.refresh_token;
}

// Should oidc-provider stop naming the presented token as the request's RefreshToken entity before
// it consumes it, a failed held consume is still reported, only without its grant id.
function presentedGrantId(request: KoaContextWithOIDC): string | undefined {
  return request.oidc.entities?.RefreshToken?.grantId;
}

function requestClientId(request: KoaContextWithOIDC): string | undefined {
  return request.oidc.client?.clientId;
}

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
  ) {}

  /** The live token; the one a refresh_token grant presents is reviewed for a retry to forgive. */
  async find(id: string): Promise<AdapterPayload | undefined> {
    // findToken asks RefreshToken about JWT handles too; no stored token can be one.
    if (!isLookupKey(id) || isJwtHandle(id)) return undefined;
    const found = await this.lookup.find('RefreshToken', id);
    const request = refreshGrantRequest();
    if (!found || !request || presentedRefreshToken(request) !== id) return found;
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
      grantId: presentedGrantId(request),
      clientId: requestClientId(request),
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
