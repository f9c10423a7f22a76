// The oidc_records table as Gatehouse keeps it: its columns, what of oidc-provider's payloads is
// stored and what is rebuilt, the digest rules, and the one rule for "still live". Every other
// module of src/records/ builds its queries from these; nothing outside src/records/ names a column.
//
// A dump of the table must not hand out anything a caller could present as proof, so ids and
// session cookies are kept only as digests (and an interaction's returnTo with a placeholder).
import { errors } from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import { digest } from '../crypto/digest.js';
import { isStorableKey, isStorableText, storableExcerpt } from '../db/text.js';
import { MAX_HANDLE_LENGTH } from '../lifetimes.js';
import { FIND_TOKEN_MODELS, GRANTABLE_MODELS, type StoredGrantPayload, type StoredSessionPayload } from '../oidc/internals.js';

export const TABLE = 'oidc_records';

/**
 * The models findToken asks (introspection, revocation), written into the lookup as literals (with
 * AuthorizationCode, which the code exchange finds through it too); and
 * the models whose records hang off a grant, deleted with it. Both are oidc-provider's to define
 * (src/oidc/internals/models.ts, checked by its contract test).
 */
export { GRANTABLE_MODELS };
export const TOKEN_MODELS = FIND_TOKEN_MODELS;

/** What lands in the jsonb column: the payload minus everything rebuilt from elsewhere. */
export type StoredPayload = Omit<AdapterPayload, 'jti' | 'consumed'>;

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

/** A row as a save writes it: every column but created_at (the database's default), the payload as JSON text. */
export type NewRow = Omit<OidcRecordRow, 'payload' | 'created_at'> & { payload: string };

/** What fromRow reads of a row (consumed_at may arrive as text from a raw query). */
export interface FoundRow {
  payload: StoredPayload | Record<string, unknown>;
  consumed_at: Date | string | null;
}

/** What a person's session list shows about the device: kept as sent, cut to a sane length. */
export interface RequestFacts {
  userAgent: string | undefined;
  ip: string | undefined;
}

/** A key a lookup may take to the database; anything else matches no row. */
export function isLookupKey(value: unknown): value is string {
  return isStorableKey(value, MAX_HANDLE_LENGTH);
}

/**
 * Live = not expired by the repository's clock, bound as `now` (never the database's now(): tests
 * move the injected clock, and expiry must follow it everywhere). The janitor deletes expired rows
 * only eventually, so every read of a listing or a token asks this.
 */
export function liveSql(alias: string): string {
  return `(${alias}.expires_at is null or ${alias}.expires_at > ?)`;
}

function epochSeconds(date: Date | string): number {
  return Math.floor(new Date(date).getTime() / 1000);
}

// Interaction copies the session into its payload, including `cookie`: the raw session id, i.e.
// the session cookie itself. oidc-provider never reads it back (it looks sessions up by `uid`), so
// dropping it costs nothing and keeps a live session credential out of the table. Where the
// payload keeps it (and the returnTo below) is oidc-provider's: INTERACTION_SESSION_COOKIE_FIELD and
// INTERACTION_OWN_ID_FIELD in src/oidc/internals/models.ts, whose contract test fails if they move.
function withoutSessionCookie(session: AdapterPayload['session']): AdapterPayload['session'] {
  if (!session || !('cookie' in session)) return session;
  const { cookie: _cookie, ...rest } = session;
  return rest;
}

// An Interaction's returnTo (`…/auth/<uid>`) embeds its own id, which is also the interaction
// cookie's value; it is stored with a placeholder and rebuilt by fromRow, which knows the id.
const OWN_ID = '{id}';

// jti is the token/code/session id itself (a bearer credential), and `consumed` lives in its own
// column so consume can be a single atomic UPDATE. `uid` stays: oidc-provider rebuilds a Session
// from the payload and would otherwise mint a new uid on every load; it is an internal handle
// (tokens carry it as sessionUid), not proof.
function storedPayload(id: string, payload: AdapterPayload): StoredPayload {
  const { jti: _jti, consumed: _consumed, ...rest } = payload;
  if (rest.session !== undefined) rest.session = withoutSessionCookie(rest.session);
  if (typeof rest.returnTo === 'string') rest.returnTo = rest.returnTo.replaceAll(id, OWN_ID);
  return rest;
}

