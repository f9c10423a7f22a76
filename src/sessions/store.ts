// A person's sign-in sessions at Gatehouse, read from oidc-provider's Session rows. A session is
// named by the digest of its `uid` everywhere outside the adapter: never by its id (the cookie) or
// that id's digest.
import type { Knex } from 'knex';
import type { Database } from '../db/knex.js';
import { cursorTimestamp, decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { isStorableKey } from '../db/text.js';
import { revokeGrants } from '../grants/revoke.js';
import { whereLive } from '../grants/store.js';
import type { StoredSessionPayload } from '../oidc/internals.js';

export interface SessionInfo {
  /** The session's public handle: the digest of its uid. */
  id: string;
  userId: string;
  userAgent: string | null;
  ip: string | null;
  createdAt: Date;
  lastActiveAt: Date;
  expiresAt: Date | null;
  /** The apps signed in to through this session. */
  clientIds: string[];
}

export interface EndedSessions {
  sessions: number;
  /** Grants of the apps signed in to through the ended sessions, revoked with them. */
  grants: number;
}

interface SessionRow {
  uid_digest: string;
  account_id: string;
  user_agent: string | null;
  ip: string | null;
  created_at: Date;
  last_active_at: Date | null;
  expires_at: Date | null;
  payload: StoredSessionPayload;
  cursor_at: string;
}

function sessionFromRow(row: SessionRow): SessionInfo {
  return {
    id: row.uid_digest,
    userId: row.account_id,
    userAgent: row.user_agent,
    ip: row.ip,
    createdAt: new Date(row.created_at),
    lastActiveAt: new Date(row.last_active_at ?? row.created_at),
    expiresAt: row.expires_at ? new Date(row.expires_at) : null,
    clientIds: Object.keys(row.payload.authorizations ?? {}),
  };
}

function grantIdsOf(payloads: StoredSessionPayload[]): string[] {
  const ids = payloads.flatMap((p) => Object.values(p.authorizations ?? {}).map((a) => a?.grantId));
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id.length > 0))];
}

function isHandle(value: unknown): value is string {
  return isStorableKey(value, 200);
}

export class SessionStore {
  constructor(private readonly db: Database) {}

  /** A person's live sessions, newest first. */
  async listByUser(userId: string, page: PageRequest = {}): Promise<Page<SessionInfo>> {
    const limit = pageSize(page.limit);
    if (!isHandle(userId)) return { items: [], nextCursor: null };
    const query = this.sessions(this.db, userId)
      .orderBy([{ column: 's.created_at', order: 'desc' }, { column: 's.id_digest', order: 'desc' }])
      .limit(limit + 1);
    if (page.cursor !== undefined) await this.after(query, userId, page.cursor);
    const rows: SessionRow[] = await query;
    return pageOf(rows, limit, sessionFromRow, (row) => [row.cursor_at, row.uid_digest]);
  }

  async findByHandle(userId: string, handle: string): Promise<SessionInfo | undefined> {
    if (!isHandle(userId) || !isHandle(handle)) return undefined;
    const row: SessionRow | undefined = await this.sessions(this.db, userId).where('s.uid_digest', handle).first();
    return row && sessionFromRow(row);
  }

  /** The grants of the apps signed in to through one of the person's live sessions. */
  async grantIdsOf(userId: string, handle: string, trx: Database = this.db): Promise<string[]> {
    if (!isHandle(userId) || !isHandle(handle)) return [];
    const rows: Array<{ payload: StoredSessionPayload }> = await this.sessions(trx, userId).where('s.uid_digest', handle);
    return grantIdsOf(rows.map((row) => row.payload));
  }

  /** Signs the person out of one session, and out of every app signed in to through it; undefined if no such live session. */
  async end(userId: string, handle: string, trx: Database = this.db): Promise<EndedSessions | undefined> {
    if (!isHandle(userId) || !isHandle(handle)) return undefined;
    const ended = await this.deleteSessions(trx, userId, (q) => q.where('uid_digest', handle));
    return ended.sessions === 0 ? undefined : ended;
  }

  /** Every live session of the person, optionally but the one they are using. */
  async endAll(userId: string, options: { except?: string } = {}, trx: Database = this.db): Promise<EndedSessions> {
    if (!isHandle(userId)) return { sessions: 0, grants: 0 };
    return this.deleteSessions(trx, userId, (q) => (options.except === undefined ? q : q.whereNot('uid_digest', options.except)));
  }

  private async deleteSessions(trx: Database, userId: string, narrow: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<EndedSessions> {
    const query = trx('oidc_records as s').where({ 's.model': 'Session', 's.account_id': userId });
    const rows: Array<{ payload: StoredSessionPayload }> = await narrow(whereLive(query, 's')).delete().returning('payload');
    const grants = await revokeGrants(trx, { grantIds: grantIdsOf(rows.map((row) => row.payload)) });
    return { sessions: rows.length, grants };
  }

  private sessions(db: Database, userId: string): Knex.QueryBuilder {
    const query = db('oidc_records as s')
      .select('s.uid_digest', 's.account_id', 's.user_agent', 's.ip', 's.created_at', 's.last_active_at', 's.expires_at', 's.payload')
      .select(db.raw(`${cursorTimestamp('s.created_at')} as cursor_at`))
      .where({ 's.model': 'Session', 's.account_id': userId })
      .whereNotNull('s.uid_digest');
    return whereLive(query, 's');
  }

  /**
   * Continues after the cursor's session. The cursor names it by handle, since the index's
   * tie-breaker (id_digest) is the digest of the session cookie and stays inside the database.
   * If that session ended meanwhile, sessions created in the same microsecond may repeat; none is skipped.
   */
  private async after(query: Knex.QueryBuilder, userId: string, cursor: string): Promise<void> {
    const [at, handle] = decodeCursor(cursor, ['timestamp', 'text']);
    const previous: { id_digest: string } | undefined = await this.db('oidc_records')
      .first('id_digest')
      .where({ model: 'Session', uid_digest: handle!, account_id: userId });
    if (previous) query.whereRaw('(s.created_at, s.id_digest) < (?::timestamptz, ?)', [at!, previous.id_digest]);
    else query.where('s.created_at', '<=', this.db.raw('?::timestamptz', [at!]));
  }
}
