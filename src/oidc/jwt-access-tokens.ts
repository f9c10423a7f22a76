// RFC 9068 JWT access tokens are not stored: oidc-provider signs them and forgets them. Where the
// server itself must accept one (userinfo, introspection, revocation), this module verifies it
// against Gatehouse's own keys, asks the database whether it still stands (grant, revocation,
// person, app), and turns it back into the payload oidc-provider's models are built from, so the
// provider's own endpoint pipelines run unchanged.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { digest } from '../crypto/digest.js';
import { deletedRows, type Database } from '../db/knex.js';
import { GRANT_ID_CLAIM } from './vocabulary.js';

/** Algorithms Gatehouse signs access tokens with; nothing else is ever accepted. */
export const ACCESS_TOKEN_ALGORITHMS = ['ES256', 'RS256'];

/** Header members that point at keys elsewhere: a token naming one is not one of ours. */
const FOREIGN_KEY_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'crit'];

/**
 * How a JWT reaches the AccessToken/ClientCredentials adapters from the introspection and
 * revocation endpoints (see structured-tokens.ts): oidc-provider refuses any value that parses as
 * a JWT there, so the value arrives behind this prefix, which no opaque token can start with.
 */
export const JWT_HANDLE_PREFIX = 'jwt~';

/** The longest lifetime an access token can have (an API's own TTL is capped at a day). */
const MAX_ACCESS_TOKEN_LIFETIME_SECONDS = 86_400;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function looksLikeJwt(value: string): boolean {
  return value.length < 16_384 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);
}

export interface JwtAccessTokenOptions {
  issuer: string;
  jwks: JSONWebKeySet;
  clockToleranceSeconds: number;
  userinfoAudience: string;
}

/** A JWT access token that is ours, unexpired, and still stands on the server. */
export interface LiveAccessToken {
  claims: JWTPayload;
  /** The person's email, for introspection's `username`. */
  username: string | undefined;
}

type Purpose = 'userinfo' | 'introspection';

export class JwtAccessTokens {
  readonly #keySet;
  /** Introspection asks the AccessToken and ClientCredentials models at once: verify once. */
  readonly #inFlight = new Map<string, Promise<LiveAccessToken | undefined>>();

  constructor(
    private readonly db: Database,
    private readonly options: JwtAccessTokenOptions,
  ) {
    this.#keySet = createLocalJWKSet(options.jwks);
  }

  resolve(value: string, purpose: Purpose): Promise<LiveAccessToken | undefined> {
    const key = `${purpose} ${value}`;
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#resolve(value, purpose).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  async #resolve(value: string, purpose: Purpose): Promise<LiveAccessToken | undefined> {
    const claims = await this.#verify(value, purpose === 'userinfo' ? this.options.userinfoAudience : undefined);
    if (!claims) return undefined;
    return this.#stillStands(claims);
  }

  async #verify(value: string, audience: string | undefined): Promise<JWTPayload | undefined> {
    if (typeof value !== 'string' || !looksLikeJwt(value)) return undefined;
    try {
      const header = decodeProtectedHeader(value);
      if (FOREIGN_KEY_HEADERS.some((name) => name in header)) return undefined;
      const { payload } = await jwtVerify(value, this.#keySet, {
        issuer: this.options.issuer,
        ...(audience ? { audience } : {}),
        typ: 'at+jwt',
        algorithms: ACCESS_TOKEN_ALGORITHMS,
        requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'aud'],
        clockTolerance: this.options.clockToleranceSeconds,
      });
      return payload;
    } catch {
      return undefined;
    }
  }

  /**
   * The server-side truth about a token that verified, in one round trip: it is not revoked, its
   * grant still exists, its person is not disabled, its app is not disabled.
   */
  async #stillStands(claims: JWTPayload): Promise<LiveAccessToken | undefined> {
    const grantId = typeof claims[GRANT_ID_CLAIM] === 'string' ? (claims[GRANT_ID_CLAIM] as string) : null;
    const personId = typeof claims.sub === 'string' && UUID.test(claims.sub) && claims.sub !== claims.client_id ? claims.sub : null;
    const { rows } = await this.db.raw<{ rows: TruthRow[] }>(
      `select
         exists(select 1 from revoked_access_tokens where jti_digest = :jti) as revoked,
         exists(select 1 from oidc_records where model = 'Grant' and id_digest = :grant and (expires_at is null or expires_at > :now)) as grant_live,
         (select email from users where id = cast(:person as uuid) and disabled_at is null) as username,
         exists(select 1 from clients where client_id = :client and disabled_at is null) as client_live`,
      {
        jti: digest(String(claims.jti)),
        grant: grantId ? digest(grantId) : '',
        now: new Date(),
        person: personId,
        client: String(claims.client_id),
      },
    );
    const truth = rows[0]!;
    if (truth.revoked || !truth.client_live) return undefined;
    if (grantId && !truth.grant_live) return undefined;
    if (personId && !truth.username) return undefined; // disabled or deleted
    return { claims, username: truth.username ?? undefined };
  }

  /** Remembers a revoked token's jti (as a digest) until it would have expired anyway. */
  async revoke(jti: string, now = Date.now()): Promise<void> {
    await this.db('revoked_access_tokens')
      .insert({
        jti_digest: digest(jti),
        expires_at: new Date(now + (MAX_ACCESS_TOKEN_LIFETIME_SECONDS + this.options.clockToleranceSeconds) * 1000),
      })
      .onConflict('jti_digest')
      .ignore();
  }
}

