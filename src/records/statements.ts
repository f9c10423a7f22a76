// The prepared statements on oidc_records: the ones every sign-in, token request and introspection
// sends, named so PostgreSQL plans each once per connection (src/db/prepared.ts). Each is one
// round trip for what would otherwise be several (the rotation's consume and save, the token
// lookup's token, app, person, grant and session). Every time is bound from the repository's clock.
import type { PreparedStatement } from '../db/prepared.js';
import { SESSION_BINDING } from '../oidc/internals.js';
import { TABLE, TOKEN_MODELS, type NewRow } from './rows.js';

// Every save of a session, interaction, grant, code or token, in this column order.
export const UPSERT_COLUMNS = ['model', 'id_digest', 'payload', 'grant_id', 'uid_digest', 'account_id',
  'client_id', 'expires_at', 'consumed_at', 'user_agent', 'ip', 'last_active_at'] as const satisfies ReadonlyArray<keyof NewRow>;
// A column recordRow fills but the statement leaves out would be dropped silently: make it a type error.
const EVERY_COLUMN_SAVED: Exclude<keyof NewRow, (typeof UPSERT_COLUMNS)[number]> extends never ? true : never = true;
void EVERY_COLUMN_SAVED;

/** A row's values in UPSERT_COLUMNS order, as the statements below bind them. */
export function upsertValues(row: NewRow): unknown[] {
  return UPSERT_COLUMNS.map((column) => row[column]);
}

export const UPSERT: PreparedStatement = {
  name: 'gatehouse_upsert_v2',
  text: `insert into ${TABLE} (${UPSERT_COLUMNS.join(', ')})
values (${UPSERT_COLUMNS.map((_, index) => `$${index + 1}`).join(', ')})
on conflict (model, id_digest) do update set
  payload = excluded.payload,
  grant_id = excluded.grant_id,
  uid_digest = coalesce(excluded.uid_digest, ${TABLE}.uid_digest),
  account_id = excluded.account_id,
  client_id = excluded.client_id,
  expires_at = excluded.expires_at,
  -- Re-saving a consumed record must not make it redeemable again.
  consumed_at = coalesce(excluded.consumed_at, ${TABLE}.consumed_at),
  -- A save outside any request (none today) keeps what the last request recorded.
  user_agent = coalesce(excluded.user_agent, ${TABLE}.user_agent),
  ip = coalesce(excluded.ip, ${TABLE}.ip),
  last_active_at = excluded.last_active_at`,
};

// The row in UPSERT_COLUMNS order ($1 the model, $2 the digest): the same update as UPSERT's, but
// only of a row that is still there. A record ended since it was read is not brought back.
export const UPDATE_EXISTING: PreparedStatement = {
  name: 'gatehouse_update_existing_v1',
  text: `update ${TABLE} set
  payload = $3,
  grant_id = $4,
  uid_digest = coalesce($5, ${TABLE}.uid_digest),
  account_id = $6,
  client_id = $7,
  expires_at = $8,
  consumed_at = coalesce($9, ${TABLE}.consumed_at),
  user_agent = coalesce($10, ${TABLE}.user_agent),
  ip = coalesce($11, ${TABLE}.ip),
  last_active_at = $12
where model = $1 and id_digest = $2`,
};

// The row in UPSERT_COLUMNS order, then now. A live record with the same id wins and nothing is
// returned; an expired one (the janitor has not swept it yet) is replaced. Two racing inserts
// serialise on the primary key, and the loser re-checks the winner's row, which is live: at most
// one of any number of them gets a row back.
export const INSERT_UNLESS_LIVE: PreparedStatement = {
  name: 'gatehouse_insert_unless_live_v2',
  text: `insert into ${TABLE} (${UPSERT_COLUMNS.join(', ')})
values (${UPSERT_COLUMNS.map((_, index) => `$${index + 1}`).join(', ')})
on conflict (model, id_digest) do update set
  ${UPSERT_COLUMNS.map((column) => `${column} = excluded.${column}`).join(',\n  ')},
  created_at = excluded.created_at
where ${TABLE}.expires_at is not null and ${TABLE}.expires_at <= $${UPSERT_COLUMNS.length + 1}
returning 1`,
};

