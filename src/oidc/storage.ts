// oidc-provider's storage as Gatehouse wires it: the oidc_records adapter (adapter.ts) for every
// model, with what the hot path needs layered on top —
//   Client                                 the clients table, cached (models/client.ts)
//   AccessToken, ClientCredentials         JWTs verified in place (src/tokens/jwt-access-tokens.ts); opaque
//                                          ones through the one-query lookup (token-lookup.ts)
//   RefreshToken                           the one-query lookup; a JWT handle is never one;
//                                          rotation as one statement (RotatingRefreshTokens), which
//                                          keeps the successor for a retry (src/tokens/refresh-retry.ts)
//   Grant                                  answered from that lookup when it just read the grant,
//                                          else from a cache the change feed keeps honest
//   ReplayDetection                        one atomic insert per client assertion
// — and with this process's own revocations dropping what it cached at once, rather than when
// the database's notification (migration 003) comes back to it.
import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/notifications.js';
import { errors, Provider, type Adapter, type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';
import { createAdapterFactory, type PostgresAdapter, type RequestFacts } from './adapter.js';
import type { ClientAdapter } from './models/client.js';
import { AccessTokenAdapter, isJwtHandle, type JwtAccessTokens } from '../tokens/jwt-access-tokens.js';
import { grantTag, type TruthCache } from '../tokens/jwt-truth.js';
import { TokenLookup, TOKEN_MODELS } from './token-lookup.js';
import { CoherentCache } from '../db/coherent-cache.js';
import { RefreshRetries } from '../tokens/refresh-retry.js';
import { MAX_HANDLE_LENGTH } from '../lifetimes.js';

/** Passes everything through; subclasses override what they add to. */
class DelegatingAdapter implements Adapter {
  constructor(protected readonly inner: Adapter) {}
  async find(id: string): Promise<AdapterPayload | undefined> { return (await this.inner.find(id)) ?? undefined; }
  upsert(id: string, payload: AdapterPayload, expiresIn: number) { return this.inner.upsert(id, payload, expiresIn); }
  findByUid(uid: string) { return this.inner.findByUid(uid); }
  findByUserCode(userCode: string) { return this.inner.findByUserCode(userCode); }
  consume(id: string) { return this.inner.consume(id); }
  destroy(id: string) { return this.inner.destroy(id); }
  revokeByGrantId(grantId: string) { return this.inner.revokeByGrantId(grantId); }
}

/** An opaque token model read through the one-query lookup. */
class CoalescedTokenAdapter extends DelegatingAdapter {
  constructor(inner: Adapter, private readonly model: string, private readonly lookup: TokenLookup) {
    super(inner);
  }

  override async find(id: string): Promise<AdapterPayload | undefined> {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_HANDLE_LENGTH) return super.find(id);
    // findToken asks RefreshToken about JWT handles too; no stored token can be one.
    if (isJwtHandle(id)) return undefined;
    return this.lookup.find(this.model, id);
  }

  override async destroy(id: string): Promise<void> {
    await super.destroy(id);
    this.lookup.forget(id);
  }

  override async consume(id: string): Promise<void> {
    try {
      await super.consume(id);
    } finally {
      this.lookup.forget(id);
    }
  }
}

/** A refresh token the grant consumed, not yet written, and what writes it if no save takes it. */
interface HeldConsume {
  id: string;
  writeOnClose: () => void;
}

/**
 * A held-back consume written when its response closed (RotatingRefreshTokens) that did not go
 * through. Identifiers only: never the token.
 */
export interface HeldConsumeFailure {
  grantId: string | undefined;
  clientId: string | undefined;
  requestId: string | undefined;
  error: unknown;
}

/** Requests of the refresh_token grant → the consume they hold back. */
const heldConsumes = new WeakMap<KoaContextWithOIDC, HeldConsume>();

/** The token endpoint's request when it is answering a refresh_token grant. */
function refreshGrantRequest(): KoaContextWithOIDC | undefined {
  const ctx = Provider.ctx;
  return ctx?.oidc?.route === 'token' && ctx.oidc.params?.grant_type === 'refresh_token' ? ctx : undefined;
}

