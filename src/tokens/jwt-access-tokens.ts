// RFC 9068 JWT access tokens are not stored: oidc-provider signs them and forgets them. Where the
// server itself must accept one (userinfo, introspection, revocation), this module verifies it
// against Gatehouse's own keys, asks whether it still stands (jwt-truth.ts: grant, revocation,
// person, app), and turns it back into the payload oidc-provider's models are built from, so the
// provider's own endpoint pipelines run unchanged.
import type { AdapterPayload } from 'oidc-provider';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { digest } from '../crypto/digest.js';
import { deepFrozen } from '../db/frozen.js';
import { revokedInThisRequest } from '../db/change-barrier.js';
import { isUuidPattern } from '../people/users.js';
import { deleteInBatches, type Database } from '../db/knex.js';
import { jtiTag, JwtTruth, type TokenSubject, type TruthCache } from './jwt-truth.js';
import type { OidcRecords } from '../records/index.js';
import { GRANT_CLIENT_CLAIM, GRANT_ID_CLAIM, USERINFO_CLAIMS_CLAIM } from '../vocabulary.js';
import { CLOCK_TOLERANCE_SECONDS, REVOKED_JWT_MEMORY_SECONDS } from '../lifetimes.js';
import { JWT_HANDLE_PREFIX, JWT_REVOCATION_HANDLE_PREFIX } from '../oidc/internals.js';
import { afterThisTick } from '../oidc/models/token-lookup.js';

/** Algorithms Gatehouse signs access tokens with; nothing else is ever accepted. */
export const ACCESS_TOKEN_ALGORITHMS = ['ES256', 'RS256'];

/** Header members that point at keys elsewhere: a token naming one is not one of ours. */
const FOREIGN_KEY_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'crit'];

/**
 * True for a value that can only be a JWT handle (src/oidc/internals.ts, JWT_HANDLE_PREFIX), never
 * a stored token's id.
 */
export function isJwtHandle(value: string): boolean {
  return value.startsWith(JWT_HANDLE_PREFIX) || value.startsWith(JWT_REVOCATION_HANDLE_PREFIX);
}

export function looksLikeJwt(value: string): boolean {
  return value.length < 16_384 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);
}

export interface JwtAccessTokenOptions {
  issuer: string;
  jwks: JSONWebKeySet;
  userinfoAudience: string;
  /** Cached standings, shared by every provider built on this database (keys rotate, truth does not). */
  truthCache?: TruthCache;
  /** Where a token's standing is read (its grant, revocation, person, app), by the repository's clock. */
  records: OidcRecords;
  /** The clock expiry is judged by (tests move it); the real one otherwise. */
  now?: () => number;
  /**
   * Reads the key set again now, for a token of ours signed with a key this one does not hold
   * (another instance rotated and this one has not yet seen it), and answers the verifier built on
   * the newest key set: this one when nothing changed. The caller runs one reload at a time and
   * at most one in a while (OidcService.reloadForUnknownKey), so made-up kids cannot make it
   * read the database on every request. It throws when the database is unavailable: the token
   * may well be ours, and the caller is told to retry (503), not that it was revoked.
   */
  reloadKeys?: () => Promise<JwtAccessTokens>;
}

/** How many verified tokens are remembered: an API's tokens in use at once, with room to spare. */
const VERIFIED_TOKENS = 10_000;

/** A JWT access token that is ours, unexpired, and still stands on the server. */
export interface LiveAccessToken {
  claims: JWTPayload;
  /** The person's email, for introspection's `username`. */
  username: string | undefined;
}

/** Where a token is presented; `exchange` is a subject token at token exchange (src/oidc/grants/token-exchange.ts). */
export type Purpose = 'userinfo' | 'introspection' | 'revocation' | 'exchange';

