// What every account page shares: who is signed in to this browser, the rules every form obeys
// (small urlencoded body, CSRF token, 303 after), and the only messages a redirect may carry.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type { User } from '../accounts/users.js';
import type { Actor } from '../audit/events.js';
import { refusedByDatabase } from '../db/errors.js';
import { isStorableText } from '../db/text.js';
import { isGatehouseError, type GatehouseError } from '../errors.js';
import { requireCsrfToken } from '../http/csrf.js';
import type { SurfaceDependencies } from '../http/surfaces.js';

/** The person the page is for: only ever the one signed in to this browser. */
export interface AccountHolder {
  person: User;
  actor: Actor;
  /** This browser's session, as session listings name it. */
  sessionHandle: string;
}

export function holderOf(ctx: Context): AccountHolder {
  return ctx.state.accountHolder as AccountHolder;
}

/**
 * What a redirect after a form may say, by key: the query names a message, it never carries one,
 * so nobody can make these pages show text of their choosing.
 */
const NOTICES = {
  'app-revoked': 'Access removed. The app can no longer use your account unless you allow it again.',
  'session-ended': 'That session is signed out.',
  'others-ended': 'You are signed out of all your other sessions.',
  'password-changed': 'Your password is changed.',
  'password-changed-others-ended': 'Your password is changed, and your other sessions are signed out.',
  'password-changed-apps-ended': 'Your password is changed, and apps on other devices lost their offline access.',
  'password-changed-all-ended': 'Your password is changed, your other sessions are signed out, and apps on other devices lost their offline access.',
} as const;

export type NoticeKey = keyof typeof NOTICES;

export function noticeOf(ctx: Context): string | undefined {
  const key = ctx.query.notice;
  return typeof key === 'string' && Object.hasOwn(NOTICES, key) ? NOTICES[key as NoticeKey] : undefined;
}

/** A problem to show on the page the form was on, with the status it is answered with. */
export interface Problem {
  status: 400 | 404 | 429 | 503;
  message: string;
  /** The form field the message is about, for aria-describedby. */
  field?: string;
}

export function problemFrom(error: GatehouseError, notFoundMessage: string): Problem {
  if (error.code === 'not_found') return { status: 404, message: notFoundMessage };
  return { status: 400, message: error.message, ...(error.field ? { field: error.field } : {}) };
}

/** A single text value of the posted form; duplicates, NULs and over-long values count as none. */
export function formValue(ctx: Context, name: string, maxLength = 200): string | undefined {
  const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
  const value = body[name];
  return typeof value === 'string' && value.length > 0 && value.length <= maxLength && isStorableText(value) ? value : undefined;
}

/** After a POST, always 303 so the browser follows with a GET and never re-posts the form. */
export function seeOther(ctx: Context, location: string, notice?: NoticeKey): void {
  ctx.redirect(notice ? `${location}?notice=${notice}` : location);
  ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
}

/** A date as people read it, and as machines do (the <time datetime> attribute). */
export interface ShownDate {
  iso: string;
  text: string;
}

const DATE_FORMAT = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

export function shownDate(date: Date): ShownDate {
  return { iso: date.toISOString(), text: `${DATE_FORMAT.format(date)} UTC` };
}

/** The steps every account route is built from. */
export function accountGuard(deps: SurfaceDependencies) {
  const { pages, csrf } = deps;

  // Only these routes parse bodies, and only small urlencoded forms.
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '8kb', encoding: 'utf-8' });

  const requireCsrf = requireCsrfToken(csrf, pages, {
    heading: 'This form has expired',
    message: 'For your security the form could not be accepted, and nothing was changed.',
    hint: 'Open your account page again and retry.',
  });

  /**
   * Lets the request through only for a person signed in to this browser who may still sign in:
   * a disabled or deleted person is as good as signed out. Anyone else is sent to sign in and
   * brought back to `page` (for a GET, the very address asked for).
   */
  function signedIn(page?: string) {
    return async function requireSignedIn(ctx: Context, next: Next) {
      const current = await deps.signIn.current(ctx);
      const person = current ? await deps.users.findById(current.accountId) : undefined;
      if (!current || !person || person.disabledAt) {
        const isRead = ctx.method === 'GET' || ctx.method === 'HEAD';
        // A session whose person is gone or disabled must not be taken as signed in by the
        // provider either: prompt=login makes it ask for the password (which then refuses them).
        deps.signIn.begin(ctx, isRead ? ctx.originalUrl : page ?? '/account', { forceLogin: current !== undefined });
        // A form posted while signed out changes nothing; the browser goes to sign in with a GET.
        if (!isRead) ctx.status = 303;
        return;
      }
      ctx.state.accountHolder = {
        person,
        actor: { type: 'user', id: person.id, ip: ctx.ip },
        sessionHandle: current.sessionHandle,
      } satisfies AccountHolder;
      return next();
    };
  }

  /**
   * Input a page did not catch itself (a malformed address, a value PostgreSQL refused): a page
   * saying so, never a 500. Anything else goes on to the server's error boundary.
   */
  async function friendlyErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      const refused = isGatehouseError(error) ? error : refusedByDatabase(error, deps.logger, ctx.state.requestId);
      if (!refused || (refused.code !== 'invalid_input' && refused.code !== 'not_found')) throw error;
      const notFound = refused.code === 'not_found';
      pages.error(ctx, {
        status: notFound ? 404 : 400,
        heading: notFound ? 'Not found' : 'This page cannot be shown',
        message: notFound ? 'There is nothing of yours at this address.' : 'The address or the form holds something Gatehouse cannot use.',
        hint: 'Open your account page again and retry.',
      });
    }
  }

  return { parseForm, requireCsrf, signedIn, friendlyErrors };
}
