// Apps (OAuth clients): the list, and registering an app or a machine client. A new secret is
// shown once, on the answer to the form itself: only its digest is kept, so no later page (and
// no redirect target) could show it. One app's own page is in app.ts.
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Client } from '../../clients/store.js';
import { apiNameOfClient } from '../../resources/store.js';
import { GatehouseError, undefinedIfMissing } from '../../errors.js';
import { field, formBody, type Problem } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { actorOf, cursorParam, page, seeOther, type ConsoleKit } from './kit.js';
import { pageLinks } from './present.js';

const KINDS = ['confidential', 'public', 'machine'] as const;

export function appHref(clientId: string): string {
  return `/admin/apps/${encodeURIComponent(clientId)}`;
}

export function apiHref(identifier: string): string {
  return `/admin/apis/${encodeURIComponent(identifier)}`;
}

/** What kind of client it is, as a catalog key. */
export function kindOf(client: Client): string {
  if (client.resourceIdentifier) return 'admin.kind.apiCredentials';
  if (client.grantTypes.includes('client_credentials')) return client.isAdmin ? 'admin.kind.machineAdmin' : 'admin.kind.machine';
  return client.tokenEndpointAuthMethod === 'none' ? 'admin.kind.public' : 'admin.kind.confidential';
}

/** One URI a line, blank lines ignored: how a textarea holds a list. */
export function lines(text: string): string[] {
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

/** Loads the app the address names into ctx.state.app, or answers 404. */
export function loadApp(kit: ConsoleKit) {
  return async function findApp(ctx: Context, next: Next) {
    const app = await kit.ops.apps.getClient(String(ctx.params.clientId)).catch(undefinedIfMissing);
    if (!app) return kit.notFound(ctx, 'apps', 'app');
    ctx.state.app = app;
    await next();
  };
}

export function appOf(ctx: Context): Client {
  return ctx.state.app as Client;
}

/** The page that shows a new secret, the one time it exists outside the app. */
export function showSecret(kit: ConsoleKit, ctx: Context, options: { section: 'apps' | 'apis'; name: string; clientId: string; clientSecret: string; backHref: string; previousSecretExpiresAt?: Date | null | undefined; created: boolean }): void {
  kit.render(ctx, options.section, 'admin/secret', 'admin.secret.title', {
    name: options.name,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    created: options.created,
    previous: options.previousSecretExpiresAt === undefined
      ? undefined
      : options.previousSecretExpiresAt === null ? { key: 'admin.secret.oldStopped' } : { key: 'admin.secret.oldWorksUntil', values: { when: when(options.previousSecretExpiresAt) } },
    backHref: options.backHref,
  });
}

export function appsRoutes(router: Router, kit: ConsoleKit): void {
  const { ops } = kit;

  async function listApps(ctx: Context) {
    const cursor = cursorParam(ctx);
    const page = await ops.apps.listClients(cursor ? { cursor } : {});
    kit.render(ctx, 'apps', 'admin/apps', 'admin.apps.title', {
      apps: page.items.map((client) => ({
        name: client.name,
        // An API's introspection client is named after the API, in the admin's language.
        apiName: client.resourceIdentifier ? apiNameOfClient(client.name) : undefined,
        clientId: client.clientId,
        // An API's credentials are managed on the API's page.
        href: client.resourceIdentifier ? apiHref(client.resourceIdentifier) : appHref(client.clientId),
        kind: kindOf(client),
        status: client.disabledAt ? 'admin.status.disabled' : 'admin.status.active',
        created: when(client.createdAt),
        selfRegistered: client.registeredAt !== null,
      })),
      ...pageLinks('/admin/apps', {}, 'cursor', cursor, page.nextCursor),
    });
  }

  function showNewApp(ctx: Context, problem?: Problem) {
    const body = formBody(ctx);
    const kind = field(body, 'kind') || 'confidential';
    kit.render(ctx, 'apps', 'admin/app-new', 'admin.appNew.title', {
      values: {
        name: field(body, 'name'), redirectUris: field(body, 'redirectUris'), scope: field(body, 'scope'),
        backchannelLogoutUri: field(body, 'backchannelLogoutUri'), backchannelLogoutSessionRequired: field(body, 'backchannelLogoutSessionRequired') === 'yes',
        deviceFlow: field(body, 'deviceFlow') === 'yes',
      },
      kinds: [
        { value: 'confidential', label: 'admin.appNew.kind.confidential' },
        { value: 'public', label: 'admin.appNew.kind.public' },
        { value: 'machine', label: 'admin.appNew.kind.machine' },
      ].map((choice) => ({ ...choice, checked: choice.value === kind })),
      problem: problem?.message,
    }, problem?.status);
  }

  async function registerApp(ctx: Context) {
    const body = formBody(ctx);
    const kind = field(body, 'kind');
    if (!(KINDS as readonly string[]).includes(kind)) throw new GatehouseError('invalid_input', 'Choose what kind of app this is.', 'kind', { key: 'admin.appNew.problem.kind' });
    const scope = field(body, 'scope').trim();
    const backchannelLogoutUri = field(body, 'backchannelLogoutUri').trim();
    const { client, clientSecret } = await ops.apps.createClient(actorOf(ctx), {
      name: field(body, 'name'),
      redirectUris: lines(field(body, 'redirectUris')),
      public: kind === 'public',
      clientCredentials: kind === 'machine',
      deviceCode: kind !== 'machine' && field(body, 'deviceFlow') === 'yes',
      ...(scope ? { scope } : {}),
      ...(backchannelLogoutUri ? { backchannelLogoutUri } : {}),
      backchannelLogoutSessionRequired: field(body, 'backchannelLogoutSessionRequired') === 'yes',
    });
    if (!clientSecret) return seeOther(ctx, appHref(client.clientId), 'app-created');
    showSecret(kit, ctx, { section: 'apps', name: client.name, clientId: client.clientId, clientSecret, backHref: appHref(client.clientId), created: true });
  }

  router.get('/admin/apps', ...kit.page, listApps);
  router.get('/admin/apps/new', ...kit.page, page(showNewApp));
  router.post('/admin/apps', ...kit.form, kit.reshowOnError(showNewApp), registerApp);
}
