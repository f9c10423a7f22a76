// A database that cannot answer is not the request's fault and not a bug: the caller is told so
// (503 with Retry-After), in the form it reads — OAuth error JSON or the friendly page — and the log
// gets one line saying why, not a stack trace per request.
import type { Context } from 'koa';
import { DATABASE_RETRY_AFTER_SECONDS } from '../db/errors.js';
import type { Pages } from './pages.js';
import type { Logger } from '../logger.js';
import { answerUnavailable } from './unavailable.js';

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
