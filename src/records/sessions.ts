// A person's sign-in sessions, read from and ended in the Session rows. A session is named by the
// digest of its `uid` (its handle) everywhere outside the repository: never by its id (the cookie)
// or that id's digest, which stays inside the database as the index's tie-breaker.
import type { Knex } from 'knex';
import type { Database } from '../db/knex.js';
import { cursorTimestamp, decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { SESSION_START_FIELD } from '../oidc/internals.js';
import { liveSql, sessionGrantIds, sessionSignIns, TABLE, type SessionPayload } from './rows.js';
import { revokeGrants, type RevocationObserver } from './revocation.js';

/**
 * When a session read now is live: not expired (`now`), and started (SESSION_START_FIELD, its
 * first sign-in) after `startedAfter`, in seconds since the epoch, when sessions have a maximum
 * lifetime (SESSION_MAX_LIFETIME). Every save of a session caps its expiry at that maximum already
 * (OidcRecords.sessionTtl); this reads the same rule for sessions saved before the cap was set or
 * lowered, so what people and admins see is only what would still sign someone in.
 */
export interface SessionLiveness {
  now: Date;
  startedAfter: number | undefined;
}

function liveSessionSql(query: Knex.QueryBuilder, alias: string, live: SessionLiveness): Knex.QueryBuilder {
  query.whereRaw(liveSql(alias), [live.now]);
  // A session without a start cannot be measured: it counts as over, as in sessionOutlived (index.ts).
  if (live.startedAfter !== undefined) query.whereRaw(`coalesce((${alias}.payload->>'${SESSION_START_FIELD}')::bigint, 0) > ?`, [live.startedAfter]);
  return query;
}

/** A live session as listed. */
export interface SessionRecord {
  /** The session's public handle: the digest of its uid. */
  id: string;
  userId: string;
  userAgent: string | null;
  ip: string | null;
  createdAt: Date;
  /** Its last save; its creation when it was never saved again. */
  lastActiveAt: Date;
  expiresAt: Date | null;
  /** The apps signed in to through this session. */
  clientIds: string[];
}

/** Which of a person's live sessions to end: one by handle, or all (but one). */
export type SessionSelector = { handle: string } | { except?: string };

export interface EndedSessions {
  sessions: number;
  /** Grants of the apps signed in to through the ended sessions, revoked with them. */
  grants: number;
  /** Each app signed in to through an ended session, with the `sid` its ID tokens carried there. */
  signedOut: SignedOutApp[];
}

/** One app's sign-in through one session: who gets a logout token naming which session. */
export interface SignedOutApp {
  clientId: string;
  /** The session's id for this app (OIDC `sid`), when the session recorded one. */
  sid: string | undefined;
}

interface SessionRow {
  uid_digest: string;
  account_id: string;
  user_agent: string | null;
  ip: string | null;
  created_at: Date;
  last_active_at: Date | null;
  expires_at: Date | null;
  payload: SessionPayload;
  cursor_at: string;
}

function sessionRecord(row: SessionRow): SessionRecord {
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

function sessionRows(db: Database, live: SessionLiveness, accountId: string): Knex.QueryBuilder {
  return liveSessionSql(db(`${TABLE} as s`)
    .select('s.uid_digest', 's.account_id', 's.user_agent', 's.ip', 's.created_at', 's.last_active_at', 's.expires_at', 's.payload')
    .select(db.raw(`${cursorTimestamp('s.created_at')} as cursor_at`))
    .where({ 's.model': 'Session', 's.account_id': accountId })
    .whereNotNull('s.uid_digest'), 's', live);
}

/** A person's live sessions, newest first. */
export async function listSessions(db: Database, live: SessionLiveness, accountId: string, page: PageRequest): Promise<Page<SessionRecord>> {
  const limit = pageSize(page.limit);
  const query = sessionRows(db, live, accountId)
    .orderBy([{ column: 's.created_at', order: 'desc' }, { column: 's.id_digest', order: 'desc' }])
    .limit(limit + 1);
  if (page.cursor !== undefined) await after(db, query, accountId, page.cursor);
  const rows: SessionRow[] = await query;
  return pageOf(rows, limit, sessionRecord, (row) => [row.cursor_at, row.uid_digest]);
}

/**
 * Continues after the cursor's session. The cursor names it by handle, since the index's
 * tie-breaker (id_digest) is the digest of the session cookie and stays inside the database.
 * If that session ended meanwhile, sessions created in the same microsecond may repeat; none is skipped.
 */
async function after(db: Database, query: Knex.QueryBuilder, accountId: string, cursor: string): Promise<void> {
  const [at, handle] = decodeCursor(cursor, ['timestamp', 'text']);
  const previous: { id_digest: string } | undefined = await db(TABLE)
    .first('id_digest')
    .where({ model: 'Session', uid_digest: handle!, account_id: accountId });
  if (previous) query.whereRaw('(s.created_at, s.id_digest) < (?::timestamptz, ?)', [at!, previous.id_digest]);
  else query.where('s.created_at', '<=', db.raw('?::timestamptz', [at!]));
}

export async function findSession(db: Database, live: SessionLiveness, accountId: string, handle: string): Promise<SessionRecord | undefined> {
  const row: SessionRow | undefined = await sessionRows(db, live, accountId).where('s.uid_digest', handle).first();
  return row && sessionRecord(row);
}

/** The grants of the apps signed in to through one of the person's live sessions. */
export async function grantIdsOfSession(db: Database, live: SessionLiveness, accountId: string, handle: string): Promise<string[]> {
  const rows: SessionRow[] = await sessionRows(db, live, accountId).where('s.uid_digest', handle);
  return sessionGrantIds(rows.map((row) => row.payload));
}

/** Deletes the selected live sessions, and revokes the grants of the apps signed in to through them. */
export async function endSessions(db: Database, live: SessionLiveness, accountId: string, selector: SessionSelector, observe?: RevocationObserver): Promise<EndedSessions> {
  const query = liveSessionSql(db(`${TABLE} as s`).where({ 's.model': 'Session', 's.account_id': accountId }), 's', live);
  if ('handle' in selector) query.where('uid_digest', selector.handle);
  else if (selector.except !== undefined) query.whereNot('uid_digest', selector.except);
  const rows: Array<{ payload: SessionPayload }> = await query.delete().returning('payload');
  const grants = await revokeGrants(db, { grantIds: sessionGrantIds(rows.map((row) => row.payload)) }, observe);
  return { sessions: rows.length, grants, signedOut: sessionSignIns(rows.map((row) => row.payload)) };
}
