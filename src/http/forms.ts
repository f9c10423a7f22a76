// The kit every HTML form Gatehouse serves is built from (sign-in and consent, the account pages,
// the admin console): a small urlencoded body, the CSRF check with one "form expired" answer, a
// refusal shown on the page it came from with one status per error code, and the 303 after a
// POST, whose address may name a message from a fixed list but never carry one.
import type { Context, Middleware, Next } from 'koa';
import { isStorableText } from '../db/text.js';
import type { ErrorCode, GatehouseError } from '../errors.js';
import { bodyReader } from './body.js';
import type { CsrfProtection } from './csrf.js';
import type { Pages } from './pages.js';
import type { Words } from '../i18n/catalogs.js';

/** Only form routes parse bodies, and only small urlencoded forms: oidc-provider parses its own. */
export function formParser(): Middleware {
  return bodyReader({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });
}

export function formBody(ctx: Context): Record<string, unknown> {
  return (ctx.request as { body?: Record<string, unknown> }).body ?? {};
}

/** A text field of a form or query string; anything else (absent, repeated) reads as empty. */
export function field(source: unknown, name: string): string {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/** A single text value of the posted form; duplicates, NULs and over-long values count as none. */
export function formValue(ctx: Context, name: string, maxLength = 200): string | undefined {
  const value = formBody(ctx)[name];
  return typeof value === 'string' && value.length > 0 && value.length <= maxLength && isStorableText(value) ? value : undefined;
}

/**
 * A form without a token of this browser's (stale, forged, or sent after signing out): nothing is
 * done, and the person is told where to start again (`hint`, a catalog key: the only part that differs by area).
 */
export function formExpired(ctx: Context, pages: Pages, hint: string): void {
  pages.error(ctx, {
    status: 403,
    heading: 'error.form_expired.heading',
    message: 'error.form_expired.message',
    hint,
  });
}

/** Middleware for a form route (after its body parser): the form's `csrf` field must be a token of this browser's. */
export function csrfGuard(csrf: CsrfProtection, pages: Pages, hint: string): Middleware {
  return function checkCsrfToken(ctx: Context, next: Next) {
    if (!csrf.verify(ctx, formBody(ctx).csrf)) return formExpired(ctx, pages, hint);
    return next();
  };
}

/** A refusal to show on the page the form was on, with the status it is answered with. */
export interface Problem {
  status: number;
  /** A catalog key or message; a refused act's own message (GatehouseError) is shown as it is. */
  message: Words;
  /** The form field it is about, for aria-describedby. */
  field?: string | undefined;
}

const STATUS_OF: Record<ErrorCode, number> = {
  invalid_input: 400,
  weak_password: 400,
  not_found: 404,
  conflict: 409,
  email_taken: 409,
  embedded_database_busy: 503,
};

/** A refused act as a problem on its page; `notFound` words "no such thing" for the page's reader. */
export function problemOf(error: GatehouseError, notFound?: Words): Problem {
  if (error.code === 'not_found' && notFound !== undefined) return { status: 404, message: notFound };
  return { status: STATUS_OF[error.code], message: error.words ?? error.message, ...(error.field ? { field: error.field } : {}) };
}

/** After a POST, always 303, so the browser follows with a GET and never re-posts the form. */
export function seeOther(ctx: Context, location: string): void {
  ctx.redirect(location);
  ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
}

/**
 * The messages a page may show after a form, by key: the address names a message, it never
 * carries one, so nobody can make a page show text of their choosing. Each area keeps its own
 * list and the query parameter its addresses have always used.
 */
export class Notices<Key extends string> {
  constructor(private readonly parameter: string, private readonly messages: Readonly<Record<Key, string>>) {}

  /** 303 to `location`, naming the message to show there. */
  readonly seeOther = (ctx: Context, location: string, key?: Key): void => {
    seeOther(ctx, key === undefined ? location : `${location}${location.includes('?') ? '&' : '?'}${this.parameter}=${key}`);
  };

  /** The message the address names, if it names one of the list. */
  of(ctx: Context): string | undefined {
    const key = field(ctx.query, this.parameter);
    return Object.hasOwn(this.messages, key) ? this.messages[key as Key] : undefined;
  }
}
