// The logout token of OpenID Connect Back-Channel Logout 1.0 (§2.4): what Gatehouse writes to the
// outbox when an app's sign-in ends (a LogoutNotice), and the signed JWT made from it when it is
// delivered. It is signed at delivery, not when written: an app that was down for an hour still
// gets a token whose `iat` and `exp` are now, which it accepts, while `jti` is fixed when written,
// so the same notice delivered twice (the outbox's one narrow window) carries the same `jti` and
// the app can drop the copy.
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';

/** The event a logout token carries, and the only member of its `events` claim (§2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The `typ` header the spec recommends (§2.4) and Gatehouse always sets, so no ID token is mistaken for one. */
export const LOGOUT_TOKEN_TYPE = 'logout+jwt';

/**
 * How long a logout token is valid: the spec recommends at most two minutes (§2.4). It is made
 * just before each attempt, so this only bounds a token caught in transit.
 */
export const LOGOUT_TOKEN_TTL_SECONDS = 120;

/** What the outbox keeps for one logout token to one app (kind `backchannel-logout`). */
export interface LogoutNotice {
  clientId: string;
  /** Where to POST it: the app's backchannel_logout_uri when the notice was written. */
  uri: string;
  /** The app's ID token algorithm: the token is signed as its ID tokens are. */
  alg: string;
  /** The person (`sub`, as in the app's ID tokens). */
  sub: string;
  /** The session ended, as the app's ID tokens named it; absent when no one session ended. */
  sid?: string;
  /** Fixed at writing, the same on every attempt. */
  jti: string;
}

export function newLogoutNotice(fields: Omit<LogoutNotice, 'jti'>): LogoutNotice {
  return { ...fields, ...(fields.sid === undefined ? {} : { sid: fields.sid }), jti: randomUUID() };
}

/** The notice an opened outbox payload holds; throws when it is not one (a row altered by hand). */
export function asLogoutNotice(payload: unknown): LogoutNotice {
  const p = payload as Partial<Record<keyof LogoutNotice, unknown>> | null;
  const text = (value: unknown) => typeof value === 'string' && value.length > 0;
  if (!p || !text(p.clientId) || !text(p.uri) || !text(p.alg) || !text(p.sub) || !text(p.jti) || (p.sid !== undefined && !text(p.sid))) {
    throw new TypeError('the payload is not a logout notice');
  }
  return p as LogoutNotice;
}

/**
 * The logout token for `notice`, signed with `key` (a private JWK of the notice's alg, with its
 * kid): iss, aud (the app), iat, exp, jti, events, sub and sid when known — never `nonce` (§2.4).
 */
export async function signLogoutToken(notice: LogoutNotice, issuer: string, key: JWK, now: number): Promise<string> {
  const iat = Math.floor(now / 1000);
  const claims: Record<string, unknown> = { events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sub: notice.sub };
  if (notice.sid) claims.sid = notice.sid;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: notice.alg, typ: LOGOUT_TOKEN_TYPE, ...(key.kid ? { kid: key.kid } : {}) })
    .setIssuer(issuer)
    .setAudience(notice.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + LOGOUT_TOKEN_TTL_SECONDS)
    .setJti(notice.jti)
    .sign(await importJWK(key, notice.alg));
}
