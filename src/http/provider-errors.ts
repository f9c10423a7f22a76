// oidc-provider answers whatever its routes meet itself: anything it did not raise on purpose
// becomes a 500 server_error. Two kinds are no fault of the server's, and the error boundary
// (app.ts) answers them as it answers the same errors from our own routes: the database being
// unavailable (503, retry) and a value the database refused (the caller's input, 400). Its
// server_error event (oidc/events.ts) marks such a request; this is the one way to see what it met.
// The mark is left on our request's state through the ctx the event is given (src/oidc/internals.ts).
import type { Context } from 'koa';
import { isDatabaseUnavailable, isDataException } from '../db/errors.js';
import { requestState } from '../oidc/internals.js';

const MARK = 'providerMet';

/** Marks the request when the error is one the error boundary answers; true if it did. */
export function markForErrorBoundary(ctx: { state?: Record<string, unknown> }, error: unknown): boolean {
  const state = requestState(ctx);
  if (!state || !(isDatabaseUnavailable(error) || isDataException(error))) return false;
  state[MARK] = error;
  return true;
}

/** The error oidc-provider answered with a 500 that the error boundary should answer instead. */
export function markedError(ctx: Context): unknown {
  return ctx.state[MARK];
}
