// The oidc_records repository: the one owner of oidc-provider's storage table. It alone knows the
// columns, the digest rules and payload shapes (rows.ts), the prepared statements (statements.ts)
// and the clock: one injected now() decides every "still live", in oidc-provider's lookups and in
// the listings alike, always bound into the query (never the database's now()). Everything else —
// oidc-provider's model storage (src/oidc/models/), the grant and session listings, the JWT
// standing, refresh retries, the janitor, deleting an app or a person — calls its methods, as Ory
// Hydra's persister owns every query on its token tables.
//
// Methods an admin act may call inside its transaction take `trx` (default: the repository's own
// connection): the act and its audit entry commit together, and on PGlite a transaction holds the
// only connection, so a read inside the act must go through it.
import { keyedDigest } from '../security/keyed-digest.js';
import { SESSION_START_FIELD } from '../oidc/internals.js';
import type { AdapterPayload } from 'oidc-provider';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { clientIdsWithGrantsOf, findGrant, latestGrant, listConnectedApps, listGrants, type ConnectedAppRecord, type GrantListing, type GrantRecord } from './grants.js';
import { ModelRecords, type ModelOptions } from './model-records.js';
import { clearKeptSuccessors, deleteExpired } from './retention.js';
import { forgetAccount, forgetClient, liveGrantsOf, offlineGrantIds, revokeGrants, type GrantSelector, type LiveGrant, type RevocationCause, type RevocationObserver, type RevokedGrant } from './revocation.js';
import { endSessions, findSession, grantIdsOfSession, listSessions, type EndedSessions, type SessionLiveness, type SessionRecord, type SessionSelector } from './sessions.js';
import { jwtStanding, keptSuccessor, lookupToken, type JwtStandingRow, type JwtSubject, type KeptSuccessorRow, type TokenFound } from './tokens.js';

export { ModelRecords, type IssuedRecord, type ModelOptions, type RotateOptions } from './model-records.js';
export { fromRow, GRANTABLE_MODELS, isLookupKey, recordRow, TOKEN_MODELS, type FoundRow, type GrantOpenid, type GrantPayload, type NewRow, type OidcRecordRow, type RecordToSave, type RequestFacts } from './rows.js';
export type { ConnectedAppRecord, GrantListing, GrantRecord } from './grants.js';
export type { GrantSelector, LiveGrant, RevocationCause, RevocationObserver, RevokedGrant } from './revocation.js';
export type { EndedSessions, SessionRecord, SessionSelector, SignedOutApp } from './sessions.js';
export type { JwtStandingRow, JwtSubject, KeptSuccessorRow, TokenFound } from './tokens.js';

export class OidcRecords {
  /** Told of every grant revoked through this repository, in the revocation's transaction. */
  readonly #revocationObservers: RevocationObserver[] = [];
  /** Tells every observer, one after the other, in the revocation's transaction. */
  readonly #observeRevocation: RevocationObserver = async (trx, grants, cause) => {
    for (const observer of this.#revocationObservers) await observer(trx, grants, cause);
  };

  readonly #userCodeDigest: ((userCode: string) => string) | undefined;
  readonly #sessionMaxSeconds: number | undefined;

  constructor(
    readonly db: Database,
    /** Milliseconds since the epoch: the one clock for every expiry and "still live"; tests move it. */
    readonly now: () => number = Date.now,
    /**
     * The key device user codes are digested under (a subkey of KEY_ENCRYPTION_KEY): the server's
     * records pass it; readers that never touch device codes need not.
     */
    userCodeKey?: Buffer,
    options: {
      /**
       * SESSION_MAX_LIFETIME: the server's and the CLI's records pass it. Readers without it still
       * see every session saved since as ending at it, since each save caps the session's expiry.
       */
      sessionMaxLifetimeSeconds?: number;
    } = {},
  ) {
    this.#sessionMaxSeconds = options.sessionMaxLifetimeSeconds;
    if (userCodeKey) {
      const keyed = keyedDigest(userCodeKey, 'device user code');
      this.#userCodeDigest = (userCode) => keyed(userCode);
    }
  }

