// "Connected apps": every app the person allowed, what it may do in plain words, and Revoke.
import type { Context } from 'koa';
import { isGatehouseError } from '../errors.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { formValue, problemOf, type Problem } from '../http/forms.js';
import { shownDate, type ShownDate } from '../presentation/dates.js';
import { grantInWords, type DescribedScope } from '../presentation/scopes.js';
import type { ConnectedApp } from './self-service.js';
import { holderOf, noticeOf, seeOther } from './guard.js';

export const APPS_PAGE = '/account/apps';

interface ShownApp {
  clientId: string;
  name: string;
  scopes: DescribedScope[];
  apis: Array<{ name: string; scopes: DescribedScope[] }>;
  granted: ShownDate;
  lastUsed: ShownDate | null;
}

const NOT_CONNECTED = 'problem.appNotConnected';

export function appPages(deps: SurfaceDependencies) {
  const { selfService, pages, csrf } = deps;

  /** The APIs the apps' grants name, for each one's own words about its scopes. */
  async function apisOf(apps: ConnectedApp[]) {
    const identifiers = [...new Set(apps.flatMap((app) => app.apis.map((api) => api.identifier)))];
    const found = await Promise.all(identifiers.map((identifier) => selfService.findApi(identifier)));
    return new Map(identifiers.map((identifier, i) => [identifier, found[i]]));
  }

  async function shownApps(apps: ConnectedApp[], locale: string): Promise<ShownApp[]> {
    const known = await apisOf(apps);
    const { t } = pages.languages.translator(locale);
    return apps.map((app) => ({
      clientId: app.clientId,
      name: app.clientName ?? t('account.apps.unregistered'),
      ...grantInWords(app, known, locale),
      granted: shownDate(app.createdAt, locale),
      lastUsed: app.lastUsedAt ? shownDate(app.lastUsedAt, locale) : null,
    }));
  }

  async function renderApps(ctx: Context, problem?: Problem) {
    const { person } = holderOf(ctx);
    const cursor = problem ? undefined : (typeof ctx.query.cursor === 'string' ? ctx.query.cursor : undefined);
    let page;
    try {
      page = await selfService.listConnectedApps(person.id, cursor === undefined ? {} : { cursor });
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return pages.error(ctx, { status: 400, heading: 'error.list.heading', message: 'error.list.message', hint: 'error.list.hint.apps' });
    }
    pages.render(ctx, 'account/apps', 'account.apps.title', {
      person,
      apps: await shownApps(page.items, pages.languages.forRequest(ctx)),
      nextPage: page.nextCursor ? `${APPS_PAGE}?cursor=${encodeURIComponent(page.nextCursor)}` : null,
      notice: problem ? undefined : noticeOf(ctx),
      error: problem?.message,
      revokeAction: `${APPS_PAGE}/revoke`,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  async function revokeApp(ctx: Context) {
    const { actor } = holderOf(ctx);
    const clientId = formValue(ctx, 'app');
    if (clientId === undefined) return renderApps(ctx, { status: 404, message: NOT_CONNECTED });
    try {
      await selfService.revokeConnectedApp(actor, clientId);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return renderApps(ctx, problemOf(error, NOT_CONNECTED));
    }
    seeOther(ctx, APPS_PAGE, 'app-revoked');
  }

  function showApps(ctx: Context) {
    return renderApps(ctx);
  }

  return { showApps, revokeApp };
}
