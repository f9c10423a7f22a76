// APIs (RFC 8707 resource servers): the list, registering one with its introspection
// credentials, and one API's page: edit, a new introspection secret, disable, delete.
import { undefinedIfMissing } from '../../errors.js';
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { ResourceServer } from '../../resources/store.js';
import { field, formBody, type Problem } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { actorOf, cursorParam, page, seeOther, type ConsoleKit } from './kit.js';
import { apiHref, appHref, lines, showSecret } from './apps.js';
import { eventDeliveries, OVERLAP_CHOICES, pageLinks } from './present.js';
import { DEFAULT_SECRET_OVERLAP_SECONDS } from '../../lifetimes.js';
import { LOCALES } from '../../i18n/catalogs.js';

/** "notes:read Read your notes" a line: the scope, then what it lets an app do. */
function scopeLines(text: string): { scopes: string[]; descriptions: Record<string, string> } {
  const parsed = lines(text).map((line) => {
    const [scope = '', ...words] = line.split(/\s+/);
    return [scope, words.join(' ')] as const;
  });
  return {
    scopes: parsed.map(([scope]) => scope),
    descriptions: Object.fromEntries(parsed.filter(([, description]) => description)),
  };
}

function asScopeLines(api: ResourceServer): string {
  return api.scopes.map((scope) => [scope, api.scopeDescriptions[scope]].filter(Boolean).join(' ')).join('\n');
}

/** The languages besides the default one that an API's scopes can be described in (locales/). */
function otherLanguages(kit: ConsoleKit, shownIn = 'en'): Array<{ locale: string; name: string }> {
  // Each language named in the admin's own (`Deutsch` in German, `German` in English).
  const names = new Intl.DisplayNames([shownIn], { type: 'language' });
  return LOCALES.filter((locale) => locale !== kit.deps.pages.languages.defaultLocale)
    .map((locale) => ({ locale, name: names.of(locale) ?? locale }));
}

/** "notes:read Ihre Notizen lesen" lines per language: only described scopes, only languages with any. */
function localizedLines(kit: ConsoleKit, body: Record<string, unknown>): Record<string, Record<string, string>> {
  return Object.fromEntries(otherLanguages(kit)
    .map(({ locale }) => [locale, scopeLines(field(body, `descriptions_${locale}`)).descriptions] as const)
    .filter(([, descriptions]) => Object.keys(descriptions).length > 0));
}

function asLocalizedLines(api: ResourceServer, locale: string): string {
  const described = api.localizedScopeDescriptions[locale] ?? {};
  return api.scopes.filter((scope) => described[scope]).map((scope) => `${scope} ${described[scope]}`).join('\n');
}

function loadApi(kit: ConsoleKit) {
  return async function findApi(ctx: Context, next: Next) {
    const api = await kit.ops.apis.getResource(String(ctx.params.identifier)).catch(undefinedIfMissing);
    if (!api) return kit.notFound(ctx, 'apis', 'api');
    ctx.state.api = api;
    await next();
  };
}

function apiOf(ctx: Context): ResourceServer {
  return ctx.state.api as ResourceServer;
}