export class JwtAccessTokens {
  readonly #keySet;
  /** The kids of the key set, to tell a token signed with a key not (yet) loaded. */
  readonly #kids: ReadonlySet<string>;
  readonly #truth: JwtTruth;
  /**
   * Introspection asks the AccessToken and ClientCredentials models at once: verify once. Shared
   * only within the tick it started in: a read may be answered from before a change whose
   * notification arrives while it is under way, and a request that comes after the notification
   * must read afresh (the cache does not keep such a read either: coherent-cache.ts).
   */
  readonly #inFlight = new Map<string, Promise<LiveAccessToken | undefined>>();
  /**
   * Tokens whose signature and fixed claims verified, by their whole value, oldest first. An API
   * presents the same token on every call it serves with it, and checking an ES256 signature was
   * most of what introspecting it cost; what can change (expiry, audience) is checked every time,
   * and whether it still stands is asked of the server's truth every time. A key that is retired
   * rebuilds this object, so nothing verified with it is remembered past that.
   */
  readonly #verified = new Map<string, JWTPayload>();
  readonly #now: () => number;

  constructor(
    private readonly db: Database,
    private readonly options: JwtAccessTokenOptions,
  ) {
    this.#keySet = createLocalJWKSet(options.jwks);
    this.#kids = new Set(options.jwks.keys.flatMap((key) => (typeof key.kid === 'string' ? [key.kid] : [])));
    this.#truth = new JwtTruth(options.records, options.truthCache);
    this.#now = options.now ?? Date.now;
  }

  resolve(value: string, purpose: Purpose): Promise<LiveAccessToken | undefined> {
    const key = `${purpose} ${value}`;
    let pending = this.#inFlight.get(key);
    if (!pending) {
      const forget = () => {
        if (this.#inFlight.get(key) === shared) this.#inFlight.delete(key);
      };
      // Whichever comes first: a read that settles within its tick (PGlite) is not shared past it.
      const shared: Promise<LiveAccessToken | undefined> = this.#resolve(value, purpose).finally(forget);
      pending = shared;
      this.#inFlight.set(key, shared);
      afterThisTick(forget);
    }
    return pending;
  }

  async #resolve(value: string, purpose: Purpose): Promise<LiveAccessToken | undefined> {
    const claims = await this.#verify(value, purpose === 'userinfo' ? this.options.userinfoAudience : undefined, expiryToleranceOf(purpose));
    if (!claims) return undefined;
    // A token about to be revoked gains nothing from the cache, and should not fill it.
    const standing = await this.#truth.standing(subjectOf(claims), { fresh: purpose === 'revocation' });
    return standing && { claims, username: standing.username };
  }

  /** `reloaded`: the key set was just read again for this token; it is not read again. */
  async #verify(value: string, audience: string | undefined, clockTolerance: number, reloaded = false): Promise<JWTPayload | undefined> {
    if (typeof value !== 'string' || !looksLikeJwt(value)) return undefined;
    const nowSeconds = Math.floor(this.#now() / 1000);
    const known = this.#verified.get(value);
    if (known) {
      if (known.exp! <= nowSeconds - CLOCK_TOLERANCE_SECONDS) this.#verified.delete(value); // past any use
      return timelyFor(known, audience, clockTolerance, nowSeconds) ? known : undefined;
    }
    const header = protectedHeaderOf(value);
    if (!header || FOREIGN_KEY_HEADERS.some((name) => name in header)) return undefined;
    if (!reloaded && this.options.reloadKeys && this.#ofOursWithUnknownKey(value, header)) {
      // Throws when the database is unavailable. A kid still unknown once the keys were read
      // again is not one of ours: the token is refused as any other that does not verify.
      const newest = await this.options.reloadKeys();
      return newest === this ? undefined : newest.#verify(value, audience, clockTolerance, true);
    }
    try {
      const { payload } = await jwtVerify(value, this.#keySet, {
        issuer: this.options.issuer,
        ...(audience ? { audience } : {}),
        typ: 'at+jwt',
        algorithms: ACCESS_TOKEN_ALGORITHMS,
        requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'aud'],
        clockTolerance,
        currentDate: new Date(nowSeconds * 1000),
      });
      // Shared by every later request with this token: nothing may change it.
      const verified = deepFrozen(payload);
      this.#remember(value, verified);
      return verified;
    } catch {
      return undefined;
    }
  }

  /**
   * A token that names our issuer and a kid this key set does not hold: signed (if it is ours at
   * all) with a key another instance loaded first. Read without verifying anything, so it decides
   * only whether the keys are read again, never whether the token is accepted.
   */
  #ofOursWithUnknownKey(value: string, header: ProtectedHeaderParameters): boolean {
    if (typeof header.kid !== 'string' || this.#kids.has(header.kid)) return false;
    if (typeof header.alg !== 'string' || !ACCESS_TOKEN_ALGORITHMS.includes(header.alg)) return false;
    try {
      return decodeJwt(value).iss === this.options.issuer;
    } catch {
      return false;
    }
  }

  #remember(value: string, payload: JWTPayload): void {
    this.#verified.set(value, payload);
    if (this.#verified.size > VERIFIED_TOKENS) this.#verified.delete(this.#verified.keys().next().value!);
  }

  /** Remembers a revoked token's jti (as a digest) until it would have expired anyway. */
  async revoke(jti: string, now = Date.now()): Promise<void> {
    await this.db('revoked_access_tokens')
      .insert({
        jti_digest: digest(jti),
        expires_at: new Date(now + REVOKED_JWT_MEMORY_SECONDS * 1000),
      })
      .onConflict('jti_digest')
      .ignore();
    // Every instance hears of it through the trigger; this one need not wait for the echo, and the
    // revocation endpoint answers once the others have heard too (src/db/change-barrier.ts).
    this.options.truthCache?.invalidate(jtiTag(jti));
    revokedInThisRequest();
  }
}

