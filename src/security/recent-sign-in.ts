// Acts that add a way into an account (an authenticator app, a passkey) or change what an admin
// administers need a sign-in of the last 15 minutes, not only a browser that is still signed in.
// A session taken over (a stolen cookie, a browser left open) must not be able to plant a way back
// in that outlives the session; an admin's action must not ride on a sign-in of yesterday. A
// stale session is sent to sign in again with max_age, which asks for every factor the person
// has, as any app's max_age would.

/** How recent a sign-in these acts need. */
export const RECENT_SIGN_IN_SECONDS = 15 * 60;

/**
 * Whether a session that signed in at `authTime` (seconds, the session's own record) did so in
 * the last RECENT_SIGN_IN_SECONDS at `nowMs`. A session with no sign-in time is never recent.
 */
export function signedInRecently(authTime: number | undefined, nowMs: number): boolean {
  // Whole seconds, as oidc-provider judges max_age: in fractions, the second after the limit was
  // stale here and fresh there, and the sign-in it was sent to came straight back, again and again.
  return authTime !== undefined && Math.floor(nowMs / 1000) - authTime <= RECENT_SIGN_IN_SECONDS;
}
