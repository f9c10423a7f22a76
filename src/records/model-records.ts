// One oidc-provider model's records (Session, Interaction, Grant, AccessToken, ...), with the
// methods oidc-provider's adapter interface names plus the atomic ones Gatehouse builds on:
// insertUnlessLive (replay detection), rotate (a refresh-token rotation as one statement), redeem
// (a code's exchange as one statement) and refuseReplay. Models with nothing to add use this as
// their storage as it is (src/oidc/models/index.ts); the others wrap it. Device codes (RFC 8628) are kept like every
// other record, by digest, and their user codes by digest too (see USER_CODE_HANDLE).
import { errors } from 'oidc-provider';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { REPLAY_REFUSED_DETAIL } from '../oidc/internals.js';
import { digest } from '../crypto/digest.js';
import { deletedRows, type Database } from '../db/knex.js';
import { runPrepared } from '../db/prepared.js';
import { fromRow, isLookupKey, recordRow, TABLE, type FoundRow, type RequestFacts } from './rows.js';
import { DELETED_GRANT_FACTS, revokeGrants, revokedGrants, type RevocationCause, type RevocationObserver } from './revocation.js';
import { CONSUME, FIND_LIVE, INSERT_UNLESS_LIVE, REDEMPTION, ROTATED_COLUMNS, ROTATION, ROTATION_WITH_TOKEN, UPDATE_EXISTING, UPSERT, upsertValues, type LookupColumn } from './statements.js';
import { inTransaction } from '../db/transactions.js';
import { revokedInThisRequest } from '../db/change-barrier.js';

export interface ModelOptions {
  /** The browser behind the request saving a Session, so people can tell their sessions apart. */
  requestFacts?: () => RequestFacts | undefined;
  /** Told of a grant a replay revoked, so what this process cached of it goes at once. */
  onGrantRevoked?: (grantId: string) => void;
  /** Told of grants revoked here (a replay; a Grant oidc-provider destroys), in the revocation's transaction. */
  observeRevocation?: RevocationObserver | undefined;
  /**
   * How a device's user code is kept: a keyed digest (OidcRecords' userCodeKey). A user code is
   * short enough to be typed (about 35 bits), so its plain SHA-256 is reversed by trying them all.
   */
  userCodeDigest?: (userCode: string) => string;
}

export interface RotateOptions {
  /** The successor's value sealed for a retry (src/tokens/refresh-retry.ts); nothing is kept without it. */
  sealedSuccessor?: string;
  /** Asked when another request consumed the token first: true spares the grant. */
  forgiveLoss?: () => Promise<boolean>;
  /**
   * The access token the refresh issues, when it is stored (an opaque one): inserted in the same
   * statement, so neither is stored without the other. A loss forgiven stores it on its own.
   */
  accessToken?: IssuedRecord | undefined;
}

/** A token a code's redemption stores (redeem): its model, raw id, payload and lifetime. */
export interface IssuedRecord {
  model: string;
  id: string;
  payload: AdapterPayload;
  expiresIn?: number | undefined;
}

const DEVICE_CODE = 'DeviceCode';

/**
 * A device code found by its user code (the person typing it at /device) cannot be given back its
 * id: only the device code's digest is kept. oidc-provider saves and finds that record again by the
 * id findByUserCode returned (and keeps that id in the person's Interaction), so it gets this
 * handle instead: `user-code~<keyed digest of the user code>`, and every save or find by a handle goes by
 * user_code_digest (unique per model). The device itself, polling with its device code, finds the
 * same row by id_digest. No payload holds the user code in the clear: findByUserCode puts back the
 * one the caller presented.
 */
export const USER_CODE_HANDLE = 'user-code~';

function userCodeDigestOf(handle: unknown): string | undefined {
  return typeof handle === 'string' && handle.startsWith(USER_CODE_HANDLE) ? handle.slice(USER_CODE_HANDLE.length) : undefined;
}

/** Any other model carrying a user code is a mistake: refused, loudly, rather than stored in the clear. */
function refuseUserCode(model: string): Error {
  return new Error(`A ${model} record carries a user code: only device codes do (src/records/model-records.ts)`);
}

