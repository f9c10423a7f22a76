// oidc-provider's storage: one adapter per model (Session, Interaction, Grant, AccessToken, ...),
// all sharing the `oidc_records` table. A dump of that table must not hand out anything a caller
// could present as proof, so ids and session cookies are kept only as digests. The device flow is
// off, and nothing here can store it: a device code is refused, loudly (refuseDeviceFlow).
import type { Knex } from 'knex';
import { errors } from 'oidc-provider';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { digest } from '../crypto/digest.js';
import { deleteInBatches } from '../db/knex.js';
import { runPrepared, type PreparedStatement } from '../db/prepared.js';
import { isStorableKey, storableExcerpt } from '../db/text.js';
import { revokeGrants } from '../grants/revoke.js';
import { MAX_HANDLE_LENGTH } from '../lifetimes.js';

export interface AdapterOptions {
  /** Milliseconds since the epoch; injectable so tests can move time without sleeping. */
  now?: () => number;
  /** The browser behind the request saving a Session, so people can tell their sessions apart. */
  requestFacts?: () => RequestFacts | undefined;
  /** Told of a grant consume() revoked on a replay, so what this process cached of it goes at once. */
  onGrantRevoked?: (grantId: string) => void;
}

/** What a person's session list shows about the device: kept as sent, cut to a sane length. */
export interface RequestFacts {
  userAgent: string | undefined;
  ip: string | undefined;
}

export interface RotateOptions {
  /** The successor's value sealed for a retry (src/tokens/refresh-retry.ts); nothing is kept without it. */
  sealedSuccessor?: string;
  /** Asked when another request consumed the token first: true spares the grant. */
  forgiveLoss?: () => Promise<boolean>;
}

export interface DeleteExpiredOptions {
  now?: () => number;
  batchSize?: number;
}

const TABLE = 'oidc_records';

// PostgresAdapter.upsert, prepared: every save of a session, interaction, grant, code or token.
const UPSERT_COLUMNS = ['model', 'id_digest', 'payload', 'grant_id', 'uid_digest', 'account_id',
  'client_id', 'expires_at', 'consumed_at', 'user_agent', 'ip', 'last_active_at'] as const satisfies ReadonlyArray<keyof NewRow>;
