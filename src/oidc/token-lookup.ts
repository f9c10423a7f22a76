// Opaque tokens in one round trip. oidc-provider's findToken (introspection, revocation) asks the
// AccessToken, ClientCredentials and RefreshToken models for the same value — at once, or one
// after another when there is a hint — and introspection then reads the token's Grant: four
// queries for one token. This lookup collects the models asked for the same value until the end
// of the tick and answers them with one query, which also reads the token's grant; what it read
// is kept until the end of the tick in which it arrived, so the follow-up asks (the other models
// after a hint, Grant.find) are answered from it.
//
// Nothing here outlives the tick its answer arrived in: it is the same answer oidc-provider would
// have got from its own queries a moment apart, never a cache.
import type { Knex } from 'knex';
import type { AdapterPayload } from 'oidc-provider';
import { isUuidPattern } from '../people/users.js';
import { digest } from '../crypto/digest.js';
import { runPrepared, type PreparedStatement } from '../db/prepared.js';
import { fromRow } from './adapter.js';

/** The models findToken asks; constants, so they are written into the query as literals. */
export const TOKEN_MODELS = ['AccessToken', 'ClientCredentials', 'RefreshToken'];

interface StoredRow {
  payload: Record<string, unknown>;
  consumed_at: Date | string | null;
}

interface LookupRow extends StoredRow {
  model: string;
  grant_id: string | null;
  grant_id_digest: string | null;
  grant_payload: Record<string, unknown> | null;
}

interface Found {
  /** The live token rows with this value, by model. */
  tokens: Map<string, StoredRow>;
}

// A Grant row carries its own id in grant_id (adapter.ts, grantIdOf), so the token's grant_id
// finds it; the id_digest check in #query makes sure it is the row Grant.find would return.
// A token whose app or person is disabled (or gone) stands for nothing: it is not found, at
// introspection, refresh, userinfo and revocation alike — the same rule as for JWTs.
// $1 the token's digest, $2 now, $3 the uuid pattern. One fixed text, so it can be prepared.
const LOOKUP_SQL = `select t.model, t.payload, t.consumed_at, t.grant_id,
       g.id_digest as grant_id_digest, g.payload as grant_payload
  from oidc_records t
  join clients c on c.client_id = t.client_id and c.disabled_at is null
  left join oidc_records g
    on g.model = 'Grant' and g.grant_id = t.grant_id and (g.expires_at is null or g.expires_at > $2)
 where t.id_digest = $1 and t.model in (${TOKEN_MODELS.map((model) => `'${model}'`).join(', ')})
   and (t.expires_at is null or t.expires_at > $2)
   and (t.account_id is null or exists (
     select 1 from users u
      where u.id = cast(case when t.account_id ~* $3 then t.account_id end as uuid)
        and u.disabled_at is null))`;

/** Prepared through pg (src/db/prepared.ts): planning it cost four times what running it did. */
const LOOKUP_STATEMENT: PreparedStatement = { name: 'gatehouse_token_lookup_v1', text: LOOKUP_SQL };

/**
 * Runs `fn` once everything already queued — promise continuations included, however deep — has
 * run: a microtask that queues a tick callback, which Node runs only when the microtask queue is
 * empty. This works whether the caller is itself in a microtask or in plain synchronous code.
 */
function afterThisTick(fn: () => void): void {
  queueMicrotask(() => process.nextTick(fn));
}

/** The record as PostgresAdapter.find would rebuild it (adapter.ts, fromRow); every caller gets its own copy. */
export function restoredPayload(row: StoredRow, id: string): AdapterPayload {
  return fromRow({ payload: structuredClone(row.payload), consumed_at: row.consumed_at }, { jti: id });
}

export class TokenLookup {
  /** Values asked for this tick, whose query has not been sent yet. */
  readonly #collecting = new Map<string, Promise<Found>>();
  /** Answers that arrived this tick, by value. */
  readonly #recent = new Map<string, Found>();
  /** Grants read alongside those answers, by grant id. */
  readonly #recentGrants = new Map<string, StoredRow>();

  constructor(
    private readonly db: Knex,
    private readonly now: () => number = Date.now,
  ) {}

  /** The live record of `model` ('AccessToken', 'ClientCredentials' or 'RefreshToken') with this id. */
  async find(model: string, id: string): Promise<AdapterPayload | undefined> {
    const found = this.#recent.get(id) ?? (await this.#batchFor(id));
    const row = found.tokens.get(model);
    return row && restoredPayload(row, id);
  }

  /** A live grant read alongside a token this tick; undefined when none was (ask the database). */
  recentGrant(grantId: string): AdapterPayload | undefined {
    const row = this.#recentGrants.get(grantId);
    return row && restoredPayload(row, grantId);
  }

  /** After a write to the token or grant, what was read before it must not be handed out. */
  forget(id: string): void {
    this.#recent.delete(id);
    this.#recentGrants.delete(id);
  }

  #batchFor(id: string): Promise<Found> {
    let batch = this.#collecting.get(id);
    if (!batch) {
      batch = new Promise<Found>((resolve, reject) => {
        afterThisTick(() => {
          this.#collecting.delete(id);
          this.#query(id).then(resolve, reject);
        });
      });
      this.#collecting.set(id, batch);
    }
    return batch;
  }

  async #query(id: string): Promise<Found> {
    const now = new Date(this.now());
    const rows = await this.#rows(digest(id), now);
    const found: Found = { tokens: new Map() };
    for (const row of rows) {
      found.tokens.set(row.model, row);
      if (row.grant_id && row.grant_payload && row.grant_id_digest === digest(row.grant_id)) {
        this.#remember(this.#recentGrants, row.grant_id, { payload: row.grant_payload, consumed_at: null });
      }
    }
    this.#remember(this.#recent, id, found);
    return found;
  }

  #rows(idDigest: string, now: Date): Promise<LookupRow[]> {
    return runPrepared<LookupRow>(this.db, LOOKUP_STATEMENT, [idDigest, now, isUuidPattern.source]);
  }

  /** Keeps an answer until the end of the tick it arrived in. */
  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.set(key, value);
    afterThisTick(() => {
      if (map.get(key) === value) map.delete(key);
    });
  }
}
