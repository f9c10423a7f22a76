// oidc_records rows in the exact shape the server writes them (the repository's own mapper,
// recordRow in src/records/rows.ts), for tests of what reads them (session and grant listings,
// revocation) without driving a browser through sign-in. Only the times are set by hand.
import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import { digest } from '../../src/crypto/digest.js';
import type { Database } from '../../src/db/knex.js';
import { recordRow } from '../../src/records/index.js';

const DAY_MS = 86_400_000;

export function randomId(): string {
  return randomBytes(24).toString('base64url');
}

export interface SeededSession {
  /** The raw session id: the cookie. */
  id: string;
  uid: string;
  /** The public handle: digest of the uid. */
  handle: string;
}

export async function insertSession(db: Database, options: {
  accountId: string;
  /** clientId -> grantId, as payload.authorizations holds them. */
  authorizations?: Record<string, string>;
  createdAt?: Date;
  expiresAt?: Date | null;
  lastActiveAt?: Date | null;
  userAgent?: string | null;
  ip?: string | null;
}): Promise<SeededSession> {
  const id = randomId();
  const uid = randomId();
  const authorizations = Object.fromEntries(Object.entries(options.authorizations ?? {}).map(([clientId, grantId]) => [clientId, { sid: randomId(), grantId, persistsLogout: false }]));
  // iat: when the session started, as oidc-provider stamps it at the first save (SESSION_MAX_LIFETIME counts from it).
  const now = Math.floor(Date.now() / 1000);
  const payload = { accountId: options.accountId, loginTs: now, authorizations, uid, iat: now, exp: now + 86_400, kind: 'Session' } as AdapterPayload;
  await db('oidc_records').insert({
    ...recordRow({ model: 'Session', id, payload, expiresIn: undefined, nowMs: Date.now(), facts: { userAgent: options.userAgent ?? undefined, ip: options.ip ?? undefined } }),
    expires_at: options.expiresAt === undefined ? new Date(Date.now() + DAY_MS) : options.expiresAt,
    created_at: options.createdAt ?? new Date(),
    last_active_at: options.lastActiveAt ?? null,
  });
  return { id, uid, handle: digest(uid) };
}

export async function insertGrant(db: Database, options: {
  accountId: string;
  clientId: string;
  scope?: string;
  resources?: Record<string, string>;
  grantId?: string;
  createdAt?: Date;
  expiresAt?: Date | null;
}): Promise<string> {
  const grantId = options.grantId ?? randomId();
  const payload = {
    accountId: options.accountId,
    clientId: options.clientId,
    openid: { scope: options.scope ?? 'openid profile' },
    ...(options.resources ? { resources: options.resources } : {}),
    kind: 'Grant',
  } as AdapterPayload;
  await db('oidc_records').insert({
    ...recordRow({ model: 'Grant', id: grantId, payload, expiresIn: undefined, nowMs: Date.now() }),
    expires_at: options.expiresAt === undefined ? new Date(Date.now() + DAY_MS) : options.expiresAt,
    created_at: options.createdAt ?? new Date(),
  });
  return grantId;
}

/** A token or code issued under a grant; returns its raw id. */
export async function insertToken(db: Database, options: {
  model: 'AccessToken' | 'AuthorizationCode' | 'RefreshToken' | 'Interaction';
  grantId: string;
  accountId: string;
  clientId: string;
  createdAt?: Date;
}): Promise<string> {
  const id = randomId();
  const payload = { accountId: options.accountId, clientId: options.clientId, grantId: options.grantId, kind: options.model } as AdapterPayload;
  await db('oidc_records').insert({
    ...recordRow({ model: options.model, id, payload, expiresIn: DAY_MS / 1000, nowMs: Date.now() }),
    created_at: options.createdAt ?? new Date(),
  });
  return id;
}

export async function modelsOf(db: Database, where: Record<string, string>): Promise<string[]> {
  const rows: Array<{ model: string }> = await db('oidc_records').select('model').where(where).orderBy('model');
  return rows.map((row) => row.model);
}

/**
 * Moves back, by `seconds`, when each of a person's sessions signed in (payload.loginTs, which
 * oidc-provider stamps on its own clock): a sign-in that long ago, as far as both the provider and
 * Gatehouse can tell, without moving any clock.
 */
export async function ageSignIns(db: Database, accountId: string, seconds: number): Promise<number> {
  return db('oidc_records')
    .where({ model: 'Session', account_id: accountId })
    .update({ payload: db.raw(`jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - ?))`, [seconds]) });
}