  #at(): Date {
    return new Date(this.now());
  }

  #nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  #sessionLiveness(): SessionLiveness {
    return { now: this.#at(), startedAfter: this.#sessionMaxSeconds === undefined ? undefined : this.#nowSeconds() - this.#sessionMaxSeconds };
  }

  /**
   * How long a sign-in session being saved now may last (oidc-provider's ttl.Session): `idleSeconds`
   * from now, never past its start plus the maximum lifetime. Its start is SESSION_START_FIELD, which
   * oidc-provider keeps on every later save, and through a re-authentication too (resetIdentifier
   * gives the same object a new id). A session nobody is signed in to yet starts again at each
   * save, so a signed-in session's start is its first sign-in, or the request just before it.
   */
  sessionTtl(session: { accountId?: unknown; [SESSION_START_FIELD]?: unknown }, idleSeconds: number): number {
    const now = this.#nowSeconds();
    const stamped = session[SESSION_START_FIELD];
    const start = session.accountId && typeof stamped === 'number' ? stamped : now;
    session[SESSION_START_FIELD] = start;
    if (this.#sessionMaxSeconds === undefined) return idleSeconds;
    // A session found is within its maximum (sessionOutlived); a second may pass before its save.
    return Math.max(1, Math.min(idleSeconds, start + this.#sessionMaxSeconds - now));
  }

  /**
   * Whether a stored session has outlived the maximum lifetime, counted from its start: then it
   * signs nobody in, whatever its expiry says (a session saved before the maximum was set or lowered).
   */
  sessionOutlived(payload: { [SESSION_START_FIELD]?: unknown }): boolean {
    if (this.#sessionMaxSeconds === undefined) return false;
    const start = payload[SESSION_START_FIELD];
    return typeof start !== 'number' || start + this.#sessionMaxSeconds <= this.#nowSeconds();
  }

  /**
   * Adds an observer of revoked grants (src/security-events/): every revocation through this
   * repository, a replay's included, calls it inside its transaction.
   */
  observeRevocations(observer: RevocationObserver): void {
    this.#revocationObservers.push(observer);
  }

  /** The observers' dispatcher while there are any; without, a revocation reads nothing more. */
  get #observing(): RevocationObserver | undefined {
    return this.#revocationObservers.length ? this.#observeRevocation : undefined;
  }

  /** One model's records, as oidc-provider's adapter interface reads and writes them. */
  of(model: string, options: ModelOptions = {}): ModelRecords {
    // The dispatcher itself: oidc-provider may build its models before the observers are added.
    return new ModelRecords(this.db, model, this.now, { observeRevocation: this.#observeRevocation, userCodeDigest: this.#userCodeDigest, ...options });
  }

  /** What the person's live grants reach (their apps and APIs), read in `trx`. */
  liveGrantsOf(accountId: string, trx: Database = this.db): Promise<LiveGrant[]> {
    return liveGrantsOf(trx, this.#at(), accountId);
  }

  // Tokens

  /** An opaque token under every token model, or an authorization code, with its grant and session, in one round trip. */
  lookupToken(id: string): Promise<TokenFound> {
    return lookupToken(this.db, this.#at(), id);
  }

  jwtStanding(subject: JwtSubject): Promise<JwtStandingRow> {
    return jwtStanding(this.db, this.#at(), subject);
  }

  /** The successor a rotation of `presented` within the last `windowSeconds` kept for a retry. */
  keptSuccessor(presented: string, windowSeconds: number): Promise<KeptSuccessorRow | undefined> {
    const now = this.now();
    return keptSuccessor(this.db, new Date(now), presented, new Date(now - windowSeconds * 1000));
  }

  // Grants

  listGrants(listing: GrantListing, page: PageRequest = {}, trx: Database = this.db): Promise<Page<GrantRecord>> {
    return listGrants(trx, this.#at(), listing, page);
  }

  findGrant(grantId: string, trx: Database = this.db): Promise<GrantRecord | undefined> {
    return findGrant(trx, this.#at(), grantId);
  }

  /** The newest live grant of this person to this app, as Grant.find would return it (remembered consent). */
  latestGrant(accountId: string, clientId: string): Promise<AdapterPayload | undefined> {
    return latestGrant(this.db, this.#at(), accountId, clientId);
  }

  /** The apps holding a live grant of the person, each once. */
  clientIdsWithGrantsOf(accountId: string, trx: Database = this.db): Promise<string[]> {
    return clientIdsWithGrantsOf(trx, this.#at(), accountId);
  }

  /** The apps a person allowed (one entry per app, however many grants), without `exceptClientId`. */
  listConnectedApps(accountId: string, exceptClientId: string, page: PageRequest = {}): Promise<Page<ConnectedAppRecord>> {
    return listConnectedApps(this.db, this.#at(), accountId, exceptClientId, page);
  }

  /** Revokes the selected grants and everything issued under them; returns how many grants there were. */
  revokeGrants(selector: GrantSelector, trx: Database = this.db): Promise<number> {
    return revokeGrants(trx, selector, this.#observing);
  }

  /**
   * Revokes every live grant of a person that can outlive their sign-ins (a live refresh token, or
   * offline_access consented), but those in `keep`; returns how many grants went.
   */
  async revokeOfflineOfUser(accountId: string, keep: readonly string[] = [], trx: Database = this.db): Promise<number> {
    const grantIds = await offlineGrantIds(trx, this.#at(), accountId, keep);
    return grantIds.length === 0 ? 0 : revokeGrants(trx, { grantIds }, this.#observing);
  }

  /** Deletes every record naming the person (grants, tokens, sessions, interactions); returns how many rows went. */
  forgetUser(accountId: string, trx: Database = this.db): Promise<number> {
    return forgetAccount(trx, accountId);
  }

  /** Deletes every record issued to the app, its grants included. */
  forgetClient(clientId: string, trx: Database = this.db): Promise<number> {
    return forgetClient(trx, clientId);
  }

  // Sessions

  listSessions(accountId: string, page: PageRequest = {}): Promise<Page<SessionRecord>> {
    return listSessions(this.db, this.#sessionLiveness(), accountId, page);
  }

  findSession(accountId: string, handle: string, trx: Database = this.db): Promise<SessionRecord | undefined> {
    return findSession(trx, this.#sessionLiveness(), accountId, handle);
  }

  grantIdsOfSession(accountId: string, handle: string, trx: Database = this.db): Promise<string[]> {
    return grantIdsOfSession(trx, this.#sessionLiveness(), accountId, handle);
  }

  /** Ends the selected live sessions of the person, with the grants of the apps signed in through them. */
  endSessions(accountId: string, selector: SessionSelector, trx: Database = this.db): Promise<EndedSessions> {
    return endSessions(trx, this.#sessionLiveness(), accountId, selector, this.#observing);
  }

  // Retention (the janitor)

  /** Deletes every record expired by now, a batch at a time; returns how many went. */
  deleteExpired(options: { batchSize?: number } = {}): Promise<number> {
    // One cutoff for the whole run, so rows expiring meanwhile cannot keep the loop going.
    return deleteExpired(this.db, this.#at(), options.batchSize);
  }

  /** Clears what rotations kept for a retry once `windowSeconds` have passed; returns how many it cleared. */
  clearKeptSuccessors(windowSeconds: number, options: { batchSize?: number } = {}): Promise<number> {
    return clearKeptSuccessors(this.db, new Date(this.now() - windowSeconds * 1000), options.batchSize);
  }
}
