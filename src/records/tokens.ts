// The token queries outside oidc-provider's own find/save: the one-query lookup of an opaque token
// or authorization code with its grant and sign-in session, whether a JWT access token still stands, and the successor a refresh-token
// rotation kept for a retry. Each binds the repository's clock for every "still live".
import { digest } from '../crypto/digest.js';
import type { Database } from '../db/knex.js';
import { runPrepared } from '../db/prepared.js';
import { SESSION_BINDING } from '../oidc/internals.js';
import { isUuidPattern } from '../people/users.js';
import { TABLE, type FoundRow, type GrantOpenid } from './rows.js';
import { TOKEN_LOOKUP } from './statements.js';

/** The live rows of every token model (and authorization codes) holding one opaque value, with what they name. */
export interface TokenFound {
  /** The token rows, by model. */
  tokens: Map<string, FoundRow>;
  /** The grant read alongside, when one of the tokens names a live grant. */
  grants: Map<string, FoundRow>;
  /** The sign-in session read alongside, by uid, when a token ends with a live one. */
  sessions: Map<string, FoundRow>;
}

interface LookupRow extends FoundRow {
  model: string;
  grant_id: string | null;
  grant_id_digest: string | null;
  grant_payload: Record<string, unknown> | null;
  session_uid_digest: string | null;
  session_payload: Record<string, unknown> | null;
}

/**
 * One round trip: the token under every token model (and as an authorization code), its app and
 * person still enabled, its grant, and the session it ends with.
 */
export async function lookupToken(db: Database, now: Date, id: string): Promise<TokenFound> {
  const rows = await runPrepared<LookupRow>(db, TOKEN_LOOKUP, [digest(id), now, isUuidPattern.source]);
  const found: TokenFound = { tokens: new Map(), grants: new Map(), sessions: new Map() };
  for (const row of rows) {
    found.tokens.set(row.model, { payload: row.payload, consumed_at: row.consumed_at });
    // The join matches on grant_id; the digest check makes sure it is the row Grant.find would return.
    if (row.grant_id && row.grant_payload && row.grant_id_digest === digest(row.grant_id)) {
      found.grants.set(row.grant_id, { payload: row.grant_payload, consumed_at: null });
    }
    // The SQL computed the uid's digest; this checks it computed it as Session.findByUid would.
    const uid = row.session_payload?.uid;
    if (typeof uid === 'string' && row.session_uid_digest === digest(uid) && row.payload[SESSION_BINDING.sessionUid] === uid) {
      found.sessions.set(uid, { payload: row.session_payload!, consumed_at: null });
    }
  }
  return found;
}

/** What a JWT access token names, from its verified claims. */
export interface JwtSubject {
  jti: string;
  clientId: string;
  grantId: string | null;
  /** The person's id; null for a client_credentials token. */
  personId: string | null;
  /**
   * The app the grant was given to, when that is not the token's client: a token made by token
   * exchange (RFC 8693) names the API that exchanged it as its client. Both must be enabled.
   */
  grantClientId?: string | null;
}

/** Everything a JWT access token's standing depends on, in one row. */
export interface JwtStandingRow {
  revoked: boolean;
  grant_live: boolean;
  grant_expires_at: Date | null;
  grant_openid: GrantOpenid | null;
  /** The person's email; null when the person is disabled or gone. */
  username: string | null;
  client_live: boolean;
}

// The grant must be the token's own: same app, same person (what oidc-provider's Grant check would
// compare, were it asked). An exchanged token's grant is its app's (:grant_client), and both that
// app and the API that exchanged it (:client) must be enabled.
const JWT_STANDING_SQL = `select
  exists(select 1 from revoked_access_tokens where jti_digest = :jti) as revoked,
  exists(select 1 from ${TABLE} where model = 'Grant' and id_digest = :grant and client_id = :grant_client
         and account_id = :person and (expires_at is null or expires_at > :now)) as grant_live,
  (select expires_at from ${TABLE} where model = 'Grant' and id_digest = :grant) as grant_expires_at,
  (select payload->'openid' from ${TABLE} where model = 'Grant' and id_digest = :grant) as grant_openid,
  (select email from users where id = cast(:person as uuid) and disabled_at is null and activated_at is not null) as username,
  (exists(select 1 from clients where client_id = :client and disabled_at is null)
   and exists(select 1 from clients where client_id = :grant_client and disabled_at is null)) as client_live`;

/** Revocation, grant, person and app of a JWT access token, in one query (src/tokens/jwt-truth.ts decides). */
export async function jwtStanding(db: Database, now: Date, subject: JwtSubject): Promise<JwtStandingRow> {
  const { rows } = await db.raw<{ rows: JwtStandingRow[] }>(JWT_STANDING_SQL, {
    jti: digest(subject.jti),
    grant: subject.grantId ? digest(subject.grantId) : '',
    now,
    person: subject.personId,
    client: subject.clientId,
    grant_client: subject.grantClientId ?? subject.clientId,
  });
  return rows[0]!;
}

/** A consumed refresh token's kept successor (sealed), and whether that successor is still live and unused. */
export interface KeptSuccessorRow {
  successor_sealed: string;
  consumed_at: Date | string;
  successor_digest: string;
  successor_unused: boolean;
  /** How many times this rotation's successor has been asked for, this time included. */
  successor_retries: number;
}

// Reading the kept successor counts the retry, in the same statement: a retry costs one query.
const KEPT_SQL = `with kept as (
  update ${TABLE} t set successor_retries = coalesce(t.successor_retries, 0) + 1
   where t.model = 'RefreshToken' and t.id_digest = :presented
     and t.successor_sealed is not null and t.consumed_at > :since
  returning t.successor_sealed, t.consumed_at, t.successor_digest, t.successor_retries, t.model)
select kept.successor_sealed, kept.consumed_at, kept.successor_digest, kept.successor_retries,
       (s.id_digest is not null and s.consumed_at is null) as successor_unused
  from kept
  left join ${TABLE} s
    on s.model = kept.model and s.id_digest = kept.successor_digest and (s.expires_at is null or s.expires_at > :now)`;

/**
 * What the rotation of `presented` after `since` kept for a retry (src/tokens/refresh-retry.ts
 * opens it), counting this ask among the rotation's retries.
 */
export async function keptSuccessor(db: Database, now: Date, presented: string, since: Date): Promise<KeptSuccessorRow | undefined> {
  const { rows } = await db.raw<{ rows: KeptSuccessorRow[] }>(KEPT_SQL, { presented: digest(presented), since, now });
  return rows[0];
}
