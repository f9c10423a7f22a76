// One app: what it is, editing its redirect URIs and scopes, a new secret (with an overlap for the
// old one), disabling, deleting, and the access people gave it (revoke one, or all of it).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { ACR_ONE_FACTOR, ACR_PHISHING_RESISTANT, ACR_TWO_FACTORS } from '../../factors/levels.js';
import { isGatehouseError } from '../../errors.js';
import { field, formBody, type Problem } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { actorOf, cursorParam, page, seeOther, type ConsoleKit } from './kit.js';
import { apiHref, appHref, appOf, kindOf, lines, loadApp, showSecret } from './apps.js';
import { grantWords } from './names.js';
import { personHref } from './people.js';
import { eventDeliveries, OVERLAP_CHOICES, pageLinks } from './present.js';
import { DEFAULT_SECRET_OVERLAP_SECONDS } from '../../lifetimes.js';
import { DEVICE_CODE_GRANT } from '../../clients/store.js';

function hasSecret(client: { tokenEndpointAuthMethod: string }): boolean {
  return client.tokenEndpointAuthMethod === 'client_secret_basic' || client.tokenEndpointAuthMethod === 'client_secret_post';
}

/** The settings' checkboxes: a box left unticked is not sent, and means no. */
function requirementsIn(body: Record<string, unknown>) {
  return {
    requireDpop: field(body, 'requireDpop') === 'yes',
    requirePar: field(body, 'requirePar') === 'yes',
    requireSignedRequestObject: field(body, 'requireSignedRequestObject') === 'yes',
  };
}

/** The pages an app links people to (the consent page shows all but the logo), as form fields and catalog labels. */
const PAGE_FIELDS = [
  { name: 'clientUri', label: 'admin.app.clientUri' },
  { name: 'policyUri', label: 'admin.app.policyUri' },
  { name: 'tosUri', label: 'admin.app.tosUri' },
  { name: 'logoUri', label: 'admin.app.logoUri' },
] as const;