function protectedHeaderOf(value: string): ProtectedHeaderParameters | undefined {
  try {
    return decodeProtectedHeader(value);
  } catch {
    return undefined;
  }
}

/**
 * What jwtVerify checks that depends on the moment or the use, for a token whose signature,
 * issuer, type and required claims verified before: not expired, not before its nbf, and for
 * `audience` when one is required.
 */
function timelyFor(claims: JWTPayload, audience: string | undefined, clockTolerance: number, nowSeconds: number): boolean {
  if (claims.exp! <= nowSeconds - clockTolerance) return false;
  if (typeof claims.nbf === 'number' && claims.nbf > nowSeconds + clockTolerance) return false;
  if (!audience) return true;
  return Array.isArray(claims.aud) ? claims.aud.includes(audience) : claims.aud === audience;
}

/**
 * An access token is spent at its exp wherever it is used: introspection (whose own check,
 * oidc-provider's isValid, allows no tolerance), userinfo and the admin API alike, as an opaque
 * token's row stops being found at its expiry. Only revocation keeps the clock tolerance: accepting
 * a token just past its exp there revokes its grant, which is what the caller asked for.
 */
function expiryToleranceOf(purpose: Purpose): number {
  return purpose === 'revocation' ? CLOCK_TOLERANCE_SECONDS : 0;
}

/** What the server-side truth is asked about, from claims that verified. */
function subjectOf(claims: JWTPayload): TokenSubject {
  const grantId = typeof claims[GRANT_ID_CLAIM] === 'string' ? (claims[GRANT_ID_CLAIM] as string) : null;
  const personId = typeof claims.sub === 'string' && isUuidPattern.test(claims.sub) && claims.sub !== claims.client_id ? claims.sub : null;
  const grantClientId = typeof claims[GRANT_CLIENT_CLAIM] === 'string' ? (claims[GRANT_CLIENT_CLAIM] as string) : null;
  return { jti: String(claims.jti), exp: Number(claims.exp), clientId: String(claims.client_id), grantId, personId, grantClientId };
}

export type TokenKind = 'AccessToken' | 'ClientCredentials';

/** A client_credentials token names no grant and no person; every other access token does. */
export function kindOf(claims: JWTPayload): TokenKind {
  return typeof claims[GRANT_ID_CLAIM] === 'string' ? 'AccessToken' : 'ClientCredentials';
}

/**
 * The stored-token shape oidc-provider's AccessToken and ClientCredentials models are built from.
 * Introspection gets no grantId: the truth query already found the grant standing, and naming it
 * would make oidc-provider read it again (Grant.find, one more round trip). Revocation keeps it,
 * since revoking an access token revokes what else its grant issued; userinfo keeps it too.
 */
