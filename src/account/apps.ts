// "Connected apps": every app the person allowed, what it may do in plain words, and Revoke.
import type { Context } from 'koa';
import { isGatehouseError } from '../errors.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { describeApiScopes, describeOidcScopes, type DescribedScope } from '../interaction/scopes.js';
import type { ConnectedApp } from './self-service.js';
import { formValue, holderOf, noticeOf, problemFrom, seeOther, shownDate, type Problem, type ShownDate } from './guard.js';

export const APPS_PAGE = '/account/apps';

interface ShownApp {
  clientId: string;
  name: string;
  scopes: DescribedScope[];
  apis: Array<{ name: string; scopes: DescribedScope[] }>;
  granted: ShownDate;
  lastUsed: ShownDate | null;
}

const NOT_CONNECTED = 'That app is not connected to your account. It may have been disconnected already.';

export function appPages(deps: SurfaceDependencies) {
  const { selfService, pages, csrf } = deps;

  /** What each API's scopes mean, in its own words; an API since removed keeps only the scope names. */
  async function scopeDescriptionsOf(apps: ConnectedApp[]): Promise<Map<string, { scopes: string[]; descriptions: Record<string, string> }>> {
    const identifiers = [...new Set(apps.flatMap((app) => app.apis.map((api) => api.identifier)))];
    const found = await Promise.all(identifiers.map(async (identifier) => {
      const api = await selfService.findApi(identifier);
      return api ? [identifier, { scopes: api.scopes, descriptions: api.scopeDescriptions }] as const : undefined;
    }));
    return new Map(found.filter((entry) => entry !== undefined));
  }

  async function shownApps(apps: ConnectedApp[]): Promise<ShownApp[]> {
    const known = await scopeDescriptionsOf(apps);
    return apps.map((app) => ({
      clientId: app.clientId,
      name: app.clientName ?? 'An app that is no longer registered',
      scopes: describeOidcScopes(app.scopes),
      apis: app.apis
        .map((granted) => {
          const api = known.get(granted.identifier);
          // The OpenID Connect scopes ride along with every API (for userinfo); they are listed once, above.
          const scopes = granted.scopes.filter((scope) => (api ? api.scopes.includes(scope) : describeOidcScopes([scope]).length === 0));
          return { name: granted.name ?? granted.identifier, scopes: describeApiScopes(scopes, api?.descriptions ?? {}) };
        })
        .filter((api) => api.scopes.length > 0),
      granted: shownDate(app.createdAt),
      lastUsed: app.lastUsedAt ? shownDate(app.lastUsedAt) : null,
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
      return pages.error(ctx, { status: 400, heading: 'This list cannot be shown', message: 'The address of this page is not one Gatehouse made.', hint: 'Open Connected apps again from your account page.' });
    }
    pages.render(ctx, 'account/apps', 'Connected apps', {
      person,
      apps: await shownApps(page.items),
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
      return renderApps(ctx, problemFrom(error, NOT_CONNECTED));
    }
    seeOther(ctx, APPS_PAGE, 'app-revoked');
  }

  function showApps(ctx: Context) {
    return renderApps(ctx);
  }

  return { showApps, revokeApp };
}
