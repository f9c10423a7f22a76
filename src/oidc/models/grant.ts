// The Grant model's storage. userinfo and the code exchange load the token's Grant on every
// request: it is answered from the token lookup when that just read it (token-lookup.ts), else from
// a cache the change feed keeps honest, and what this process cached goes at once on its own writes.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { CoherentCache } from '../../db/coherent-cache.js';
import type { ChangeFeed } from '../../db/notifications.js';
import type { ModelRecords, RevocationCause } from '../../records/index.js';
import { currentRequest } from '../internals.js';
import { grantTag } from '../../tokens/jwt-truth.js';
import type { TokenLookup } from './token-lookup.js';

/**
 * Grants as found, by grant id. A grant changes when consent is added or it is revoked, and every
 * such change announces itself as `grant:<id_digest>` (migrations 003 and 006), so a cached grant
 * is never served after a change any instance made.
 */
export type GrantCache = CoherentCache<AdapterPayload>;

export function grantCache(feed: ChangeFeed): GrantCache {
  return new CoherentCache(feed, { name: 'grants', maxEntries: 10_000, ttlMs: 60_000 });
}

/** Never past the grant's own expiry (its payload's exp is at or before the row's expires_at). */
function untilExpiry(payload: AdapterPayload): number {
  return typeof payload.exp === 'number' ? payload.exp * 1000 - Date.now() : Infinity;
}

export class GrantModel implements Adapter {
  constructor(
    private readonly stored: ModelRecords,
    private readonly lookup: TokenLookup,
    private readonly grants: GrantCache | undefined,
    /** Drops what this process cached of a grant: its tokens' standings and the grant itself. */
    private readonly forgetGrant: (grantId: string) => void,
  ) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (typeof id !== 'string') return this.stored.find(id);
    const recent = this.lookup.recentGrant(id);
    if (recent) return recent;
    if (!this.grants) return this.stored.find(id);
    const found = await this.grants.load(id, () => [grantTag(id)], () => this.stored.find(id), untilExpiry);
    // oidc-provider builds a Grant from this and may change it (consent adds scopes): a copy each.
    return found && structuredClone(found);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    await this.stored.upsert(id, payload, expiresIn);
    this.lookup.forget(id);
    this.grants?.invalidate(grantTag(id));
  }

  async destroy(id: string): Promise<void> {
    await this.stored.destroy(id, revocationCause(currentRequest()?.oidc?.route));
    this.lookup.forget(id);
    this.forgetGrant(id);
  }

  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  consume(id: string) { return this.stored.consume(id); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}

/**
 * oidc-provider destroys a Grant to revoke it: at the token endpoint for a replayed code or refresh
 * token, at the end-session endpoints when the person signs out of the app, at the revocation
 * endpoint with the token the app revoked.
 */
function revocationCause(route: string | undefined): RevocationCause | undefined {
  if (route === 'token') return 'replay';
  if (route?.startsWith('end_session')) return 'sign_out';
  if (route === 'revocation') return 'token_revoked';
  return undefined;
}
