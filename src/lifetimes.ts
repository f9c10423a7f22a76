// Lifetimes and limits that must agree with each other. Each is decided here once; the settings that
// bound them (src/config.ts), the registrations that check them, the help and OpenAPI texts that
// state them, and the retention rules that depend on them (how long a signing key or a revoked
// token's id is kept) all derive from these, so changing one cannot leave the others behind.
// The lifetimes an operator chooses are settings (config/default.json, README's configuration
// table); what is here are their ceilings and what follows from them.

export const MINUTE = 60;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const YEAR = 365 * DAY;

/**
 * The longest any access token lives: ACCESS_TOKEN_TTL, CLIENT_CREDENTIALS_TTL and an API's own
 * lifetime are all capped at it (RFC 9700: short-lived bearer tokens; a typo must not mint
 * week-long ones). A revoked JWT's id is remembered this long: raise this without the memory and
 * revoked tokens would come back to life.
 */
export const MAX_ACCESS_TOKEN_LIFETIME_SECONDS = DAY;

/** The shortest lifetime an API may give its access tokens. */
export const MIN_API_ACCESS_TOKEN_TTL_SECONDS = 30;

/** The longest an ID token lives (ID_TOKEN_TTL's ceiling). */
export const MAX_ID_TOKEN_LIFETIME_SECONDS = DAY;

/** Admin API tokens (gatehouse:admin) are for automation: short-lived, so a leaked one is worth little. */
export const ADMIN_ACCESS_TOKEN_TTL_SECONDS = 5 * MINUTE;

/**
 * The longest a token made by token exchange (RFC 8693) lives: one call chain's worth. It is
 * also never longer than the downstream API's own lifetime, nor than the token it was exchanged for.
 */
export const EXCHANGED_ACCESS_TOKEN_TTL_SECONDS = 5 * MINUTE;

/** oidc-provider's default clock tolerance, used for our own JWT checks too. */
export const CLOCK_TOLERANCE_SECONDS = 15;

/**
 * How long a revoked JWT access token's id is refused (and kept; the janitor then deletes it): past
 * this, the token has expired anyway, even at a verifier whose clock runs behind.
 */
export const REVOKED_JWT_MEMORY_SECONDS = MAX_ACCESS_TOKEN_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS;

/**
 * How long a retired signing key stays published: every JWT it signed (access and ID tokens, at
 * most a day) must still verify, plus one key refresh interval of lag between instances.
 */
export function signingKeyRetentionSeconds(keyRefreshIntervalSeconds: number): number {
  return Math.max(MAX_ACCESS_TOKEN_LIFETIME_SECONDS, MAX_ID_TOKEN_LIFETIME_SECONDS) + keyRefreshIntervalSeconds;
}

/** A rotated-out client secret keeps working this long unless the rotation says otherwise. */
export const DEFAULT_SECRET_OVERLAP_SECONDS = DAY;

/** The longest a rotated-out client secret may keep working. */
export const MAX_SECRET_OVERLAP_SECONDS = 30 * DAY;

/** Seconds in words, for messages and help ("30 days", "1 day", "1 hour"). */
export function inWords(seconds: number): string {
  const [unit, size] = seconds % DAY === 0 && seconds > 0 ? ['day', DAY] : seconds % HOUR === 0 && seconds > 0 ? ['hour', HOUR] : ['second', 1];
  const count = seconds / size;
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * The longest id, grant id or other handle oidc-provider's storage (and revocation by grant) will
 * look up. Longer than any id oidc-provider issues by orders of magnitude; the bound exists because
 * AccessToken.find and friends are handed raw request input, and hashing megabytes per request
 * would be a cheap way to burn our CPU. One value everywhere: a grant id the storage accepts must
 * be one revocation accepts too, or revoking it would silently do nothing.
 */
export const MAX_HANDLE_LENGTH = 4096;

/** How long a device code and its user code live (RFC 8628): long enough to reach another screen. */
export const DEVICE_CODE_TTL_SECONDS = 600;