/**
 * A refresh_token grant consumes the presented refresh token and then saves its successor
 * (oidc-provider's actions/grants/refresh_token.js, with rotateRefreshToken on): this holds the
 * consume back and sends both as one statement with the save (PostgresAdapter.rotate). Should the
 * request fail between the two, nothing was written: the old token still works and no new one
 * exists. A replay is refused at the save instead of the consume, with the same invalid_grant and
 * the same grant revocation. test/oidc/refresh-rotation.test.ts pins the order this relies on; and
 * should a consume still be held back when the response goes out (a future oidc-provider saving
 * before it consumes, or not saving at all), it is written then, so a presented refresh token can
 * never stay usable — at worst a failed request costs its caller the token, never a second use.
 * The answer is gone by then, so a write that fails there (which leaves the token usable) or is
 * refused as a replay (its grant revoked, as any replay's) goes to `onFailure` rather than vanishing.
 */
class RotatingRefreshTokens extends DelegatingAdapter {
  constructor(
    private readonly stored: PostgresAdapter,
    private readonly retries: RefreshRetries,
    private readonly onFailure: (failure: HeldConsumeFailure) => void,
  ) {
    super(stored);
  }

  override async consume(id: string): Promise<void> {
    const request = refreshGrantRequest();
    if (!request || heldConsumes.has(request)) return super.consume(id);
    // oidc-provider names the presented token as the request's RefreshToken entity before it
    // consumes it (actions/grants/refresh_token.js, an internal): should that change, the failure is
    // still reported, only without its grant id.
    const facts = {
      grantId: request.oidc.entities?.RefreshToken?.grantId,
      clientId: request.oidc.client?.clientId,
      requestId: (request.state as { requestId?: string } | undefined)?.requestId,
    };
    const writeOnClose = () => {
      heldConsumes.delete(request);
      this.stored.consume(id).catch((error: unknown) => this.onFailure({ ...facts, error }));
    };
    heldConsumes.set(request, { id, writeOnClose });
    request.res.once('close', writeOnClose);
  }

  override async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const request = refreshGrantRequest();
    const held = request ? heldConsumes.get(request) : undefined;
    if (!request || !held) return super.upsert(id, payload, expiresIn);
    heldConsumes.delete(request);
    request.res.off('close', held.writeOnClose);
    return this.stored.rotate(held.id, id, payload, expiresIn, {
      sealedSuccessor: this.retries.seal(held.id, id),
      forgiveLoss: () => this.retries.forgiveLostRace(request, held.id, id, payload),
    });
  }
}

/**
 * The token a refresh_token grant presents, as found, reviewed for a retry to forgive
 * (src/tokens/refresh-retry.ts). Outermost, so it sees what the one-query lookup found.
 */
class RetryForgivingRefreshTokens extends DelegatingAdapter {
  constructor(inner: Adapter, private readonly stored: PostgresAdapter, private readonly retries: RefreshRetries) {
    super(inner);
  }

  override async find(id: string): Promise<AdapterPayload | undefined> {
    const found = await super.find(id);
    const request = refreshGrantRequest();
    if (!found || !request || request.oidc.params?.refresh_token !== id) return found;
    return this.retries.review(request, id, found, (presented) => this.stored.refuseReplay(presented));
  }
}

/**
 * Client assertions' jti, so each assertion is accepted once. oidc-provider's
 * ReplayDetection.unique(iss, jti, exp) (lib/models/replay_detection.js, an internal this relies on)
 * calls find(id) and, when it finds nothing, save() — upsert here; of a burst of requests carrying
 * one assertion, every one would find nothing and every one would be accepted. So find() answers
 * nothing without asking the database, and the upsert is the check: an insert that loses to a live
 * record refuses the request, as unique() returning false would have. An expired record does not
 * count: the assertion it recorded can no longer be verified anyway. Only jwt client
 * authentication uses this model while DPoP and attestation-based client authentication are off.
 * test/security/attacks/client-assertions.test.ts fails if an upgrade changes what this relies on.
 */
class ReplayDetectionAdapter extends DelegatingAdapter {
  constructor(private readonly stored: PostgresAdapter) {
    super(stored);
  }

  override async find(): Promise<AdapterPayload | undefined> {
    return undefined;
  }

  override async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    if (await this.stored.insertUnlessLive(id, payload, expiresIn)) return;
    throw new errors.InvalidClientAuth('client assertion tokens must only be used once');
  }
}

/**
 * Grants as found, by grant id. userinfo and the code exchange load the token's Grant on every
 * request; a grant changes when consent is added or it is revoked, and every such change
 * announces itself as `grant:<id_digest>` (migrations 003 and 006), so a cached grant is never
 * served after a change any instance made.
 */
export type GrantCache = CoherentCache<AdapterPayload>;

