// One oidc-provider model's records (Session, Interaction, Grant, AccessToken, ...), with the
// methods oidc-provider's adapter interface names plus the atomic ones Gatehouse builds on:
// insertUnlessLive (replay detection), rotate (a refresh-token rotation as one statement) and
// refuseReplay. Models with nothing to add use this as their storage as it is
// (src/oidc/models/index.ts); the others wrap it. The device flow is off, and nothing here can store
// it: a device code is refused, loudly (refuseDeviceFlow).
import { errors } from 'oidc-provider';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { REPLAY_REFUSED_DETAIL } from '../oidc/internals.js';
import { digest } from '../crypto/digest.js';
import type { Database } from '../db/knex.js';
import { runPrepared } from '../db/prepared.js';
import { fromRow, isLookupKey, recordRow, TABLE, type FoundRow, type RequestFacts } from './rows.js';
import { DELETED_GRANT_FACTS, revokeGrants, revokedGrants, type RevocationCause, type RevocationObserver } from './revocation.js';
import { CONSUME, FIND_LIVE, INSERT_UNLESS_LIVE, ROTATED_COLUMNS, ROTATION, UPSERT, upsertValues, type LookupColumn } from './statements.js';

export interface ModelOptions {
  /** The browser behind the request saving a Session, so people can tell their sessions apart. */
  requestFacts?: () => RequestFacts | undefined;
  /** Told of a grant a replay revoked, so what this process cached of it goes at once. */
  onGrantRevoked?: (grantId: string) => void;
  /** Told of grants revoked here (a replay; a Grant oidc-provider destroys), in the revocation's transaction. */
  observeRevocation?: RevocationObserver | undefined;
}

export interface RotateOptions {
  /** The successor's value sealed for a retry (src/tokens/refresh-retry.ts); nothing is kept without it. */
  sealedSuccessor?: string;
  /** Asked when another request consumed the token first: true spares the grant. */
  forgiveLoss?: () => Promise<boolean>;
}

/**
 * The device flow (RFC 8628) is off, and its storage was never whole: oidc-provider saves what
 * findByUserCode returns, which cannot carry the device code (only its digest is kept), so every
 * approval would have failed. Enabling the flow must start by building that way back; until then,
 * a device code or a lookup by user code is an error, never a quiet "not found".
 */
function refuseDeviceFlow(): Error {
  return new Error('The device flow is off: Gatehouse stores no device codes (see refuseDeviceFlow in src/records/model-records.ts)');
}

export class ModelRecords implements Adapter {
  readonly #requestFacts: () => RequestFacts | undefined;
  readonly #onGrantRevoked: (grantId: string) => void;
  readonly #observeRevocation: RevocationObserver | undefined;

  constructor(
    private readonly db: Database,
    readonly model: string,
    /** The repository's clock: milliseconds since the epoch. */
    private readonly now: () => number,
    options: ModelOptions = {},
  ) {
    this.#requestFacts = options.requestFacts ?? (() => undefined);
    this.#onGrantRevoked = options.onGrantRevoked ?? (() => {});
    this.#observeRevocation = options.observeRevocation;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    if (payload.userCode !== undefined) throw refuseDeviceFlow();
    const facts = this.model === 'Session' ? this.#requestFacts() : undefined;
    const row = recordRow({ model: this.model, id, payload, expiresIn, nowMs: this.now(), facts });
    await runPrepared(this.db, UPSERT, upsertValues(row));
  }