export function apisRoutes(router: Router, kit: ConsoleKit): void {
  const { ops } = kit;

  async function listApis(ctx: Context) {
    const cursor = cursorParam(ctx);
    const page = await ops.apis.listResources(cursor ? { cursor } : {});
    kit.render(ctx, 'apis', 'admin/apis', 'admin.apis.title', {
      apis: page.items.map((api) => ({
        name: api.name,
        identifier: api.identifier,
        href: apiHref(api.identifier),
        scopes: api.scopes.join(' '),
        status: api.disabledAt ? 'admin.status.disabled' : api.isDefault ? 'admin.status.activeDefault' : 'admin.status.active',
        created: when(api.createdAt),
      })),
      ...pageLinks('/admin/apis', {}, 'cursor', cursor, page.nextCursor),
    });
  }

  function showNewApi(ctx: Context, problem?: Problem) {
    const body = formBody(ctx);
    kit.render(ctx, 'apis', 'admin/api-new', 'admin.apiNew.title', {
      values: { identifier: field(body, 'identifier'), name: field(body, 'name'), scopes: field(body, 'scopes') },
      problem: problem?.message,
    }, problem?.status);
  }

  async function registerApi(ctx: Context) {
    const body = formBody(ctx);
    const { scopes, descriptions } = scopeLines(field(body, 'scopes'));
    const name = field(body, 'name').trim();
    const created = await ops.apis.createResource(actorOf(ctx), {
      identifier: field(body, 'identifier'),
      ...(name ? { name } : {}),
      scope: scopes.join(' '),
      scopeDescriptions: descriptions,
    });
    const href = apiHref(created.resourceServer.identifier);
    if (!created.clientSecret) return seeOther(ctx, href, 'api-created');
    showSecret(kit, ctx, { section: 'apis', name: created.resourceServer.name, clientId: created.clientId, clientSecret: created.clientSecret, backHref: href, created: true });
  }

  async function showApi(ctx: Context, problem?: Problem) {
    const api = apiOf(ctx);
    const body = formBody(ctx);
    const events = eventDeliveries(api.eventsEndpoint, await ops.apis.eventDeliveries(api.identifier));
    kit.render(ctx, 'apis', 'admin/api', 'admin.named.title', {
      name: api.name,
      events,
      api: {
        name: api.name,
        identifier: api.identifier,
        status: api.disabledAt ? { key: 'admin.status.disabledSince', values: { when: when(api.disabledAt) } } : 'admin.status.active',
        disabled: api.disabledAt !== null,
        isDefault: api.isDefault,
        created: when(api.createdAt),
        scopes: api.scopes.map((scope) => ({ name: scope, text: api.scopeDescriptions[scope] ?? '' })),
        accessTokenTtl: api.accessTokenTtl === null ? 'admin.api.defaultTtl' : { key: 'admin.duration.seconds', values: { count: api.accessTokenTtl } },
        clientId: api.clientId,
        mayExchangeFor: api.mayExchangeFor,
      },
      href: apiHref(api.identifier),
      clientHref: api.clientId ? appHref(api.clientId) : undefined,
      values: problem && field(body, 'form') === 'edit'
        ? { name: field(body, 'name'), scopes: field(body, 'scopes'), accessTokenTtl: field(body, 'accessTokenTtl'), eventsEndpoint: field(body, 'eventsEndpoint'), mayExchangeFor: field(body, 'mayExchangeFor') }
        : { name: api.name, scopes: asScopeLines(api), accessTokenTtl: api.accessTokenTtl === null ? '' : String(api.accessTokenTtl), eventsEndpoint: api.eventsEndpoint ?? '', mayExchangeFor: api.mayExchangeFor.join('\n') },
      // The consent page shows these to people whose language it is (src/i18n/), else the lines above.
      languages: otherLanguages(kit, kit.locale(ctx)).map(({ locale, name }) => ({
        locale,
        name,
        text: problem && field(body, 'form') === 'edit' ? field(body, `descriptions_${locale}`) : asLocalizedLines(api, locale),
      })),
      overlaps: OVERLAP_CHOICES.map((choice) => ({ ...choice, selected: choice.seconds === DEFAULT_SECRET_OVERLAP_SECONDS })),
      auditHref: api.clientId ? `/admin/audit?client=${encodeURIComponent(api.clientId)}` : undefined,
      problem: problem?.message,
    }, problem?.status);
  }

  async function edit(ctx: Context) {
    const api = apiOf(ctx);
    const body = formBody(ctx);
    const { scopes, descriptions } = scopeLines(field(body, 'scopes'));
    const ttl = field(body, 'accessTokenTtl').trim();
    await ops.apis.updateResource(actorOf(ctx), api.identifier, {
      name: field(body, 'name'),
      scopes,
      scopeDescriptions: descriptions,
      localizedScopeDescriptions: localizedLines(kit, body),
      accessTokenTtl: ttl === '' ? null : Number(ttl),
      eventsEndpoint: field(body, 'eventsEndpoint').trim() || null,
      // Token exchange (RFC 8693): one identifier a line; a form without the field leaves it as it is.
      ...(body.mayExchangeFor !== undefined ? { mayExchangeFor: lines(field(body, 'mayExchangeFor')) } : {}),
    });
    seeOther(ctx, apiHref(api.identifier), 'api-updated');
  }

  async function rotate(ctx: Context) {
    const api = apiOf(ctx);
    const overlap = field(formBody(ctx), 'overlap');
    const rotated = await ops.apis.rotateResourceSecret(actorOf(ctx), api.identifier, { overlapSeconds: overlap === '' ? DEFAULT_SECRET_OVERLAP_SECONDS : Number(overlap) });
    showSecret(kit, ctx, { section: 'apis', name: api.name, clientId: api.clientId ?? '', clientSecret: rotated.clientSecret, backHref: apiHref(api.identifier), previousSecretExpiresAt: rotated.previousSecretExpiresAt, created: false });
  }

  async function disable(ctx: Context) {
    await ops.apis.disableResource(actorOf(ctx), apiOf(ctx).identifier);
    seeOther(ctx, apiHref(apiOf(ctx).identifier), 'api-disabled');
  }

  async function enable(ctx: Context) {
    await ops.apis.enableResource(actorOf(ctx), apiOf(ctx).identifier);
    seeOther(ctx, apiHref(apiOf(ctx).identifier), 'api-enabled');
  }

  function confirmDelete(ctx: Context, problem?: Problem) {
    const api = apiOf(ctx);
    const name = api.name;
    kit.render(ctx, 'apis', 'admin/confirm', 'admin.appDelete.title', {
      name,
      heading: { key: 'admin.appDelete.title', values: { name } },
      facts: [{ key: 'admin.apiDelete.fact', values: { identifier: api.identifier } }, 'admin.appDelete.undo'],
      action: `${apiHref(api.identifier)}/delete`,
      button: { key: 'admin.appDelete.button', values: { name } },
      cancelHref: apiHref(api.identifier),
      problem: problem?.message,
    }, problem?.status);
  }

  async function remove(ctx: Context) {
    await ops.apis.deleteResource(actorOf(ctx), apiOf(ctx).identifier);
    seeOther(ctx, '/admin/apis', 'api-deleted');
  }

  const api = loadApi(kit);
  const again = kit.reshowOnError(showApi);
  router.get('/admin/apis', ...kit.page, listApis);
  router.get('/admin/apis/new', ...kit.page, page(showNewApi));
  router.post('/admin/apis', ...kit.form, kit.reshowOnError(showNewApi), registerApi);
  router.get('/admin/apis/:identifier', ...kit.page, api, page(showApi));
  router.post('/admin/apis/:identifier/edit', ...kit.form, api, again, edit);
  router.post('/admin/apis/:identifier/rotate-secret', ...kit.form, api, again, rotate);
  router.post('/admin/apis/:identifier/disable', ...kit.form, api, again, disable);
  router.post('/admin/apis/:identifier/enable', ...kit.form, api, again, enable);
  router.get('/admin/apis/:identifier/delete', ...kit.page, api, page(confirmDelete));
  router.post('/admin/apis/:identifier/delete', ...kit.form, api, kit.reshowOnError(confirmDelete), remove);
}
