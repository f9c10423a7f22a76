// What every console route shares: who may open it, the form parser and CSRF check for its
// POSTs, the page frame (nav, confirmation, problem), and how an action's refusal reaches the
// admin (the page again, with the reason) instead of a 500.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import type { User } from '../../accounts/users.js';
import type { Actor } from '../../audit/events.js';
import { refusedByDatabase } from '../../db/errors.js';
import { isGatehouseError, type ErrorCode, type GatehouseError } from '../../errors.js';
import type { SurfaceDependencies } from '../../http/surfaces.js';
import type { AdminOperations } from '../operations.js';
import { CONFIRMATIONS, type Confirmation } from './present.js';

export type Section = 'people' | 'apps' | 'apis' | 'keys' | 'audit';

const NAV: Array<{ section: Section; label: string; href: string }> = [
  { section: 'people', label: 'People', href: '/admin/people' },
  { section: 'apps', label: 'Apps', href: '/admin/apps' },
  { section: 'apis', label: 'APIs', href: '/admin/apis' },
  { section: 'keys', label: 'Signing keys', href: '/admin/keys' },
  { section: 'audit', label: 'Audit log', href: '/admin/audit' },
];

const STATUS_OF: Record<ErrorCode, number> = {
  invalid_input: 400,
  weak_password: 400,
  not_found: 404,
  conflict: 409,
  email_taken: 409,
  embedded_database_busy: 503,
};

/** A refusal to show on the page it came from. */
export interface Problem {
  status: number;
  message: string;
  /** The form field it is about, when there is one. */
  field?: string | undefined;
}

export function problemOf(error: GatehouseError): Problem {
  return { status: STATUS_OF[error.code], message: error.message, field: error.field };
}

type Show = (ctx: Context, problem?: Problem) => Promise<void> | void;

/** A page as the last middleware of a GET route (which must not take `next` for a problem). */
export function page(show: Show): Middleware {
  return async function showPage(ctx: Context) {
    await show(ctx);
  };
}

/** A text field of a form or query string; anything else (absent, repeated) reads as empty. */
export function field(source: unknown, name: string): string {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

export function formBody(ctx: Context): Record<string, unknown> {
  return (ctx.request as { body?: Record<string, unknown> }).body ?? {};
}

/** The cursor a "Next page" link carried, if any. */
export function cursorParam(ctx: Context, name = 'cursor'): string | undefined {
  return field(ctx.query, name) || undefined;
}

export class ConsoleKit {
  readonly ops: AdminOperations;

  // Only console POSTs parse bodies, and only small urlencoded forms.
  readonly #parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });

  constructor(readonly deps: SurfaceDependencies) {
    this.ops = deps.operations;
  }

  /** The middleware in front of every console page (GET). */
  get page(): Middleware[] {
    return [this.requireAdmin, this.friendlyErrors];
  }

  /** The middleware in front of every console form (POST): from an admin (asked first, before the body is read), parsed, CSRF-checked. */
  get form(): Middleware[] {
    return [this.requireAdmin, this.#parseForm, this.requireCsrf, this.friendlyErrors];
  }

  /**
   * Signed in, an admin, not disabled. Someone not signed in is sent to sign in and brought back
   * (a form, which cannot be replayed after a sign-in, is refused as expired instead).
   */
  readonly requireAdmin = async (ctx: Context, next: Next) => {
    const signedIn = await this.deps.signIn.current(ctx);
    if (!signedIn) {
      if (ctx.method === 'GET' || ctx.method === 'HEAD') return this.deps.signIn.begin(ctx, ctx.originalUrl);
      return this.formExpired(ctx);
    }
    const admin = await this.deps.users.findById(signedIn.accountId);
    if (!admin || !admin.isAdmin || admin.disabledAt) {
      return this.deps.pages.render(ctx, 'admin/forbidden', 'Administrators only', { requestId: ctx.state.requestId }, 403);
    }
    ctx.state.console = { admin, sessionHandle: signedIn.sessionHandle, actor: { type: 'user', id: admin.id, ip: ctx.ip } } satisfies ConsoleState;
    await next();
  };

  readonly requireCsrf = (ctx: Context, next: Next) => {
    if (!this.deps.csrf.verify(ctx, formBody(ctx).csrf)) return this.formExpired(ctx);
    return next();
  };

  /**
   * What an action refused and no route showed on its own page: a console page saying why. A value
   * PostgreSQL refused (src/db/errors.ts) is refused input too, never a 500.
   */
  readonly friendlyErrors = async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const refused = isGatehouseError(error) ? error : refusedByDatabase(error, this.deps.logger, ctx.state.requestId);
      if (!refused) throw error;
      const problem = problemOf(refused);
      this.render(ctx, undefined, 'admin/problem', problem.status === 404 ? 'Not found' : 'Not possible', { heading: problem.status === 404 ? 'Not found' : 'That did not work', message: problem.message }, problem.status);
    }
  };

  /** Runs the action; if AdminOperations refuses it, shows the page again with the reason. */
  reshowOnError(show: Show): Middleware {
    return async function reshowWithProblem(ctx: Context, next: Next) {
      try {
        await next();
      } catch (error) {
        if (!isGatehouseError(error)) throw error;
        await show(ctx, problemOf(error));
      }
    };
  }

  render(ctx: Context, section: Section | undefined, view: string, title: string, data: Record<string, unknown>, status = 200): void {
    const { admin } = state(ctx);
    const done = field(ctx.query, 'done');
    this.deps.pages.render(ctx, view, title, {
      nav: NAV.map((item) => ({ ...item, current: item.section === section })),
      adminEmail: admin.email,
      // Only fixed messages: a confirmation never echoes what the address says.
      notice: status < 400 && Object.hasOwn(CONFIRMATIONS, done) ? CONFIRMATIONS[done as Confirmation] : undefined,
      csrf: this.deps.csrf.token(ctx),
      problem: undefined,
      ...data,
    }, status);
  }

  notFound(ctx: Context, section: Section, what: string): void {
    this.render(ctx, section, 'admin/problem', 'Not found', { heading: `No such ${what}`, message: `There is no ${what} at this address. It may have been deleted.` }, 404);
  }

  formExpired(ctx: Context): void {
    this.deps.pages.error(ctx, {
      status: 403,
      heading: 'This form has expired',
      message: 'For your security the form could not be accepted, and nothing was changed.',
      hint: 'Open the admin console again, reload the page and try once more.',
    });
  }
}

export interface ConsoleState {
  admin: User;
  /** The admin's own session, marked in their own session list. */
  sessionHandle: string;
  actor: Actor;
}

export function state(ctx: Context): ConsoleState {
  return ctx.state.console as ConsoleState;
}

export function actorOf(ctx: Context): Actor {
  return state(ctx).actor;
}

/** After a POST, always 303, so the browser follows with a GET and never re-posts the form. */
export function seeOther(ctx: Context, location: string, done?: Confirmation): void {
  ctx.redirect(done ? `${location}${location.includes('?') ? '&' : '?'}done=${done}` : location);
  ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
}
