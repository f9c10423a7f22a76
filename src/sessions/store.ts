// A person's sign-in sessions at Gatehouse, as people and admins see them. The Session rows are
// the records repository's (src/records/sessions.ts), in the shape people and admins see; this
// module refuses what cannot name a person or a session before any query does. A session is named by its handle (the digest of its `uid`).
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { isStorableKey } from '../db/text.js';
import { OidcRecords, type EndedSessions, type SessionRecord, type SignedOutApp } from '../records/index.js';

/** A live session as people and admins see it. */
export type SessionInfo = SessionRecord;

export type { EndedSessions, SignedOutApp } from '../records/index.js';

/**
 * Told, inside the transaction that ends them, which apps were signed in through the ended
 * sessions: the back-channel logout (src/logout/) writes their logout tokens there, so they are
 * sent if and only if the sessions really ended.
 */
export type SessionsEndedListener = (trx: Database, userId: string, signedOut: SignedOutApp[], options: { everyApp: boolean }) => Promise<unknown>;

function isHandle(value: unknown): value is string {
  return isStorableKey(value, 200);
}

export class SessionStore {
  constructor(
    private readonly db: Database,
    /** The Session rows; its clock decides which sessions are live. */
    private readonly records: OidcRecords = new OidcRecords(db),
    private readonly onEnded?: SessionsEndedListener,
  ) {}

  /** A person's live sessions, newest first. */
  async listByUser(userId: string, page: PageRequest = {}): Promise<Page<SessionInfo>> {
    if (!isHandle(userId)) return { items: [], nextCursor: null };
    return this.records.listSessions(userId, page);
  }

  async findByHandle(userId: string, handle: string): Promise<SessionInfo | undefined> {
    if (!isHandle(userId) || !isHandle(handle)) return undefined;
    return this.records.findSession(userId, handle);
  }

  /** The grants of the apps signed in to through one of the person's live sessions. */
  async grantIdsOf(userId: string, handle: string, trx: Database = this.db): Promise<string[]> {
    if (!isHandle(userId) || !isHandle(handle)) return [];
    return this.records.grantIdsOfSession(userId, handle, trx);
  }

  /** Signs the person out of one session, and out of every app signed in to through it; undefined if no such live session. */
  async end(userId: string, handle: string, trx: Database = this.db): Promise<EndedSessions | undefined> {
    if (!isHandle(userId) || !isHandle(handle)) return undefined;
    const ended = await this.records.endSessions(userId, { handle }, trx);
    if (ended.sessions === 0) return undefined;
    await this.onEnded?.(trx, userId, ended.signedOut, { everyApp: false });
    return ended;
  }

  /**
   * Every live session of the person, optionally but the one they are using. `everyApp`: the
   * person is being signed out of everything (disabled, a password reset), so apps holding a grant
   * of theirs outside these sessions are told too (src/logout/).
   */
  async endAll(userId: string, options: { except?: string; everyApp?: boolean } = {}, trx: Database = this.db): Promise<EndedSessions> {
    if (!isHandle(userId)) return { sessions: 0, grants: 0, signedOut: [] };
    const ended = await this.records.endSessions(userId, options.except === undefined ? {} : { except: options.except }, trx);
    const everyApp = options.everyApp === true && options.except === undefined;
    if (ended.signedOut.length || everyApp) await this.onEnded?.(trx, userId, ended.signedOut, { everyApp });
    return ended;
  }
}