// Interaction payloads carry authorization request parameters verbatim (the `claims` parameter is
// parsed JSON, keys included): refusing what jsonb cannot hold here turns `state=%00` into a 400
// instead of a 500 from the database.
export function serializePayload(payload: StoredPayload): string {
  let storable = true;
  const json = JSON.stringify(payload, (key: string, value: unknown) => {
    if (!isStorableText(key) || (typeof value === 'string' && !isStorableText(value))) storable = false;
    return value;
  });
  if (!storable) {
    throw new errors.InvalidRequest('request parameters must not contain NUL characters or unpaired surrogates');
  }
  return json;
}

// A Grant's own id is its grant id. Filling the column for Grant rows too lets a person's grants be
// listed and reused (latestGrant) without a second key. It exposes nothing new: every token row of
// the grant carries the same value in grant_id, and a grant id cannot be exchanged for anything.
function grantIdOf(model: string, id: string, payload: AdapterPayload): string | null {
  if (model === 'Grant') return id;
  return payload.grantId ?? null;
}

/** What recordRow maps into columns: one record as oidc-provider saves it. */
export interface RecordToSave {
  model: string;
  /** The raw id (token value, session cookie, grant id): stored only as its digest. */
  id: string;
  payload: AdapterPayload;
  /** Seconds from `nowMs` until the record expires; none keeps it until deleted. */
  expiresIn: number | undefined;
  /** Milliseconds since the epoch: the save's time, from which expiry and a session's last activity follow. */
  nowMs: number;
  /** The browser saving a Session (ignored for other models). */
  facts?: RequestFacts | undefined;
}

/**
 * The column values of one record, exactly as the server writes them (pure: no database, no
 * clock of its own). Exported so that a benchmark or a test can seed rows in the server's shapes:
 * insert the result into oidc_records (payload is JSON text; created_at is left to the database's
 * default, or set it to backdate a row).
 */
export function recordRow(record: RecordToSave): NewRow {
  const { model, id, payload, expiresIn, nowMs, facts } = record;
  const session = model === 'Session';
  return {
    model,
    id_digest: digest(id),
    payload: serializePayload(storedPayload(id, payload)),
    grant_id: grantIdOf(model, id, payload),
    // Only sessions are looked up by uid; other models' `uid`-ish fields are not indexes.
    uid_digest: session && typeof payload.uid === 'string' ? digest(payload.uid) : null,
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

/**
 * The payload oidc-provider stored, rebuilt from a row: the jti (the raw id, when the caller knows
 * it), the interaction's returnTo, and `consumed` from its column. A shallow copy: a row read for
 * one caller needs no more; what is handed to several (the token lookup) is cloned first.
 */
export function fromRow(row: FoundRow, id: string | undefined): AdapterPayload {
  const payload: AdapterPayload = { ...row.payload };
  if (id !== undefined) {
    payload.jti = id;
    if (typeof payload.returnTo === 'string') payload.returnTo = payload.returnTo.replaceAll(OWN_ID, id);
  }
  if (row.consumed_at) payload.consumed = epochSeconds(row.consumed_at);
  return payload;
}

/** A Grant row's `openid` consent, as oidc-provider writes it (scopes space-separated). */
export interface GrantOpenid {
  scope?: unknown;
  claims?: unknown;
}

/** What a Grant payload says a person consented to, and a Session payload's grants: oidc-provider's shapes. */
export type GrantPayload = StoredGrantPayload;
export type SessionPayload = StoredSessionPayload;

/** Every app signed in to through these sessions, with its per-app session id (`sid`). */
export function sessionSignIns(payloads: SessionPayload[]): Array<{ clientId: string; sid: string | undefined }> {
  return payloads.flatMap((p) => Object.entries(p.authorizations ?? {}).map(([clientId, a]) => ({
    clientId,
    sid: typeof a?.sid === 'string' && a.sid.length > 0 ? a.sid : undefined,
  })));
}

/** The grants of the apps signed in to through these sessions, each once. */
export function sessionGrantIds(payloads: SessionPayload[]): string[] {
  const ids = payloads.flatMap((p) => Object.values(p.authorizations ?? {}).map((a) => a?.grantId));
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id.length > 0))];
}