// A column toRow fills but the statement leaves out would be dropped silently: make it a type error.
const EVERY_COLUMN_SAVED: Exclude<keyof NewRow, (typeof UPSERT_COLUMNS)[number]> extends never ? true : never = true;
void EVERY_COLUMN_SAVED;
const UPSERT_STATEMENT: PreparedStatement = {
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

// PostgresAdapter.insertUnlessLive: the row in UPSERT_COLUMNS order, then now. A live record with
// the same id wins and nothing is returned; an expired one (the janitor has not swept it yet) is
// replaced. Two racing inserts serialise on the primary key, and the loser re-checks the winner's
// row, which is live: at most one of any number of them gets a row back.
const INSERT_UNLESS_LIVE_STATEMENT: PreparedStatement = {
  name: 'gatehouse_insert_unless_live_v2',
  text: `insert into ${TABLE} (${UPSERT_COLUMNS.join(', ')})
values (${UPSERT_COLUMNS.map((_, index) => `$${index + 1}`).join(', ')})
on conflict (model, id_digest) do update set
  ${UPSERT_COLUMNS.map((column) => `${column} = excluded.${column}`).join(',\n  ')},
  created_at = excluded.created_at
where ${TABLE}.expires_at is not null and ${TABLE}.expires_at <= $${UPSERT_COLUMNS.length + 1}
returning 1`,
};

// PostgresAdapter.consume: $1 now, $2 model, $3 the digest.
const CONSUME_STATEMENT: PreparedStatement = {
  name: 'gatehouse_consume_v1',
  text: `update ${TABLE} set consumed_at = $1 where model = $2 and id_digest = $3 and consumed_at is null returning grant_id`,
};

/** The columns a record is found by: its id, a session's uid (both digests). */
type LookupColumn = 'id_digest' | 'uid_digest';

// PostgresAdapter.findLive: $1 model, $2 the digest, $3 now. Each column has an index led by model.
const FIND_LIVE_STATEMENTS: Record<LookupColumn, PreparedStatement> = Object.fromEntries(
  (['id_digest', 'uid_digest'] as const).map((column) => [column, {
    name: `gatehouse_find_by_${column}_v1`,
    text: `select payload, consumed_at from ${TABLE}
 where model = $1 and ${column} = $2 and (expires_at is null or expires_at > $3)
 limit 1`,
  }]),
) as Record<LookupColumn, PreparedStatement>;

// PostgresAdapter.rotate: $1 now, $2 the consumed token's digest, then the successor's row in
// ROTATED_COLUMNS order (model first, so $3 is the model), then what the consumed row keeps of its
// successor for a retry (migration 007: sealed value, digest; both null when nothing is kept). The
// columns only a session fills (user agent, ip, last activity) are left out. insert … select needs
// each value's type said.
const SESSION_COLUMNS: ReadonlyArray<(typeof UPSERT_COLUMNS)[number]> = ['user_agent', 'ip', 'last_active_at'];
const ROTATED_COLUMNS = UPSERT_COLUMNS.filter((column) => !SESSION_COLUMNS.includes(column));
const COLUMN_TYPES: Record<(typeof UPSERT_COLUMNS)[number], string> = {
  model: 'text', id_digest: 'text', payload: 'jsonb', grant_id: 'text', uid_digest: 'text',
  account_id: 'text', client_id: 'text', expires_at: 'timestamptz', consumed_at: 'timestamptz',
  user_agent: 'text', ip: 'text', last_active_at: 'timestamptz',
};
const KEPT_PARAMETER = ROTATED_COLUMNS.length + 3;
const ROTATION_STATEMENT: PreparedStatement = {
  name: 'gatehouse_rotation_v4',
  text: `with consumed as (
  update ${TABLE} set consumed_at = $1,
         successor_sealed = cast($${KEPT_PARAMETER} as text), successor_digest = cast($${KEPT_PARAMETER + 1} as text)
   where model = $3 and id_digest = $2 and consumed_at is null
   returning 1)
insert into ${TABLE} (${ROTATED_COLUMNS.join(', ')})
select ${ROTATED_COLUMNS.map((column, index) => `cast($${index + 3} as ${COLUMN_TYPES[column]})`).join(', ')}
  from consumed
returning 1`,
};

/** What lands in the jsonb column: the payload minus everything rebuilt from elsewhere. */
type StoredPayload = Omit<AdapterPayload, 'jti' | 'consumed'>;

export interface OidcRecordRow {
  model: string;
  id_digest: string;
  payload: StoredPayload;
  grant_id: string | null;
  uid_digest: string | null;
  account_id: string | null;
  client_id: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
  created_at: Date;
  user_agent: string | null;
  ip: string | null;
  last_active_at: Date | null;
}

export type NewRow = Omit<OidcRecordRow, 'payload' | 'created_at'> & { payload: string };

/** What fromRow reads of a row (consumed_at may arrive as text from a raw query). */
export interface FoundRow {
  payload: StoredPayload | Record<string, unknown>;
  consumed_at: Date | string | null;
}

/** What `fromRow` can put back that the row deliberately does not hold. */
interface Restored {
  jti?: string;
}

function isLookupKey(value: unknown): value is string {
  return isStorableKey(value, MAX_HANDLE_LENGTH);
}

function epochSeconds(date: Date | string): number {
  return Math.floor(new Date(date).getTime() / 1000);
}

// Interaction copies the session into its payload, including `cookie`: the raw session id, i.e.
// the session cookie itself. oidc-provider never reads it back (it looks sessions up by `uid`), so
// dropping it costs nothing and keeps a live session credential out of the table.
function withoutSessionCookie(session: AdapterPayload['session']): AdapterPayload['session'] {
  if (!session || !('cookie' in session)) return session;
  const { cookie: _cookie, ...rest } = session;
  return rest;
}

// jti is the token/code/session id itself (a bearer credential), and `consumed` lives in its own
// column so consume() can be a single atomic UPDATE. `uid` stays: oidc-provider rebuilds a Session from the payload and would otherwise mint a
// new uid on every load; it is an internal handle (tokens carry it as sessionUid), not proof.
function storedPayload(id: string, payload: AdapterPayload): StoredPayload {
  const { jti: _jti, consumed: _consumed, ...rest } = payload;
  if (rest.session !== undefined) rest.session = withoutSessionCookie(rest.session);
  if (typeof rest.returnTo === 'string') rest.returnTo = rest.returnTo.replaceAll(id, OWN_ID);
  return rest;
}

// An Interaction's returnTo (`…/auth/<uid>`) embeds its own id, which is also the interaction
// cookie's value; it is stored with a placeholder and rebuilt by find(), which knows the id.
const OWN_ID = '{id}';

function restoredReturnTo(payload: AdapterPayload, id: string | undefined): void {
  if (typeof payload.returnTo === 'string' && id !== undefined) payload.returnTo = payload.returnTo.replaceAll(OWN_ID, id);
}

// jsonb rejects U+0000 and unpaired surrogates, and Interaction payloads carry authorization
// request parameters verbatim (the `claims` parameter is parsed JSON, keys included). Refusing them
// here turns `state=%00` into a 400 instead of a 500 from the database.
const UNSTORABLE_TEXT = /[\u0000\p{Cs}]/u;

function serializePayload(payload: StoredPayload): string {
  let storable = true;
  const json = JSON.stringify(payload, (key: string, value: unknown) => {
    if (UNSTORABLE_TEXT.test(key) || (typeof value === 'string' && UNSTORABLE_TEXT.test(value))) storable = false;
    return value;
  });
  if (!storable) {
    throw new errors.InvalidRequest('request parameters must not contain NUL characters or unpaired surrogates');
  }
  return json;
}

// A Grant's own id is its grant id. Filling the column for Grant rows too lets a person's grants be
// listed and reused (src/oidc/grants.ts) without a second key. It exposes nothing new: every token
// row of the grant carries the same value in grant_id, and a grant id cannot be exchanged for anything.
function grantIdOf(model: string, id: string, payload: AdapterPayload): string | null {
  if (model === 'Grant') return id;
  return payload.grantId ?? null;
}

export function toRow(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined, nowMs: number, facts: RequestFacts | undefined): NewRow {
  const session = model === 'Session';
  return {
    model,
    id_digest: digest(id),
    payload: serializePayload(storedPayload(id, payload)),
    grant_id: grantIdOf(model, id, payload),
    // Only sessions are looked up by uid; other models' `uid`-ish fields are not indexes.
    uid_digest: model === 'Session' && typeof payload.uid === 'string' ? digest(payload.uid) : null,
    account_id: payload.accountId ?? null,
    client_id: payload.clientId ?? null,
    expires_at: typeof expiresIn === 'number' ? new Date(nowMs + expiresIn * 1000) : null,
    consumed_at: typeof payload.consumed === 'number' ? new Date(payload.consumed * 1000) : null,
    // A session is saved on every request that uses it: its last save is its last activity.
    user_agent: session ? storableExcerpt(facts?.userAgent, 512) : null,
    ip: session ? storableExcerpt(facts?.ip, 64) : null,
    last_active_at: session ? new Date(nowMs) : null,
  };
}

/** The payload oidc-provider stored, rebuilt from a row: what the row deliberately does not hold comes back. */
export function fromRow(row: FoundRow, restored: Restored): AdapterPayload {
  const payload: AdapterPayload = { ...row.payload };
  if (restored.jti !== undefined) payload.jti = restored.jti;
  restoredReturnTo(payload, restored.jti);
  if (row.consumed_at) payload.consumed = epochSeconds(row.consumed_at);
  return payload;
}

/**
 * The device flow (RFC 8628) is off, and its storage was never whole: oidc-provider saves what
 * findByUserCode returns, which cannot carry the device code (only its digest is kept), so every
 * approval would have failed. Enabling the flow must start by building that way back; until then,
 * a device code or a lookup by user code is an error, never a quiet "not found".
 */
function refuseDeviceFlow(): Error {
  return new Error('The device flow is off: Gatehouse stores no device codes (see refuseDeviceFlow in src/oidc/adapter.ts)');
}

export class PostgresAdapter implements Adapter {
  readonly #now: () => number;
  readonly #requestFacts: () => RequestFacts | undefined;
  readonly #onGrantRevoked: (grantId: string) => void;

  constructor(
    private readonly db: Knex,
    readonly model: string,
    options: AdapterOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#requestFacts = options.requestFacts ?? (() => undefined);
    this.#onGrantRevoked = options.onGrantRevoked ?? (() => {});
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    if (payload.userCode !== undefined) throw refuseDeviceFlow();
    const row = toRow(this.model, id, payload, expiresIn, this.#now(), this.model === 'Session' ? this.#requestFacts() : undefined);
    await runPrepared(this.db, UPSERT_STATEMENT, UPSERT_COLUMNS.map((column) => row[column]));
  }

  /**
   * Saves a record only if no live record has its id, in one statement: true if this call saved
   * it. What a find-then-upsert cannot be, since concurrent callers all find nothing.
   */
  async insertUnlessLive(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> {
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    const now = this.#now();
    const row = toRow(this.model, id, payload, expiresIn, now, undefined);
    const inserted = await runPrepared(this.db, INSERT_UNLESS_LIVE_STATEMENT, [...UPSERT_COLUMNS.map((column) => row[column]), new Date(now)]);
    return inserted.length > 0;
  }

  async find(id: unknown): Promise<AdapterPayload | undefined> {
    if (!isLookupKey(id)) return undefined;
    const row = await this.findLive('id_digest', digest(id));
    return row && fromRow(row, { jti: id });
  }

  // Without the raw id there is no jti to put back. Session's constructor then assigns a fresh
  // random jti; that is harmless because oidc-provider's callers of findByUid (interaction lookup,
  // expiresWithSession checks) only read the session and never save it.
  async findByUid(uid: unknown): Promise<AdapterPayload | undefined> {
    if (!isLookupKey(uid)) return undefined;
    const row = await this.findLive('uid_digest', digest(uid));
    return row && fromRow(row, {});
  }

  findByUserCode(_userCode?: unknown): Promise<never> {
    return Promise.reject(refuseDeviceFlow());
  }

  // The UPDATE's `consumed_at is null` is the whole concurrency story: of any number of racing
  // redemptions exactly one gets its row back. Everyone else is presenting a code or refresh
  // token that has already been used, which is what a stolen credential looks like.
  async consume(id: string): Promise<void> {
    if (!isLookupKey(id)) throw this.replayError('not found');
    const idDigest = digest(id);
    const won = await runPrepared(this.db, CONSUME_STATEMENT, [new Date(this.#now()), this.model, idDigest]);
    if (won.length > 0) return;
    return this.#refuseReplay(idDigest);
  }

  /**
   * consume(consumedId) and upsert(id, …) as one statement, so a refresh-token rotation costs one
   * round trip and one commit instead of two of each. The successor is inserted only if this
   * statement is the one that consumed its predecessor (the same `consumed_at is null` race as
   * consume()); if anything fails, neither happened. A loser is refused exactly as consume()
   * refuses one: its grant revoked, invalid_grant — unless `forgiveLoss` answers true, when
   * nothing more happens (a duplicate of the winning request: refresh-retry.ts).
   * `sealedSuccessor` (the successor's value, sealed so only the consumed token's holder can open
   * it) is kept on the consumed row with the successor's digest, for a retry of this rotation.
   */
  async rotate(consumedId: string, id: string, payload: AdapterPayload, expiresIn?: number, options: RotateOptions = {}): Promise<void> {
    if (!isLookupKey(consumedId)) throw this.replayError('not found');
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    const consumedDigest = digest(consumedId);
    const row = toRow(this.model, id, payload, expiresIn, this.#now(), undefined);
    const kept = options.sealedSuccessor ? [options.sealedSuccessor, row.id_digest] : [null, null];
    const inserted = await runPrepared(this.db, ROTATION_STATEMENT, [new Date(this.#now()), consumedDigest, ...ROTATED_COLUMNS.map((column) => row[column]), ...kept]);
    if (inserted.length > 0) return;
    if (options.forgiveLoss && (await options.forgiveLoss())) return;
    return this.#refuseReplay(consumedDigest);
  }

  /** Refuses `id` as a replay, as consume() refuses a lost race: its grant revoked, invalid_grant. */
  async refuseReplay(id: string): Promise<never> {
    if (!isLookupKey(id)) throw this.replayError('not found');
    return this.#refuseReplay(digest(id));
  }

  async destroy(id: string): Promise<void> {
    if (!isLookupKey(id)) return;
    await this.db(TABLE).where({ model: this.model, id_digest: digest(id) }).delete();
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    if (!isLookupKey(grantId)) return;
    await this.db(TABLE).where({ grant_id: grantId, model: this.model }).delete();
  }

  // Someone presented a code or refresh token that was already used (or never existed): if it
  // did exist, whoever holds it may be a thief, so the whole grant goes.
  async #refuseReplay(idDigest: string): Promise<never> {
    const existing = await this.db(TABLE)
      .first<{ grant_id: string | null } | undefined>('grant_id')
      .where({ model: this.model, id_digest: idDigest });
    if (!existing) throw this.replayError('not found');
    if (existing.grant_id) {
      await revokeGrants(this.db, { grantIds: [existing.grant_id] });
      this.#onGrantRevoked(existing.grant_id);
    }
    throw this.replayError('consumed');
  }

  // The bound timestamp (not the database's now()) keeps the adapter's clock the only clock, so
  // the injected one in tests and the one deciding expiry agree. Prepared: a sign-in flow sends
  // seven of these, and userinfo one per request.
  private async findLive(key: LookupColumn, value: string): Promise<FoundRow | undefined> {
    const [row] = await runPrepared<FoundRow>(this.db, FIND_LIVE_STATEMENTS[key], [this.model, value, new Date(this.#now())]);
    return row;
  }

  // The token endpoint awaits consume(), so an OIDCProviderError thrown here reaches the client as
  // 400 invalid_grant. A pushed authorization request is consumed at the authorization endpoint,
  // where oidc-provider answers a reused request_uri with invalid_request_uri; match that.
  private replayError(state: 'consumed' | 'not found'): Error {
    if (this.model === 'PushedAuthorizationRequest') {
      return new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
    }
    return new errors.InvalidGrant(state === 'consumed' ? 'grant consumed' : 'grant not found');
  }
}


/** oidc-provider's `adapter` setting: called once per model name. */
export function createAdapterFactory(db: Knex, options: AdapterOptions = {}): (model: string) => PostgresAdapter {
  return (model) => new PostgresAdapter(db, model, options);
}

/**
 * The janitor: deletes records whose expiry has passed, a batch at a time so no statement holds
 * many row locks or runs long, and returns how many went. Expired grants and sessions go the same
 * way; find() already ignores them, so deleting them changes nothing a caller can observe.
 */
export async function deleteExpiredRecords(db: Knex, options: DeleteExpiredOptions = {}): Promise<number> {
  // One cutoff for the whole run, so rows expiring meanwhile cannot keep the loop going.
  const cutoff = new Date((options.now ?? Date.now)());
  return deleteInBatches(db, TABLE, 'expires_at <= ?', [cutoff], options.batchSize);
}