// $1 now, $2 model, $3 the digest. `consumed_at is null` is the whole concurrency story.
export const CONSUME: PreparedStatement = {
  name: 'gatehouse_consume_v1',
  text: `update ${TABLE} set consumed_at = $1 where model = $2 and id_digest = $3 and consumed_at is null returning grant_id`,
};

/** The columns a record is found by: its id, a session's uid (both digests). */
export type LookupColumn = 'id_digest' | 'uid_digest';

// $1 model, $2 the digest, $3 now. Each column has an index led by model.
export const FIND_LIVE: Record<LookupColumn, PreparedStatement> = Object.fromEntries(
  (['id_digest', 'uid_digest'] as const).map((column) => [column, {
    name: `gatehouse_find_by_${column}_v1`,
    text: `select payload, consumed_at from ${TABLE}
 where model = $1 and ${column} = $2 and (expires_at is null or expires_at > $3)
 limit 1`,
  }]),
) as Record<LookupColumn, PreparedStatement>;

// $1 now, $2 the consumed token's digest, then the successor's row in ROTATED_COLUMNS order (model
// first, so $3 is the model), then what the consumed row keeps of its successor for a retry
// (migration 007: sealed value, digest; both null when nothing is kept). The columns only a session
// fills (user agent, ip, last activity) are left out. insert … select needs each value's type said.
const SESSION_COLUMNS: ReadonlyArray<(typeof UPSERT_COLUMNS)[number]> = ['user_agent', 'ip', 'last_active_at'];
export const ROTATED_COLUMNS = UPSERT_COLUMNS.filter((column) => !SESSION_COLUMNS.includes(column));
const COLUMN_TYPES: Record<(typeof UPSERT_COLUMNS)[number], string> = {
  model: 'text', id_digest: 'text', payload: 'jsonb', grant_id: 'text', uid_digest: 'text',
  account_id: 'text', client_id: 'text', expires_at: 'timestamptz', consumed_at: 'timestamptz',
  user_agent: 'text', ip: 'text', last_active_at: 'timestamptz',
};
const KEPT_PARAMETER = ROTATED_COLUMNS.length + 3;
/** A rotation's consume of the presented token ($2), keeping its sealed successor: the race both rotations run. */
const CONSUMED_KEEPING_SUCCESSOR = `with consumed as (
  update ${TABLE} set consumed_at = $1,
         successor_sealed = cast($${KEPT_PARAMETER} as text), successor_digest = cast($${KEPT_PARAMETER + 1} as text)
   where model = $3 and id_digest = $2 and consumed_at is null
   returning 1)`;
export const ROTATION: PreparedStatement = {
  name: 'gatehouse_rotation_v4',
  text: `${CONSUMED_KEEPING_SUCCESSOR}
insert into ${TABLE} (${ROTATED_COLUMNS.join(', ')})
select ${ROTATED_COLUMNS.map((column, index) => `cast($${index + 3} as ${COLUMN_TYPES[column]})`).join(', ')}
  from consumed
returning 1`,
};

// ROTATION with the access token the refresh issues ($14 on, in ROTATED_COLUMNS order), for an app
// whose access tokens are stored (src/oidc/models/held-issuance.ts): the token is stored only if
// the rotation is, and the rotation only if the token is. One commit, all or nothing.
export const ROTATION_WITH_TOKEN: PreparedStatement = {
  name: 'gatehouse_rotation_with_token_v1',
  text: `${CONSUMED_KEEPING_SUCCESSOR}
insert into ${TABLE} (${ROTATED_COLUMNS.join(', ')})
select issued.* from consumed, (values ${[3, KEPT_PARAMETER + 2].map((first) => `(${ROTATED_COLUMNS
    .map((column, index) => `cast($${first + index} as ${COLUMN_TYPES[column]})`).join(', ')})`).join(',\n  ')}) as issued (${ROTATED_COLUMNS.join(', ')})
returning 1`,
};