export function accessTokenPayload(token: LiveAccessToken, purpose: Purpose): AdapterPayload {
  const { claims } = token;
  const cnf = claims.cnf as { jkt?: string; 'x5t#S256'?: string } | undefined;
  return {
    jti: claims.jti!,
    kind: kindOf(claims),
    iat: claims.iat!,
    exp: claims.exp!,
    clientId: claims.client_id as string,
    accountId: kindOf(claims) === 'AccessToken' ? claims.sub : undefined,
    grantId: purpose === 'introspection' ? undefined : (claims[GRANT_ID_CLAIM] as string | undefined),
    scope: claims.scope as string | undefined,
    ...(isClaimsRequest(claims[USERINFO_CLAIMS_CLAIM]) ? { claims: { userinfo: claims[USERINFO_CLAIMS_CLAIM] } } : {}),
    ...(cnf?.jkt ? { jkt: cnf.jkt } : {}),
    ...(cnf?.['x5t#S256'] ? { 'x5t#S256': cnf['x5t#S256'] } : {}),
    // userinfo refuses tokens that carry an audience; its own was checked during verification.
    // Introspection reports the audience, and the policy decides who may see the token by it.
    // `username` is the email: released only when the grant consented to it (jwt-truth.ts) and
    // this token carries the scope, as userinfo would release it.
    // How the person signed in (RFC 9068 §2.2.1 claims the token carries) is reported too, so an
    // API that introspects learns what one that verifies the JWT reads from it. An exchanged token's actor chain (RFC 8693 §4.1) is part of the answer too (§2.2.1 allows
    // it in introspection), and marks the token as exchanged at revocation (isExchanged).
    ...(purpose !== 'userinfo' ? { aud: claims.aud, extra: { ...signInOf(claims), ...(token.username && carriesEmail(claims) ? { username: token.username } : {}), ...actorOf(claims) } } : {}),
  } as AdapterPayload;
}

function actorOf(claims: JWTPayload): { act?: unknown } {
  return claims.act && typeof claims.act === 'object' ? { act: claims.act } : {};
}

/**
 * Whether an access token oidc-provider built from accessTokenPayload was made by token exchange:
 * revoking it revokes it alone, never the grant of the app the person gave it to
 * (configuration.ts, revokeGrantPolicy).
 */
export function isExchanged(token: { extra?: Record<string, unknown> } | undefined): boolean {
  return !!token?.extra?.act;
}

/** The token's acr, amr and auth_time, those it carries. */
function signInOf(claims: JWTPayload): Record<string, unknown> {
  return {
    ...(typeof claims.acr === 'string' ? { acr: claims.acr } : {}),
    ...(Array.isArray(claims.amr) ? { amr: claims.amr } : {}),
    ...(typeof claims.auth_time === 'number' ? { auth_time: claims.auth_time } : {}),
  };
}

function carriesEmail(claims: JWTPayload): boolean {
  return typeof claims.scope === 'string' && claims.scope.split(' ').includes('email');
}

function isClaimsRequest(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Which endpoint a JWT came from, and the JWT itself; undefined for an opaque token. JWTs arrive at
 * userinfo raw (and must name the userinfo audience), at introspection and revocation behind a
 * handle prefix (any of our audiences).
 */
export function jwtHandleOf(id: string): { purpose: Purpose; jwt: string } | undefined {
  if (id.startsWith(JWT_HANDLE_PREFIX)) return { purpose: 'introspection', jwt: id.slice(JWT_HANDLE_PREFIX.length) };
  if (id.startsWith(JWT_REVOCATION_HANDLE_PREFIX)) return { purpose: 'revocation', jwt: id.slice(JWT_REVOCATION_HANDLE_PREFIX.length) };
  return looksLikeJwt(id) ? { purpose: 'userinfo', jwt: id } : undefined;
}

/** Deletes remembered revocations of tokens that have expired anyway (the janitor calls it). */
export async function deleteExpiredRevocations(db: Database, now = Date.now()): Promise<number> {
  return deleteInBatches(db, 'revoked_access_tokens', 'expires_at <= ?', [new Date(now)]);
}