  /**
   * Saves a record only if no live record has its id, in one statement: true if this call saved
   * it. What a find-then-upsert cannot be, since concurrent callers all find nothing.
   */
  async insertUnlessLive(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> {
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    const now = this.now();
    const row = recordRow({ model: this.model, id, payload, expiresIn, nowMs: now });
    const inserted = await runPrepared(this.db, INSERT_UNLESS_LIVE, [...upsertValues(row), new Date(now)]);
    return inserted.length > 0;
  }

  async find(id: unknown): Promise<AdapterPayload | undefined> {
    if (!isLookupKey(id)) return undefined;
    const row = await this.#findLive('id_digest', digest(id));
    return row && fromRow(row, id);
  }

  // Without the raw id there is no jti to put back. Session's constructor then assigns a fresh
  // random jti; that is harmless because oidc-provider's callers of findByUid (interaction lookup,
  // expiresWithSession checks) only read the session and never save it.
  async findByUid(uid: unknown): Promise<AdapterPayload | undefined> {
    if (!isLookupKey(uid)) return undefined;
    const row = await this.#findLive('uid_digest', digest(uid));
    return row && fromRow(row, undefined);
  }

  findByUserCode(_userCode?: unknown): Promise<never> {
    return Promise.reject(refuseDeviceFlow());
  }

  // The UPDATE's `consumed_at is null` is the whole concurrency story: of any number of racing
  // redemptions exactly one gets its row back. Everyone else is presenting a code or refresh
  // token that has already been used, which is what a stolen credential looks like.
  async consume(id: string): Promise<void> {
    if (!isLookupKey(id)) throw this.#replayError('not found');
    const idDigest = digest(id);
    const won = await runPrepared(this.db, CONSUME, [new Date(this.now()), this.model, idDigest]);
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
    if (!isLookupKey(consumedId)) throw this.#replayError('not found');
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    const consumedDigest = digest(consumedId);
    const now = this.now();
    const row = recordRow({ model: this.model, id, payload, expiresIn, nowMs: now });
    const kept = options.sealedSuccessor ? [options.sealedSuccessor, row.id_digest] : [null, null];
    const inserted = await runPrepared(this.db, ROTATION, [new Date(now), consumedDigest, ...ROTATED_COLUMNS.map((column) => row[column]), ...kept]);
    if (inserted.length > 0) return;
    if (options.forgiveLoss && (await options.forgiveLoss())) return;
    return this.#refuseReplay(consumedDigest);
  }

  /** Refuses `id` as a replay, as consume() refuses a lost race: its grant revoked, invalid_grant. */
  async refuseReplay(id: string): Promise<never> {
    if (!isLookupKey(id)) throw this.#replayError('not found');
    return this.#refuseReplay(digest(id));
  }

  /**
   * Deletes the record. A Grant deleted this way is oidc-provider revoking it (a replay, a sign-out,
   * a token revoked by its app: `cause`), told to the revocation observer in the same transaction.
   */
  async destroy(id: string, cause?: RevocationCause): Promise<void> {
    if (!isLookupKey(id)) return;
    const observe = this.model === 'Grant' ? this.#observeRevocation : undefined;
    if (!observe) {
      await this.db(TABLE).where({ model: this.model, id_digest: digest(id) }).delete();
      return;
    }
    await this.db.transaction(async (trx) => {
      const deleted = await trx(TABLE).where({ model: this.model, id_digest: digest(id) }).delete().returning(DELETED_GRANT_FACTS(trx));
      const grants = revokedGrants(deleted);
      if (grants.length) await observe(trx, grants, cause);
    });
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
    if (!existing) throw this.#replayError('not found');
    if (existing.grant_id) {
      await revokeGrants(this.db, { grantIds: [existing.grant_id] }, this.#observeRevocation, 'replay');
      this.#onGrantRevoked(existing.grant_id);
    }
    throw this.#replayError('consumed');
  }

  // Prepared: a sign-in flow sends seven of these, and userinfo one per request.
  async #findLive(key: LookupColumn, value: string): Promise<FoundRow | undefined> {
    const [row] = await runPrepared<FoundRow>(this.db, FIND_LIVE[key], [this.model, value, new Date(this.now())]);
    return row;
  }

  // The token endpoint awaits consume(), so an OIDCProviderError thrown here reaches the client as
  // 400 invalid_grant. A pushed authorization request is consumed at the authorization endpoint,
  // where oidc-provider answers a reused request_uri with invalid_request_uri; match that.
  #replayError(state: 'consumed' | 'not found'): Error {
    if (this.model === 'PushedAuthorizationRequest') {
      return new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
    }
    return new errors.InvalidGrant(state === 'consumed' ? REPLAY_REFUSED_DETAIL : 'grant not found');
  }
}