export function appRoutes(router: Router, kit: ConsoleKit): void {
  const { ops } = kit;

  async function showApp(ctx: Context, problem?: Problem) {
    const app = appOf(ctx);
    const href = appHref(app.clientId);
    const cursor = cursorParam(ctx, 'grants');
    const grants = await ops.grants.listGrants({ clientId: app.clientId }, cursor ? { cursor } : {});
    const people = await ops.people.describePeople(grants.items.map((g) => g.userId));
    const words = await grantWords(ops, grants.items, kit.locale(ctx));
    const body = formBody(ctx);
    const machine = app.grantTypes.includes('client_credentials');
    const events = eventDeliveries(app.eventsEndpoint, await ops.apps.eventDeliveries(app.clientId));
    kit.render(ctx, 'apps', 'admin/app', 'admin.named.title', {
      name: app.name,
      events,
      app: {
        name: app.name,
        clientId: app.clientId,
        kind: kindOf(app),
        status: app.disabledAt ? { key: 'admin.status.disabledSince', values: { when: when(app.disabledAt) } } : 'admin.status.active',
        disabled: app.disabledAt !== null,
        created: when(app.createdAt),
        selfRegistered: app.registeredAt !== null,
        registrationScope: app.registrationScope,
        deviceFlow: app.grantTypes.includes(DEVICE_CODE_GRANT),
        redirectUris: app.redirectUris,
        scope: app.scope,
        backchannelLogoutUri: app.backchannelLogoutUri,
        backchannelLogoutSessionRequired: app.backchannelLogoutSessionRequired,
        pages: PAGE_FIELDS.filter((page) => app[page.name]).map((page) => ({ label: page.label, uri: app[page.name] })),
        contacts: app.contacts,
        previousSecret: app.previousSecretExpiresAt && app.previousSecretExpiresAt > new Date() ? { key: 'admin.app.previousSecret', values: { when: when(app.previousSecretExpiresAt) } } : undefined,
      },
      href,
      // An API's credentials change with the API, on its page.
      apiHref: app.resourceIdentifier ? apiHref(app.resourceIdentifier) : undefined,
      machine,
      rotatable: hasSecret(app) && !app.resourceIdentifier,
      // After a refused edit, what the admin typed, so nothing is lost.
      values: problem && field(body, 'form') === 'edit'
        ? {
          name: field(body, 'name'), redirectUris: field(body, 'redirectUris'), scope: field(body, 'scope'),
          backchannelLogoutUri: field(body, 'backchannelLogoutUri'), backchannelLogoutSessionRequired: field(body, 'backchannelLogoutSessionRequired') === 'yes',
          eventsEndpoint: field(body, 'eventsEndpoint'), deviceFlow: field(body, 'deviceFlow') === 'yes', ...requirementsIn(body),
          requireAcr: field(body, 'requireAcr'),
          ...Object.fromEntries(PAGE_FIELDS.map((page) => [page.name, field(body, page.name)])), contacts: field(body, 'contacts'),
        }
        : {
          name: app.name, redirectUris: app.redirectUris.join('\n'), scope: app.scope,
          backchannelLogoutUri: app.backchannelLogoutUri ?? '', backchannelLogoutSessionRequired: app.backchannelLogoutSessionRequired,
          eventsEndpoint: app.eventsEndpoint ?? '', deviceFlow: app.grantTypes.includes(DEVICE_CODE_GRANT),
          requireDpop: app.requireDpop, requirePar: app.requirePar, requireSignedRequestObject: app.requireSignedRequestObject,
          requireAcr: app.requireAcr ?? '',
          ...Object.fromEntries(PAGE_FIELDS.map((page) => [page.name, app[page.name] ?? ''])), contacts: app.contacts.join('\n'),
        },
      pageFields: PAGE_FIELDS,
      hasKeys: app.jwks !== null || app.jwksUri !== null,
      // The sign-in levels an app may require (src/factors/levels.ts), in words.
      levels: [
        { value: '', label: 'admin.level.any' },
        { value: ACR_ONE_FACTOR, label: 'admin.level.oneFactor' },
        { value: ACR_TWO_FACTORS, label: 'admin.level.twoFactors' },
        { value: ACR_PHISHING_RESISTANT, label: 'admin.level.phishingResistant' },
      ],
      overlaps: OVERLAP_CHOICES.map((choice) => ({ ...choice, selected: choice.seconds === DEFAULT_SECRET_OVERLAP_SECONDS })),
      grants: grants.items.map((g) => {
        const person = people.get(g.userId);
        const who = person ? `${person.name} (${person.email})` : g.userId;
        return {
          who,
          personHref: personHref(g.userId),
          ...words(g),
          granted: when(g.createdAt),
          lastUsed: g.lastUsedAt ? when(g.lastUsedAt) : { key: 'admin.grants.notUsed' },
          action: `${href}/grants/${encodeURIComponent(g.id)}/revoke`,
          button: person
            ? { key: 'admin.app.revokeGrant', values: { name: person.name, when: when(g.createdAt) } }
            : { key: 'admin.app.revokeGrantUnknown', values: { when: when(g.createdAt) } },
        };
      }),
      ...pageLinks(href, {}, 'grants', cursor, grants.nextCursor),
      auditHref: `/admin/audit?client=${encodeURIComponent(app.clientId)}`,
      problem: problem?.message,
    }, problem?.status);
  }

  async function edit(ctx: Context) {
    const app = appOf(ctx);
    const body = formBody(ctx);
    const machine = app.grantTypes.includes('client_credentials');
    const { requireDpop, requirePar, requireSignedRequestObject } = requirementsIn(body);
    await ops.apps.updateClient(actorOf(ctx), app.clientId, {
      name: field(body, 'name'),
      scope: field(body, 'scope'),
      eventsEndpoint: field(body, 'eventsEndpoint').trim() || null,
      requireDpop,
      ...(machine ? {} : {
        redirectUris: lines(field(body, 'redirectUris')), requirePar, requireSignedRequestObject,
        backchannelLogoutUri: field(body, 'backchannelLogoutUri').trim() || null,
        backchannelLogoutSessionRequired: field(body, 'backchannelLogoutSessionRequired') === 'yes',
        deviceCode: field(body, 'deviceFlow') === 'yes',
        requireAcr: field(body, 'requireAcr') || null,
        ...Object.fromEntries(PAGE_FIELDS.map((page) => [page.name, field(body, page.name).trim() || null])),
        contacts: lines(field(body, 'contacts')),
      }),
    });
    seeOther(ctx, appHref(app.clientId), 'app-updated');
  }

  async function rotate(ctx: Context) {
    const app = appOf(ctx);
    const overlap = field(formBody(ctx), 'overlap');
    const rotated = await ops.apps.rotateClientSecret(actorOf(ctx), app.clientId, { overlapSeconds: overlap === '' ? DEFAULT_SECRET_OVERLAP_SECONDS : Number(overlap) });
    showSecret(kit, ctx, { section: 'apps', name: app.name, clientId: app.clientId, clientSecret: rotated.clientSecret, backHref: appHref(app.clientId), previousSecretExpiresAt: rotated.previousSecretExpiresAt, created: false });
  }

  async function disable(ctx: Context) {
    await ops.apps.disableClient(actorOf(ctx), appOf(ctx).clientId);
    seeOther(ctx, appHref(appOf(ctx).clientId), 'app-disabled');
  }

  async function enable(ctx: Context) {
    await ops.apps.enableClient(actorOf(ctx), appOf(ctx).clientId);
    seeOther(ctx, appHref(appOf(ctx).clientId), 'app-enabled');
  }

  async function revokeAll(ctx: Context) {
    await ops.grants.revokeClientGrants(actorOf(ctx), appOf(ctx).clientId);
    seeOther(ctx, appHref(appOf(ctx).clientId), 'app-grants-revoked');
  }

  async function revokeGrant(ctx: Context) {
    const app = appOf(ctx);
    const grant = await ops.grants.getGrant(String(ctx.params.grantId)).catch((error: unknown) => {
      if (isGatehouseError(error, 'not_found')) return undefined;
      throw error;
    });
    if (!grant || grant.clientId !== app.clientId) return showApp(ctx, { status: 404, message: 'admin.grants.notFound' });
    await ops.grants.revokeGrant(actorOf(ctx), grant.id);
    seeOther(ctx, appHref(app.clientId), 'grant-revoked');
  }

  function confirmDelete(ctx: Context, problem?: Problem) {
    const app = appOf(ctx);
    const name = app.name;
    kit.render(ctx, 'apps', 'admin/confirm', 'admin.appDelete.title', {
      name,
      heading: { key: 'admin.appDelete.title', values: { name } },
      facts: [{ key: 'admin.appDelete.fact', values: { name } }, 'admin.appDelete.undo'],
      action: `${appHref(app.clientId)}/delete`,
      button: { key: 'admin.appDelete.button', values: { name } },
      cancelHref: appHref(app.clientId),
      problem: problem?.message,
    }, problem?.status);
  }

  async function remove(ctx: Context) {
    await ops.apps.deleteClient(actorOf(ctx), appOf(ctx).clientId);
    seeOther(ctx, '/admin/apps', 'app-deleted');
  }

  const app = loadApp(kit);
  const again = kit.reshowOnError(showApp);
  router.get('/admin/apps/:clientId', ...kit.page, app, page(showApp));
  router.post('/admin/apps/:clientId/edit', ...kit.form, app, again, edit);
  router.post('/admin/apps/:clientId/rotate-secret', ...kit.form, app, again, rotate);
  router.post('/admin/apps/:clientId/disable', ...kit.form, app, again, disable);
  router.post('/admin/apps/:clientId/enable', ...kit.form, app, again, enable);
  router.post('/admin/apps/:clientId/revoke-grants', ...kit.form, app, again, revokeAll);
  router.post('/admin/apps/:clientId/grants/:grantId/revoke', ...kit.form, app, again, revokeGrant);
  router.get('/admin/apps/:clientId/delete', ...kit.page, app, page(confirmDelete));
  router.post('/admin/apps/:clientId/delete', ...kit.form, app, kit.reshowOnError(confirmDelete), remove);
}
