import type { Middleware } from 'koa';
import { RESUME_PATH } from '../oidc/internals.js';

/**
 * GET /auth/<uid> resumes a sign-in and reads nothing from its query string. oidc-provider 9.13's
 * error handler nevertheless looks a client up from that query when the resume fails, and then
 * reads request parameters that a resume never has: `GET /auth/x?client_id=<any registered
 * client>` became a 500 with a stack trace in the log. Dropping the query gives the resume its
 * ordinary "this sign-in has expired" page (src/oidc/internals.ts, RESUME_PATH).
 */
export function resumeWithoutQuery(resumePath: RegExp = RESUME_PATH): Middleware {
  return async function dropResumeQuery(ctx, next) {
    if (ctx.method === 'GET' && ctx.querystring && resumePath.test(ctx.path)) ctx.querystring = '';
    return next();
  };
}