interface TruthRow {
  revoked: boolean;
  grant_live: boolean;
  username: string | null;
  client_live: boolean;
}

type TokenKind = 'AccessToken' | 'ClientCredentials';

/** A client_credentials token names no grant and no person; every other access token does. */
function kindOf(claims: JWTPayload): TokenKind {
  return typeof claims[GRANT_ID_CLAIM] === 'string' ? 'AccessToken' : 'ClientCredentials';
}

/** The stored-token shape oidc-provider's AccessToken and ClientCredentials models are built from. */
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
    grantId: claims[GRANT_ID_CLAIM] as string | undefined,
    scope: claims.scope as string | undefined,
    ...(cnf?.jkt ? { jkt: cnf.jkt } : {}),
    ...(cnf?.['x5t#S256'] ? { 'x5t#S256': cnf['x5t#S256'] } : {}),
    // userinfo refuses tokens that carry an audience; its own was checked during verification.
    // Introspection reports the audience, and the policy decides who may see the token by it.
    ...(purpose === 'introspection' ? { aud: claims.aud, extra: token.username ? { username: token.username } : {} } : {}),
  } as AdapterPayload;
}

/**
 * The AccessToken and ClientCredentials models' storage: opaque tokens from the database, JWT
 * access tokens verified in place — as they arrive at userinfo (raw, must name the userinfo
 * audience) or at introspection and revocation (behind JWT_HANDLE_PREFIX, any of our audiences).
 */
export class AccessTokenAdapter implements Adapter {
  constructor(
    private readonly kind: TokenKind,
    private readonly stored: Adapter,
    private readonly jwts: JwtAccessTokens,
  ) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (typeof id !== 'string') return undefined;
    const purpose: Purpose | undefined = id.startsWith(JWT_HANDLE_PREFIX) ? 'introspection' : looksLikeJwt(id) ? 'userinfo' : undefined;
    if (!purpose) return (await this.stored.find(id)) ?? undefined;
    const token = await this.jwts.resolve(purpose === 'introspection' ? id.slice(JWT_HANDLE_PREFIX.length) : id, purpose);
    if (!token || kindOf(token.claims) !== this.kind) return undefined;
    return accessTokenPayload(token, purpose);
  }

  /**
   * Revocation destroys a token by its jti. For a JWT there is nothing stored, so the jti is
   * remembered as revoked; for an opaque token the row goes and the extra digest is harmless.
   */
  async destroy(id: string) {
    await Promise.all([this.stored.destroy(id), this.jwts.revoke(id)]);
  }

  upsert(id: string, payload: AdapterPayload, expiresIn: number) { return this.stored.upsert(id, payload, expiresIn); }
  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  consume(id: string) { return this.stored.consume(id); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}

/** Deletes remembered revocations of tokens that have expired anyway (the janitor calls it). */
export async function deleteExpiredRevocations(db: Database, now = Date.now()): Promise<number> {
  return deletedRows(await db('revoked_access_tokens').where('expires_at', '<=', new Date(now)).delete());
}