export function grantCache(feed: ChangeFeed): GrantCache {
  return new CoherentCache(feed, { maxEntries: 10_000, ttlMs: 60_000 });
}

/** Never past the grant's own expiry (its payload's exp is at or before the row's expires_at). */
function untilExpiry(payload: AdapterPayload): number {
  return typeof payload.exp === 'number' ? payload.exp * 1000 - Date.now() : Infinity;
}

/** Grants: from the lookup when it just read them, else cached, and dropped from the caches when changed. */
class GrantAdapter extends DelegatingAdapter {
  constructor(
    inner: Adapter,
    private readonly lookup: TokenLookup,
    private readonly grants: GrantCache | undefined,
    /** Drops what this process cached of a grant: its tokens' standings and the grant itself. */
    private readonly forgetGrant: (grantId: string) => void,
  ) {
    super(inner);
  }

  override async find(id: string): Promise<AdapterPayload | undefined> {
    if (typeof id !== 'string') return super.find(id);
    const recent = this.lookup.recentGrant(id);
    if (recent) return recent;
    if (!this.grants) return super.find(id);
    const found = await this.grants.load(id, [grantTag(id)], () => super.find(id), untilExpiry);
    // oidc-provider builds a Grant from this and may change it (consent adds scopes): a copy each.
    return found && structuredClone(found);
  }

  override async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    await super.upsert(id, payload, expiresIn);
    this.lookup.forget(id);
    this.grants?.invalidate(grantTag(id));
  }

  override async destroy(id: string): Promise<void> {
    await super.destroy(id);
    this.lookup.forget(id);
    this.forgetGrant(id);
  }
}

export interface StorageParts {
  clients: ClientAdapter;
  jwts: JwtAccessTokens;
  truth?: TruthCache;
  grants?: GrantCache;
  /** REFRESH_TOKEN_RETRY_WINDOW; 0 (the default here) forgives no retry. */
  refreshRetryWindowSeconds?: number;
  /** Milliseconds since the epoch for every expiry and window the storage decides; tests move it. */
  now?: () => number;
  /** Told of a held-back refresh-token consume that failed when written at close (RotatingRefreshTokens). */
  onHeldConsumeFailure: (failure: HeldConsumeFailure) => void;
}

/**
 * The request oidc-provider is handling, which it keeps in async-local storage (Provider.ctx):
 * sessions are saved by the provider's own middleware, where no hook of ours sees the request.
 */
function currentRequestFacts(): RequestFacts | undefined {
  const ctx = Provider.ctx;
  return ctx ? { userAgent: ctx.get('user-agent') || undefined, ip: ctx.ip || undefined } : undefined;
}

/** oidc-provider's `adapter` setting: one adapter per model name. */
export function storageFor(db: Knex, parts: StorageParts): (model: string) => Adapter {
  const forgetGrant = (grantId: string) => {
    parts.truth?.invalidate(grantTag(grantId));
    parts.grants?.invalidate(grantTag(grantId));
  };
  // A replayed code or refresh token revokes its grant in consume() (adapter.ts); this process
  // drops what it cached of that grant at once rather than when the database's notification
  // comes back to it.
  const now = parts.now ?? Date.now;
  const stored = createAdapterFactory(db, { now, requestFacts: currentRequestFacts, onGrantRevoked: forgetGrant });
  const lookup = new TokenLookup(db, now);
  const retries = new RefreshRetries(db, { windowSeconds: parts.refreshRetryWindowSeconds ?? 0, now });
  return (model) => {
    if (model === 'Client') return parts.clients;
    if (model === 'Grant') return new GrantAdapter(stored(model), lookup, parts.grants, forgetGrant);
    if (model === 'ReplayDetection') return new ReplayDetectionAdapter(stored(model));
    if (model === 'RefreshToken') {
      const refreshTokens = stored(model);
      const rotating = new CoalescedTokenAdapter(new RotatingRefreshTokens(refreshTokens, retries, parts.onHeldConsumeFailure), model, lookup);
      return new RetryForgivingRefreshTokens(rotating, refreshTokens, retries);
    }
    let adapter: Adapter = stored(model);
    if (TOKEN_MODELS.includes(model)) adapter = new CoalescedTokenAdapter(adapter, model, lookup);
    if (model === 'AccessToken' || model === 'ClientCredentials') adapter = new AccessTokenAdapter(model, adapter, parts.jwts);
    return adapter;
  };
}
