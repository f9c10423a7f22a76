// Opaque tokens in one round trip. oidc-provider's findToken (introspection, revocation) asks the
// AccessToken, ClientCredentials and RefreshToken models for the same value — at once, or one
// after another when there is a hint — and introspection then reads the token's Grant: four
// queries for one token. The code exchange reads the code, then the sign-in session it ends with
// (Session.findByUid), then its Grant: three. This collects the models asked for the same value
// until the end of the tick and answers them with one query (the records repository's
// lookupToken), which also reads the token's grant and session; what it read is kept until the
// end of the tick in which it arrived, so the follow-up asks (the other models after a hint,
// Session.findByUid, Grant.find) are answered from it.
//
// Nothing here outlives the tick its answer arrived in: it is the same answer oidc-provider would
// have got from its own queries a moment apart, never a cache.
import type { AdapterPayload } from 'oidc-provider';
import { fromRow, type FoundRow, type OidcRecords, type TokenFound } from '../../records/index.js';

/**
 * Runs `fn` once everything already queued — promise continuations included, however deep — has
 * run: a microtask that queues a tick callback, which Node runs only when the microtask queue is
 * empty. This works whether the caller is itself in a microtask or in plain synchronous code.
 */
export function afterThisTick(fn: () => void): void {
  queueMicrotask(() => process.nextTick(fn));
}

/** The record as a model's find would rebuild it; every caller gets its own copy. */
function restoredPayload(row: FoundRow, id: string | undefined): AdapterPayload {
  return fromRow({ payload: structuredClone(row.payload), consumed_at: row.consumed_at }, id);
}

export class TokenLookup {
  /** Values asked for this tick, whose query has not been sent yet. */
  readonly #collecting = new Map<string, Promise<TokenFound>>();
  /** Answers that arrived this tick, by value. */
  readonly #recent = new Map<string, TokenFound>();
  /** Grants read alongside those answers, by grant id. */
  readonly #recentGrants = new Map<string, FoundRow>();
  /** Sign-in sessions read alongside those answers, by uid. */
  readonly #recentSessions = new Map<string, FoundRow>();

  constructor(private readonly records: OidcRecords) {}

  /** The live record of `model` ('AccessToken', 'ClientCredentials', 'RefreshToken' or 'AuthorizationCode') with this id. */
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

  /**
   * A live session read alongside a token this tick, as Session.findByUid would return it (no
   * id: oidc-provider's callers only read it); undefined when none was (ask the database).
   */
  recentSession(uid: string): AdapterPayload | undefined {
    const row = this.#recentSessions.get(uid);
    return row && restoredPayload(row, undefined);
  }

  /** After a write to the token, grant or session (by uid), what was read before it must not be handed out. */
  forget(id: string): void {
    this.#recent.delete(id);
    this.#recentGrants.delete(id);
    this.#recentSessions.delete(id);
  }

  #batchFor(id: string): Promise<TokenFound> {
    let batch = this.#collecting.get(id);
    if (!batch) {
      batch = new Promise<TokenFound>((resolve, reject) => {
        afterThisTick(() => {
          this.#collecting.delete(id);
          this.#query(id).then(resolve, reject);
        });
      });
      this.#collecting.set(id, batch);
    }
    return batch;
  }

  async #query(id: string): Promise<TokenFound> {
    const found = await this.records.lookupToken(id);
    for (const [grantId, row] of found.grants) this.#remember(this.#recentGrants, grantId, row);
    for (const [uid, row] of found.sessions) this.#remember(this.#recentSessions, uid, row);
    this.#remember(this.#recent, id, found);
    return found;
  }

  /** Keeps an answer until the end of the tick it arrived in. */
  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.set(key, value);
    afterThisTick(() => {
      if (map.get(key) === value) map.delete(key);
    });
  }
}
