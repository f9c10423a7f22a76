// A database that cannot answer is not the request's fault and not a bug: the caller is told so
// (503 with Retry-After), in the form it reads — OAuth error JSON or the friendly page — and the log
// gets one line saying why, not a stack trace per request.
import type { Context } from 'koa';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../db/errors.js';
import type { Pages } from './pages.js';
import type { Logger } from '../logger.js';
import { answerUnavailable } from './unavailable.js';

/**
 * Marks a request whose error oidc-provider already answered (as a 500 server_error) when the error
 * was the database's; the error boundary then answers it as an outage. oidc-provider catches
 * errors inside its own routes, so this is the one way to see what it met.
 */
export function noteDatabaseOutage(ctx: { state?: Record<string, unknown> }, error: unknown): boolean {
  if (!isDatabaseUnavailable(error) || !ctx.state) return false;
  ctx.state.databaseUnavailable = error;
  return true;
}

/** The error that made oidc-provider answer 500, when it was the database's. */
export function databaseOutageOf(ctx: Context): unknown {
  return ctx.state.databaseUnavailable;
}

export function answerDatabaseOutage(ctx: Context, error: unknown, pages: Pages, logger: Logger, asHtml: boolean): void {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  logger.warn({
    event: 'database.unavailable',
    requestId: ctx.state.requestId,
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message.split('\n')[0] : undefined,
  });
  answerUnavailable(ctx, pages, 'database', DATABASE_RETRY_AFTER_SECONDS, asHtml);
}