export class ModelRecords implements Adapter {
  readonly #requestFacts: () => RequestFacts | undefined;
  readonly #onGrantRevoked: (grantId: string) => void;
  readonly #observeRevocation: RevocationObserver | undefined;
  readonly #userCodeDigest: (userCode: string) => string;

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
    this.#userCodeDigest = options.userCodeDigest ?? digest;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    if (this.model === DEVICE_CODE) return this.#saveDeviceCode(id, payload, expiresIn);
    if (payload.userCode !== undefined) throw refuseUserCode(this.model);
    const facts = this.model === 'Session' ? this.#requestFacts() : undefined;
    const row = recordRow({ model: this.model, id, payload, expiresIn, nowMs: this.now(), facts });
    await runPrepared(this.db, UPSERT, upsertValues(row));
  }

  /**
   * Saves a record over the one with its id, if that one is still there; if it is gone (ended or
   * revoked since it was read), nothing is written: a save must not bring it back.
   */
  async update(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (!isLookupKey(id)) throw new TypeError(`${this.model} id must be a non-empty string`);
    if (payload.userCode !== undefined) throw refuseUserCode(this.model);
    const facts = this.model === 'Session' ? this.#requestFacts() : undefined;
    const row = recordRow({ model: this.model, id, payload, expiresIn, nowMs: this.now(), facts });
    await runPrepared(this.db, UPDATE_EXISTING, upsertValues(row));
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
    const userCodeDigest = this.model === DEVICE_CODE ? userCodeDigestOf(id) : undefined;
    if (userCodeDigest !== undefined) {
      const row = await this.#findLiveDeviceCode(userCodeDigest);
      return row && fromRow(row, id);
    }
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

  /** A live device code by the user code a person typed (normalized), known by its handle from then on. */
  async findByUserCode(userCode: unknown): Promise<AdapterPayload | undefined> {
    if (this.model !== DEVICE_CODE) throw refuseUserCode(this.model);
    if (!isLookupKey(userCode)) return undefined;
    const userCodeDigest = this.#userCodeDigest(userCode);
    const row = await this.#findLiveDeviceCode(userCodeDigest);
    if (!row) return undefined;
    return { ...fromRow(row, `${USER_CODE_HANDLE}${userCodeDigest}`), userCode };
  }

  #findLiveDeviceCode(userCodeDigest: string): Promise<FoundRow | undefined> {
    return this.db(TABLE)
      .first<FoundRow | undefined>('payload', 'consumed_at')
      .where({ model: this.model, user_code_digest: userCodeDigest })
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date(this.now())));
  }

  // The device authorization endpoint saves a new device code by its own value, with its user
  // code's digest; everything after (the person confirming, signing in, consenting or refusing)
  // saves it by its handle, updating what the person's steps change and nothing else.
  async #saveDeviceCode(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> {
    const { userCode, ...rest } = payload;
    const row = recordRow({ model: this.model, id, payload: rest, expiresIn, nowMs: this.now() });
    const handled = userCodeDigestOf(id);
    if (handled !== undefined) {
      await this.db(TABLE).where({ model: this.model, user_code_digest: handled }).update({
        payload: row.payload,
        grant_id: row.grant_id,
        account_id: row.account_id,
        client_id: row.client_id,
        consumed_at: this.db.raw('coalesce(?, consumed_at)', [row.consumed_at]),
      });
      return;
    }
    if (typeof userCode !== 'string' || !userCode) throw new TypeError('a new device code needs its user code');
    await this.db(TABLE)
      .insert({ ...row, user_code_digest: this.#userCodeDigest(userCode) })
      .onConflict(['model', 'id_digest'])
      .merge(['payload', 'grant_id', 'account_id', 'client_id', 'expires_at']);
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
    const values = [new Date(now), consumedDigest, ...ROTATED_COLUMNS.map((column) => row[column]), ...kept];
    const accessToken = options.accessToken && this.#issuedRow(options.accessToken, now);
    const inserted = accessToken
      ? await runPrepared(this.db, ROTATION_WITH_TOKEN, [...values, ...ROTATED_COLUMNS.map((column) => accessToken[column])])
      : await runPrepared(this.db, ROTATION, values);
    if (inserted.length > 0) return;
    if (options.forgiveLoss && (await options.forgiveLoss())) {
      // A duplicate of the winning request, answered with the winner's successor: its own access
      // token is as good as the winner's, and is stored on its own.
      if (accessToken) await runPrepared(this.db, UPSERT, upsertValues(accessToken));
      return;
    }
    return this.#refuseReplay(consumedDigest);
  }

  #issuedRow({ model, id, payload, expiresIn }: IssuedRecord, nowMs: number) {
    if (!isLookupKey(id)) throw new TypeError(`${model} id must be a non-empty string`);
    if (payload.userCode !== undefined) throw refuseUserCode(model);
    return recordRow({ model, id, payload, expiresIn, nowMs });
  }

  /**
   * consume(codeId) and the saves of the tokens issued for the code (an access token, a refresh
   * token, or both), as one statement: the tokens are stored only if this statement is the one that
   * consumed the code, and the code is consumed only if they are stored. A code exchange that fails
   * on its way has spent nothing, and its retry can succeed. A loser is refused exactly as
   * consume() refuses one: its grant revoked, invalid_grant. With no tokens it is consume().
   */
  async redeem(codeId: string, issued: readonly IssuedRecord[]): Promise<void> {
    if (issued.length === 0) return this.consume(codeId);
    if (issued.length > 2) throw new TypeError(`a redemption stores one or two tokens, not ${issued.length}`);
    if (!isLookupKey(codeId)) throw this.#replayError('not found');
    const now = this.now();
    const values = issued.flatMap((token) => {
      const row = this.#issuedRow(token, now);
      return ROTATED_COLUMNS.map((column) => row[column]);
    });
    const codeDigest = digest(codeId);
    const inserted = await runPrepared(this.db, REDEMPTION[issued.length as 1 | 2], [new Date(now), this.model, codeDigest, ...values]);
    if (inserted.length > 0) return;
    return this.#refuseReplay(codeDigest);
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
    // A Grant's answer waits until every instance has heard it is gone (src/db/change-barrier.ts).
    if (this.model === 'Grant') revokedInThisRequest();
    const observe = this.model === 'Grant' ? this.#observeRevocation : undefined;
    if (!observe) {
      await this.db(TABLE).where({ model: this.model, id_digest: digest(id) }).delete();
      return;
    }
    await inTransaction(this.db, async (trx) => {
      const deleted = await trx(TABLE).where({ model: this.model, id_digest: digest(id) }).delete().returning(DELETED_GRANT_FACTS(trx));
      const grants = revokedGrants(deleted);
      if (grants.length) await observe(trx, grants, cause);
    });
  }

  /** Deletes the record; false when there was none to delete (another request deleted it first). */
  async remove(id: string): Promise<boolean> {
    if (!isLookupKey(id)) return false;
    return deletedRows(await this.db(TABLE).where({ model: this.model, id_digest: digest(id) }).delete()) > 0;
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

  // Prepared: a sign-in flow sends three of these (its interaction's reads).
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
