// Whether a JWT access token that verified still stands on the server: not revoked, its grant
// still there, its person not disabled, its app not disabled. One query answers all four (the
// records repository's jwtStanding, src/records/tokens.ts); a positive answer is cached for at
// most a minute (and never past the token's or the grant's expiry), tagged with exactly the change keys that could overturn it (see migration 003), so a
// warm introspection costs no round trip at all and a revocation anywhere still shows at once.
import { digest } from '../crypto/digest.js';
import type { ChangeFeed } from '../db/notifications.js';
import { CoherentCache } from '../db/coherent-cache.js';
import type { GrantOpenid, OidcRecords } from '../records/index.js';

/** What a cached positive answer may be trusted for, at most. */
export const TRUTH_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

/** What the token names, from its verified claims. */
export interface TokenSubject {
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
  clientId: string;
  grantId: string | null;
  /** The person's id; null for a client_credentials token. */
  personId: string | null;
  /** The app the grant was given to, when not clientId (a token made by token exchange). */
  grantClientId?: string | null;
}

/**
 * The token stands; its person's email, for introspection's `username`, only when the person
 * consented to share it with the app (the grant holds the `email` scope or claim).
 */
export interface Standing {
  username: string | undefined;
}

interface CachedStanding extends Standing {
  /** Milliseconds since the epoch after which the grant has expired. */
  grantExpiresAt: number;
}

export type TruthCache = CoherentCache<CachedStanding>;

export function truthCache(feed: ChangeFeed): TruthCache {
  return new CoherentCache(feed, { name: 'jwt_access_tokens', maxEntries: MAX_ENTRIES, ttlMs: TRUTH_TTL_MS });
}

/** The change keys a token's standing is read from (the notifications migration 003 raises). */
export function jtiTag(jti: string): string {
  return `jti:${digest(jti)}`;
}
export function grantTag(grantId: string): string {
  return `grant:${digest(grantId)}`;
}
function tagsOf(subject: TokenSubject): string[] {
  return [
    jtiTag(subject.jti),
    `client:${subject.clientId}`,
    ...(subject.grantClientId ? [`client:${subject.grantClientId}`] : []),
    ...(subject.grantId ? [grantTag(subject.grantId)] : []),
    // The trigger sends the uuid as PostgreSQL prints it: lower case.
    ...(subject.personId ? [`user:${subject.personId.toLowerCase()}`] : []),
  ];
}

export class JwtTruth {
  constructor(
    /** The records repository: the standing query, and the clock that decides expiry. */
    private readonly records: OidcRecords,
    /** Shared by every provider built on this database connection, so it outlives key rotations. */
    private readonly cache: TruthCache | undefined,
    /** How long an answer is cached is measured as the cache measures it: real time, unless a test says. */
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the token stands; `fresh` skips the cache (revocation wants the database's word). */
  async standing(subject: TokenSubject, options: { fresh?: boolean } = {}): Promise<Standing | undefined> {
    if (!this.cache || options.fresh) return this.#ask(subject);
    // In memory only, from a token whose signature verified: the jti as it is, no digest (the
    // tags, digests of what the database's notifications name, are made only on a miss).
    const key = [subject.jti, subject.grantId ?? '', subject.personId ?? '', subject.clientId, subject.grantClientId ?? ''].join(' ');
    const standing = await this.cache.load(key, () => tagsOf(subject), () => this.#ask(subject), (found) => this.#ttlMs(subject, found));
    return standing && { username: standing.username };
  }

  #ttlMs(subject: TokenSubject, found: CachedStanding): number {
    const now = this.now();
    return Math.min(TRUTH_TTL_MS, subject.exp * 1000 - now, found.grantExpiresAt - now);
  }

  async #ask(subject: TokenSubject): Promise<CachedStanding | undefined> {
    const { grantId, personId } = subject;
    const truth = await this.records.jwtStanding(subject);
    if (truth.revoked || !truth.client_live) return undefined;
    if (grantId && !truth.grant_live) return undefined;
    if (personId && !truth.username) return undefined; // disabled or deleted
    return {
      username: consentsToEmail(truth.grant_openid) ? truth.username ?? undefined : undefined,
      grantExpiresAt: grantId && truth.grant_expires_at ? new Date(truth.grant_expires_at).getTime() : Infinity,
    };
  }
}

/** Whether a grant's OpenID consent (its payload's `openid`) covers the person's email address. */
function consentsToEmail(openid: GrantOpenid | null): boolean {
  const scope = typeof openid?.scope === 'string' ? openid.scope.split(' ') : [];
  const claims = Array.isArray(openid?.claims) ? openid.claims : [];
  return scope.includes('email') || claims.includes('email');
}