// A code's redemption (src/oidc/models/code-redemption.ts): $1 now, $2 the code's model, $3 its
// digest, then each token the exchange issues in ROTATED_COLUMNS order. The tokens are inserted
// only if this statement is the one that consumed the code (the same `consumed_at is null` race as
// CONSUME's), and the code is consumed only if they are stored: one commit, all or nothing. One
// statement per number of tokens (an access token, a refresh token, or both).
const REDEEMED_ROW_PARAMETERS = ROTATED_COLUMNS.length;
function redemption(tokens: number): PreparedStatement {
  const values = Array.from({ length: tokens }, (_, row) => `(${ROTATED_COLUMNS
    .map((column, index) => `cast($${4 + row * REDEEMED_ROW_PARAMETERS + index} as ${COLUMN_TYPES[column]})`).join(', ')})`);
  return {
    name: `gatehouse_redemption_${tokens}_v1`,
    text: `with consumed as (
  update ${TABLE} set consumed_at = $1 where model = $2 and id_digest = $3 and consumed_at is null
   returning 1)
insert into ${TABLE} (${ROTATED_COLUMNS.join(', ')})
select issued.* from consumed, (values ${values.join(',\n  ')}) as issued (${ROTATED_COLUMNS.join(', ')})
returning 1`,
  };
}
export const REDEMPTION: Record<1 | 2, PreparedStatement> = { 1: redemption(1), 2: redemption(2) };

// Opaque tokens and authorization codes in one round trip (src/oidc/models/token-lookup.ts batches
// the asks). A Grant row carries its own id in grant_id, so the token's grant_id finds it; the caller
// checks the grant row's id_digest to make sure it is the row a find would return. A code or token
// that ends with its sign-in session brings that session (its uid's digest, computed here as
// src/crypto/digest.ts computes it, and checked again by the caller). A token whose app or person is
// disabled (or gone), or whose person is not active (invited, or signed up and unverified), stands
// for nothing: it is not found, at introspection, refresh, userinfo and revocation alike — the same
// rule as for JWTs. A code is found whatever its person's state, as its own record's find would:
// the exchange consumes it and then refuses the person (findAccount), and a replayed one still
// revokes its grant. (A disabled app's code never gets this far: the app cannot authenticate.)
// $1 the token's digest, $2 now, $3 the uuid pattern. Planning it cost four times what running it did.
const LOOKUP_MODELS = [...TOKEN_MODELS, 'AuthorizationCode'];
// The uid's digest only for a code or token bound to its session: a refresh token (offline_access)
// carries a sessionUid too, and a null key ends the session's index probe before it begins.
const BOUND_SESSION_UID_DIGEST = `case when t.payload->>'${SESSION_BINDING.bound}' = 'true'
    then rtrim(translate(encode(sha256(convert_to(t.payload->>'${SESSION_BINDING.sessionUid}', 'UTF8')), 'base64'), '+/', '-_'), '=') end`;
export const TOKEN_LOOKUP: PreparedStatement = {
  name: 'gatehouse_token_lookup_v4',
  text: `select t.model, t.payload, t.consumed_at, t.grant_id,
       g.id_digest as grant_id_digest, g.payload as grant_payload,
       s.uid_digest as session_uid_digest, s.payload as session_payload
  from oidc_records t
  join clients c on c.client_id = t.client_id and c.disabled_at is null
  left join oidc_records g
    on g.model = 'Grant' and g.grant_id = t.grant_id and (g.expires_at is null or g.expires_at > $2)
  left join oidc_records s
    on s.model = 'Session' and s.uid_digest = ${BOUND_SESSION_UID_DIGEST}
   and (s.expires_at is null or s.expires_at > $2)
 where t.id_digest = $1 and t.model in (${LOOKUP_MODELS.map((model) => `'${model}'`).join(', ')})
   and (t.expires_at is null or t.expires_at > $2)
   and (t.model = 'AuthorizationCode' or t.account_id is null or exists (
     select 1 from users u
      where u.id = cast(case when t.account_id ~* $3 then t.account_id end as uuid)
        and u.disabled_at is null and u.activated_at is not null))`,
};
