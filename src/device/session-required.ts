// oidc-provider keeps the device flow's xsrf secret and its progress in the browser's session
// (the `session` cookie). A code posted to /device, or a return to /device/<uid>, that comes
// without one answered 500: the provider's error page made a new xsrf secret on a session never
// saved, then could not save it. That happens when cookies are blocked, or when a form is posted
// from another site (SameSite=Lax leaves the cookie off). It also happens with a cookie signed by
// a key since retired from COOKIE_KEYS. Such a request is sent to the code page, which starts a
// session, to begin again. A session cookie that is signed but names a session that is gone is
// the provider's to answer, and it does, with its page.
import type { Context, Middleware, Next } from 'koa';
import { seeOther } from '../http/forms.js';

export interface DeviceFlowPaths {
  /** Where a person types the code (oidc-provider's code_verification). */
  codeVerification: string;
}

export function deviceFlowNeedsASession(paths: DeviceFlowPaths, sessionCookie: string): Middleware {
  const resumePrefix = `${paths.codeVerification}/`;
  return function requireDeviceSession(ctx: Context, next: Next) {
    const posted = ctx.method === 'POST' && ctx.path === paths.codeVerification;
    // The provider takes any GET below the code page for a return, /device/auth included (the
    // device's own endpoint, which only POST reaches).
    const resumed = (ctx.method === 'GET' || ctx.method === 'HEAD') && ctx.path.startsWith(resumePrefix);
    if ((!posted && !resumed) || ctx.cookies.get(sessionCookie, { signed: true })) return next();
    return seeOther(ctx, paths.codeVerification);
  };
}
