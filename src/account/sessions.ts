// "Active sessions": every browser the person is signed in on, this one marked, and signing out
// of one of them or of all the others. Ending a session signs out of the apps signed in through it.
import type { Context } from 'koa';
import { isGatehouseError } from '../errors.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import type { SessionInfo } from '../sessions/store.js';
import { formValue, problemOf, type Problem } from '../http/forms.js';
import { shownDate, type ShownDate } from '../presentation/dates.js';
import { describeDevice } from '../presentation/devices.js';
import { holderOf, noticeOf, seeOther } from './guard.js';

export const SESSIONS_PAGE = '/account/sessions';

interface ShownSession {
  handle: string;
  device: string;
  ip: string;
  signedIn: ShownDate;
  lastActive: ShownDate;
  isThisDevice: boolean;
}

const NO_SUCH_SESSION = 'problem.noSuchSession';

export function sessionPages(deps: SurfaceDependencies) {
  const { selfService, pages, csrf } = deps;

  function shown(session: SessionInfo, thisDevice: string, locale: string): ShownSession {
    const { t } = pages.languages.translator(locale);
    return {
      handle: session.id,
      device: describeDevice(session.userAgent, locale),
      ip: session.ip ?? t('account.sessions.unknownAddress'),
      signedIn: shownDate(session.createdAt, locale),
      lastActive: shownDate(session.lastActiveAt, locale),
      isThisDevice: session.id === thisDevice,
    };
  }

  async function renderSessions(ctx: Context, problem?: Problem) {
    const { person, sessionHandle } = holderOf(ctx);
    const cursor = problem ? undefined : (typeof ctx.query.cursor === 'string' ? ctx.query.cursor : undefined);
    let page;
    try {
      page = await selfService.listSessions(person.id, cursor === undefined ? {} : { cursor });
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return pages.error(ctx, { status: 400, heading: 'error.list.heading', message: 'error.list.message', hint: 'error.list.hint.sessions' });
    }
    const sessions = page.items.map((session) => shown(session, sessionHandle, pages.languages.forRequest(ctx)));
    // This device first: it is the one people look for, and the one they cannot sign out of here by mistake.
    sessions.sort((a, b) => Number(b.isThisDevice) - Number(a.isThisDevice));
    pages.render(ctx, 'account/sessions', 'account.sessions.title', {
      person,
      sessions,
      hasOthers: sessions.some((session) => !session.isThisDevice) || page.nextCursor !== null,
      nextPage: page.nextCursor ? `${SESSIONS_PAGE}?cursor=${encodeURIComponent(page.nextCursor)}` : null,
      notice: problem ? undefined : noticeOf(ctx),
      error: problem?.message,
      endAction: `${SESSIONS_PAGE}/end`,
      endOthersAction: `${SESSIONS_PAGE}/end-others`,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  function showSessions(ctx: Context) {
    return renderSessions(ctx);
  }

  async function endSession(ctx: Context) {
    const { actor, sessionHandle } = holderOf(ctx);
    const handle = formValue(ctx, 'session');
    if (handle === undefined) return renderSessions(ctx, { status: 404, message: NO_SUCH_SESSION });
    try {
      await selfService.endOwnSession(actor, handle);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return renderSessions(ctx, problemOf(error, NO_SUCH_SESSION));
    }
    // Ending this browser's own session signs it out: the account page then asks to sign in again.
    if (handle === sessionHandle) return seeOther(ctx, '/account');
    seeOther(ctx, SESSIONS_PAGE, 'session-ended');
  }

  async function endOtherSessions(ctx: Context) {
    const { actor, sessionHandle } = holderOf(ctx);
    try {
      await selfService.endOtherSessions(actor, sessionHandle);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return renderSessions(ctx, problemOf(error, NO_SUCH_SESSION));
    }
    seeOther(ctx, SESSIONS_PAGE, 'others-ended');
  }

  return { showSessions, endSession, endOtherSessions };
}
