// What every console route shares: who may open it, the forms kit's steps for its POSTs
// (src/http/forms.ts) with this area's way back, the page frame (nav, confirmation, problem), and
// how an action's refusal reaches the admin (the page again, with the reason) instead of a 500.
import type { Context, Middleware, Next } from 'koa';
import type { User } from '../../people/users.js';
import type { Actor } from '../../audit/events.js';
import { refusedByDatabase } from '../../db/errors.js';
import { isGatehouseError } from '../../errors.js';
import { field, csrfGuard, formExpired, formParser, problemOf, type Problem } from '../../http/forms.js';
import type { SurfaceDependencies } from '../../http/surfaces.js';
import type { AdminOperations } from '../operations.js';
import { CONFIRMATIONS } from './present.js';
import { ACR_TWO_FACTORS, satisfies } from '../../factors/levels.js';
import { RECENT_SIGN_IN_SECONDS, signedInRecently } from '../../security/recent-sign-in.js';

export type Section = 'people' | 'apps' | 'apis' | 'keys' | 'audit';

/** Labels are catalog keys, like every word the console shows (locales/, `admin.` keys). */
const NAV: Array<{ section: Section; label: string; href: string }> = [
  { section: 'people', label: 'admin.nav.people', href: '/admin/people' },
  { section: 'apps', label: 'admin.nav.apps', href: '/admin/apps' },
  { section: 'apis', label: 'admin.nav.apis', href: '/admin/apis' },
  { section: 'keys', label: 'admin.nav.keys', href: '/admin/keys' },
  { section: 'audit', label: 'admin.nav.audit', href: '/admin/audit' },
];

/** Where to start again after a refused form. */
const WAY_BACK = 'admin.wayBack';

type Show = (ctx: Context, problem?: Problem) => Promise<void> | void;

/** A page as the last middleware of a GET route (which must not take `next` for a problem). */
export function page(show: Show): Middleware {
  return async function showPage(ctx: Context) {
    await show(ctx);
  };
}

/** The cursor a "Next page" link carried, if any. */
export function cursorParam(ctx: Context, name = 'cursor'): string | undefined {
  return field(ctx.query, name) || undefined;
}

export class ConsoleKit {
  readonly ops: AdminOperations;

  readonly #parseForm = formParser();
  readonly #requireCsrf: Middleware;

  constructor(readonly deps: SurfaceDependencies) {
    this.ops = deps.operations;
    this.#requireCsrf = csrfGuard(deps.csrf, deps.pages, WAY_BACK);
  }

  /** The middleware in front of every console page (GET). */
  get page(): Middleware[] {
    return [this.requireAdmin, this.friendlyErrors];
  }

  /** The middleware in front of every console form (POST): from an admin (asked first, before the body is read), parsed, CSRF-checked. */
  get form(): Middleware[] {
    return [this.requireAdmin, this.#parseForm, this.#requireCsrf, this.friendlyErrors];
  }

  /**
   * Signed in, an admin, not disabled, and (ADMIN_REQUIRE_SECOND_FACTOR) with a second factor. Someone not signed in is sent to sign in and brought back
   * (a form, which cannot be replayed after a sign-in, is refused as expired instead).
   */
  readonly requireAdmin = async (ctx: Context, next: Next) => {
    const signedIn = await this.deps.signIn.current(ctx);
    if (!signedIn) {
      if (ctx.method === 'GET' || ctx.method === 'HEAD') return this.deps.signIn.begin(ctx, ctx.originalUrl);
      return formExpired(ctx, this.deps.pages, WAY_BACK);
    }
    const admin = await this.deps.users.findById(signedIn.accountId);
    if (!admin || !admin.isAdmin || admin.disabledAt) {
      return this.deps.pages.render(ctx, 'admin/forbidden', 'admin.forbidden.title', { requestId: ctx.state.requestId }, 403);
    }
    // ADMIN_REQUIRE_SECOND_FACTOR: the console needs a two-factor sign-in, and an action one of
    // the last 15 minutes. Otherwise the admin is sent to sign in for it (only the missing step
    // when the session is recent enough), and comes back to the page; a form is not replayed.
    if (this.deps.config.adminSecondFactor) {
      const isRead = ctx.method === 'GET' || ctx.method === 'HEAD';
      const weak = !satisfies(signedIn.acr, ACR_TWO_FACTORS);
      const stale = !isRead && !signedInRecently(signedIn.authTime, (this.deps.now ?? Date.now)());
      if (weak || stale) {
        this.deps.signIn.begin(ctx, isRead ? ctx.originalUrl : '/admin', {
          acr: ACR_TWO_FACTORS,
          ...(stale ? { maxAgeSeconds: RECENT_SIGN_IN_SECONDS } : {}),
        });
        if (!isRead) ctx.status = 303;
        return;
      }
    }
    ctx.state.console = { admin, sessionHandle: signedIn.sessionHandle, actor: { type: 'user', id: admin.id, ip: ctx.ip } } satisfies ConsoleState;
    await next();
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
      this.render(ctx, undefined, 'admin/problem', problem.status === 404 ? 'admin.notFound.title' : 'admin.notPossible.title', { heading: problem.status === 404 ? 'admin.notFound.title' : 'admin.notPossible.heading', message: problem.message }, problem.status);
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

  /**
   * `title` is a catalog key, interpolated with `data` (`admin.named.title` shows a name); the
   * language is the request's, as on every page (src/i18n/negotiation.ts).
   */
  render(ctx: Context, section: Section | undefined, view: string, title: string, data: Record<string, unknown>, status = 200): void {
    const { admin } = state(ctx);
    this.deps.pages.render(ctx, view, title, {
      nav: NAV.map((item) => ({ ...item, current: item.section === section })),
      adminEmail: admin.email,
      // Only fixed messages: a confirmation never echoes what the address says.
      notice: status < 400 ? CONFIRMATIONS.of(ctx) : undefined,
      csrf: this.deps.csrf.token(ctx),
      problem: undefined,
      ...data,
    }, status);
  }

  /** The language of the request's page, chosen as for every other page (src/i18n/negotiation.ts). */
  locale(ctx: Context): string {
    return this.deps.pages.languages.forRequest(ctx);
  }

  /** `what` names the kind of thing in catalog keys: `admin.notFound.person.heading` and `.message`. */
  notFound(ctx: Context, section: Section, what: 'person' | 'app' | 'api'): void {
    this.render(ctx, section, 'admin/problem', 'admin.notFound.title', { heading: `admin.notFound.${what}.heading`, message: `admin.notFound.${what}.message` }, 404);
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

/** After a POST, 303 to `location`, with the confirmation to show there. */
export const seeOther = CONFIRMATIONS.seeOther;
