// Every middleware of the HTTP server, in order, on one screen.
import Koa, { type Context, type Next } from 'koa';
import mount from 'koa-mount';
import type { Provider } from 'oidc-provider';
import type { UserStore } from './people/users.js';
import { accountRoutes } from './account/routes.js';
import { adminApiRoutes } from './admin/api/routes.js';
import { adminConsoleRoutes } from './admin/console/routes.js';
import type { AdminOperations } from './admin/operations.js';
import type { SelfService } from './account/self-service.js';
import { HashingBusy } from './people/passwords.js';
import type { ClientStore } from './clients/store.js';
import type { AuditLog } from './audit/log.js';
import type { Config } from './config.js';
import type { Database } from './db/knex.js';
import { isDatabaseUnavailable, refusedByDatabase } from './db/errors.js';
import { devMailRoutes } from './email/dev-mail-page.js';
import type { Enrolment } from './enrolment/acts.js';
import { enrolmentRoutes } from './enrolment/pages.js';
import type { DevelopmentMailbox } from './email/dev-mailbox.js';
import { canonicalProviderPaths } from './http/canonical-paths.js';
import { CsrfProtection } from './http/csrf.js';
import { answerDatabaseOutage } from './http/database-outage.js';
import { markedError } from './http/provider-errors.js';
import { formPostAsGet } from './http/form-post-endpoints.js';
import { capAuthorizationParameters } from './http/authorization-parameters.js';
import { healthRoutes } from './http/health.js';
import { pinRequestOriginToIssuer } from './http/issuer-origin.js';
import { metadataCaching } from './http/metadata-caching.js';
import { answerBusy, loadShedding } from './http/load-shedding.js';
import { apiLane } from './http/api-lane.js';
import { refuseUnreadableTargets } from './http/request-target.js';
import type { Pages } from './http/pages.js';
import type { SurfaceDependencies } from './http/surfaces.js';
import { routesFor } from './http/route-gate.js';
import { requestLog } from './http/request-log.js';
import { DpopNonces } from './dpop/nonces.js';
import { ResourceProofs } from './dpop/proofs.js';
import { OidcRecords } from './records/index.js';
import { resumeWithoutQuery } from './http/resume-guard.js';
import { onlyTheAppJustSignedOutOf } from './logout/signed-out-page.js';
import { securityHeaders } from './http/security-headers.js';
import { interactionRoutes } from './interaction/routes.js';
import type { Logger } from './logger.js';
import { AccountSignIn } from './oidc/account-sign-in.js';
import { observeRequests } from './observability/requests.js';
import { processMetrics, publicMetricsRoute } from './observability/scrape.js';
import type { OidcService } from './oidc/provider.js';
import { advertiseWhatAppsCanUse } from './oidc/discovery.js';
import { unauthorizedClientErrors } from './oidc/policies/grant-type-errors.js';
import { sessionCookieName } from './oidc/configuration.js';
import { structuredTokenHandles } from './tokens/structured-tokens.js';
import type { ResourceServerStore } from './resources/store.js';
import { endpointRateLimits } from './security/endpoint-limits.js';
import { keyedDigest } from './security/keyed-digest.js';
import { KnownDevices } from './security/known-devices.js';
import { SignInThrottle } from './security/sign-in-throttle.js';
import type { AccountNotices } from './notices/account-notices.js';
import { recoveryRoutes } from './recovery/routes.js';
import { transmitterMetadataRoutes } from './security-events/metadata.js';
import { pollEndpointRoutes, type PollEndpointDependencies } from './security-events/poll-endpoint.js';
import { RegistrationLimit, registrationGate } from './registration/gate.js';
import { CodeGuessing, throttleCodeGuessing } from './device/code-guessing.js';
import { devicePolling } from './device/polling.js';
import { deviceFlowNeedsASession } from './device/session-required.js';
import type { RegistrationTokens } from './registration/tokens.js';
import type { RecoveryServices } from './recovery/services.js';
import type { OneTimeLinks } from './links/store.js';
import { consentRecorder } from './interaction/app-connected.js';
import type { Addresses } from './verification/addresses.js';
import { passkeyAssets } from './passkeys/assets.js';
import { PASSKEYS_PAGE, passkeyRoutes } from './passkeys/pages.js';
import type { Passkeys } from './passkeys/passkeys.js';
import { VerificationMailThrottle } from './verification/mail-throttle.js';
import { verificationRoutes } from './verification/pages.js';
import type { FactorActs } from './factors/acts.js';
import { FactorThrottle } from './factors/throttle.js';

export interface AppDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  oidc: OidcService;
  users: UserStore;
  resources: ResourceServerStore;
  pages: Pages;
  audit: AuditLog;
  operations: AdminOperations;
  selfService: SelfService;
  clients: ClientStore;
  /** Accepting invitations, signing up, verifying a sign-up (src/enrolment/). */
  enrolment: Enrolment;
  /** Mails telling a person what happened to their account (here: a sign-in from a new browser). */
  notices: AccountNotices;
  /** The mailed links that get a person back in; undefined with PASSWORD_RECOVERY off. */
  recovery?: RecoveryServices | undefined;
  /** Where mail goes without SMTP_URL, read at /dev/mail; never in production. */
  devMailbox?: DevelopmentMailbox;
  addresses: Addresses;
  links: OneTimeLinks;
  /** oidc-provider's records: /device looks a typed code up before counting it as a guess. */
  records: OidcRecords;
  /** Initial access tokens, checked before a registration reaches oidc-provider (src/registration/gate.ts). */
  registrationTokens: RegistrationTokens;
  /** Passkeys: sign-in with them, and the account page that manages them (src/passkeys/). */
  passkeys: Passkeys;
  /**
   * The clock one-time links, sign-in throttling, the verification-mail throttle and
   * oidc-provider's records are counted by (tests move it).
   */
  now?: () => number;
  /** Second factors (src/factors/): the sign-in's second step, /account/security, the admin reset. */
  factors: FactorActs;
  /** True once a graceful stop has begun (src/http/connection-drain.ts). */
  draining: () => boolean;
  /** Receivers polling for their security events (RFC 8936, src/security-events/poll-endpoint.ts). */
  securityEventPolls: Pick<PollEndpointDependencies, 'polls' | 'signer' | 'waitMs' | 'stopping'>;
}

export function createApp(deps: AppDependencies): Koa {
  const { config, pages, logger } = deps;
  // maxIpsCount: the client address is the X-Forwarded-For entry our own proxies added, never one
  // further left that the client wrote itself (sign-in and endpoint limits are keyed on it).
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: config.proxyHops, keys: config.secrets.cookieKeys });
  // Koa would print errors to stderr itself; ours are logged by the error boundary.
  app.silent = true;
  // Every absolute URL, ours and oidc-provider's, names ISSUER whatever Host the request carries.
  pinRequestOriginToIssuer(app, config.issuer);

  const secureCookies = config.issuer.startsWith('https://');
  const csrf = new CsrfProtection({
    cookieName: secureCookies ? '__Host-gh_csrf' : 'gh_csrf',
  });
  const throttle = new SignInThrottle(deps.db, config.signIn, config.secrets.keyEncryptionKey, deps.now);
  const factorThrottle = new FactorThrottle(deps.db, config.secrets.keyEncryptionKey);
  const knownDevices = new KnownDevices({
    cookieName: secureCookies ? '__Host-gh_device' : 'gh_device',
    secret: config.secrets.keyEncryptionKey,
    ...(deps.now ? { now: deps.now } : {}),
  });

  // The routes are fixed by the configuration, so a provider rebuilt on key rotation keeps them.
  const { provider } = deps.oidc;
  const tokenEndpoints = {
    token: provider.pathFor('token'),
    introspection: provider.pathFor('introspection'),
    revocation: provider.pathFor('revocation'),
  };
  const pageNotFound = notFound(pages);
  // After what must answer under any load (health, the busy page's stylesheet), before any work.
  const shedding = loadShedding(config.load.maxConcurrentRequests, pages);
  // Before anything parses or answers for the token endpoints: a refused request costs nothing more.
  const rateLimits = endpointRateLimits(tokenEndpoints, config.rateLimits);
  const jwtHandles = structuredTokenHandles(tokenEndpoints);
  // RFC 8628: devices poll no faster than the interval (slow_down).
  const polling = devicePolling({ db: deps.db, tokenPath: tokenEndpoints.token, deviceAuthorizationPath: provider.pathFor('device_authorization') });
  const clientErrors = unauthorizedClientErrors({ token: tokenEndpoints.token, pushedAuthorization: provider.pathFor('pushed_authorization_request'), deviceAuthorization: provider.pathFor('device_authorization') });
  const caching = metadataCaching(config.keys);
  const oidcProvider = currentProvider(deps.oidc);

  // A target Koa cannot parse, answered before anything reads its path (src/http/request-target.ts).
  app.use(refuseUnreadableTargets());
  app.use(observeRequests(providerRoutes(provider)));
  app.use(requestLog(logger));
  // What apps and APIs call on every request skips everything that serves pages (src/http/api-lane.ts).
  const apiPaths = [tokenEndpoints.token, tokenEndpoints.introspection, tokenEndpoints.revocation, provider.pathFor('userinfo'), provider.pathFor('jwks')];
  // Outside the error boundary: a page it answers with on an API path still gets the page headers.
  app.use(securityHeaders(apiPaths));
  app.use(errorBoundary(pages, logger));
  app.use(apiLane(apiPaths, [shedding, rateLimits, jwtHandles, polling, clientErrors, caching, oidcProvider, pageNotFound]));
  app.use(routesFor(healthRoutes(deps.db, deps.draining)));
  // Never on the public port without its token (the metrics listener is METRICS_PORT's).
  if (config.metrics.token) app.use(publicMetricsRoute(processMetrics, config.metrics.token));
  app.use(assets(pages));
  app.use(routesFor(transmitterMetadataRoutes(config.issuer, provider.pathFor('jwks'))));
  // Not behind load shedding: it takes a slot only while it works, not while a poll is held open.
  app.use(routesFor(pollEndpointRoutes({ ...deps.securityEventPolls, clients: deps.clients, resources: deps.resources, logger, shedding })));
  app.use(passkeyAssets());
  app.use(shedding);
  app.use(routesFor(interactionRoutes({
    provider: () => deps.oidc.provider,
    users: deps.users,
    resources: deps.resources,
    pages,
    csrf,
    throttle,
    knownDevices,
    logger,
    audit: deps.audit,
    enrolment: deps.enrolment,
    unknownEmailDigest: keyedDigest(config.secrets.keyEncryptionKey, 'audit unknown sign-in email', 16),
    passwordRecovery: deps.recovery !== undefined,
    notices: deps.notices,
    passkeys: deps.passkeys,
    recordConsent: consentRecorder({ db: deps.db, notices: deps.notices, audit: deps.audit, users: deps.users, resources: deps.resources }),
    factors: deps.factors,
    factorThrottle,
    levelRules: { adminSecondFactor: config.adminSecondFactor },
  })));
  if (deps.recovery) app.use(routesFor(recoveryRoutes({ ...deps.recovery, pages, csrf, logger, knownDevices })));
  const signIn = new AccountSignIn({ provider: () => deps.oidc.provider, issuer: config.issuer, pages, secureCookies });
  app.use(routesFor(signIn.routes()));
  const surfaces: SurfaceDependencies = {
    config,
    operations: deps.operations,
    selfService: deps.selfService,
    users: deps.users,
    clients: deps.clients,
    verifyAccessToken: (token) => deps.oidc.verifyAccessToken(token),
    dpop: resourceProofs(deps),
    signIn,
    pages,
    csrf,
    throttle,
    knownDevices,
    logger,
    addresses: deps.addresses,
    verificationMail: new VerificationMailThrottle(deps.db, config.secrets.keyEncryptionKey, deps.now),
    factors: deps.factors,
    factorThrottle,
    now: deps.now,
  };
  app.use(routesFor(adminApiRoutes(surfaces)));
  app.use(routesFor(adminConsoleRoutes(surfaces)));
  app.use(routesFor(accountRoutes(surfaces)));
  app.use(routesFor(passkeyRoutes({ ...surfaces, passkeys: deps.passkeys })));
  // Both confirm pages check the account's password under the same throttle as sign-in.
  app.use(routesFor(enrolmentRoutes({
    enrolment: deps.enrolment, pages, csrf, users: deps.users, throttle, knownDevices,
    passkeysPage: deps.passkeys.available ? PASSKEYS_PAGE : undefined,
  })));
  app.use(routesFor(verificationRoutes({ addresses: deps.addresses, pages, csrf, users: deps.users, throttle, knownDevices })));
  // Not mounted at all in production, so no setting or request can reach it there.
  if (deps.devMailbox && config.env !== 'production') app.use(routesFor(devMailRoutes(deps.devMailbox, pages)));
  // Before anything that looks at a provider route's path: each then sees its one spelling.
  app.use(canonicalProviderPaths(provider, pageNotFound));
  app.use(rateLimits);
  app.use(jwtHandles);
  app.use(polling);
  // A browser without its session at /device starts again at the code page (src/device/session-required.ts).
  app.use(deviceFlowNeedsASession({ codeVerification: provider.pathFor('code_verification') }, sessionCookieName(config.issuer)));
  // People guess no device codes at /device.
  app.use(throttleCodeGuessing({ path: provider.pathFor('code_verification'), guessing: new CodeGuessing(deps.db, config.secrets.keyEncryptionKey), records: deps.records, pages }));
  app.use(clientErrors);
  app.use(registrationGate({
    provider, tokens: deps.registrationTokens, clients: deps.clients, settings: { ...config.registration, requirePar: config.requirePar },
    limit: config.registration.perNetworkPerHour > 0 ? new RegistrationLimit(deps.db, config.secrets.keyEncryptionKey, config.registration.perNetworkPerHour) : undefined,
  }));
  app.use(advertiseWhatAppsCanUse());
  app.use(resumeWithoutQuery());
  // The signed-out page names no app to a browser that did not just sign out of it (src/logout/signed-out-page.ts).
  app.use(onlyTheAppJustSignedOutOf(provider.pathFor('end_session_success'), deps.oidc.signedOut));
  app.use(formPostAsGet([provider.pathFor('authorization'), provider.pathFor('end_session')], pages));
  // Authorization requests are stored for anyone with a public client's id: no parameter longer
  // than real apps send (src/http/authorization-parameters.ts). After formPostAsGet: a form posted
  // to /auth is held to the caps as the GET it becomes.
  app.use(capAuthorizationParameters({
    authorization: provider.pathFor('authorization'),
    pushedAuthorization: provider.pathFor('pushed_authorization_request'),
    deviceAuthorization: provider.pathFor('device_authorization'),
  }, pages));
  app.use(caching);
  app.use(oidcProvider);
  app.use(pageNotFound);
  return app;
}

/**
 * DPoP proofs at the admin API: nonces every instance agrees on, jtis remembered in the database
 * with oidc-provider's own (ReplayDetection), so a proof replayed at another instance is refused.
 */
function resourceProofs(deps: AppDependencies): ResourceProofs {
  const replays = new OidcRecords(deps.db, deps.now).of('ReplayDetection');
  return new ResourceProofs({
    nonces: new DpopNonces(deps.config.secrets.keyEncryptionKey),
    requireNonce: deps.config.dpopRequireNonce,
    remember: (id, expiresIn) => replays.insertUnlessLive(id, { jti: id, iss: 'dpop' } as never, expiresIn),
  });
}

/**
 * Anything our own routes throw becomes a friendly page or OAuth-style JSON; never a stack trace. A
 * database that cannot answer is a 503 to retry, whether our routes met it or oidc-provider's did.
 */
function errorBoundary(pages: Pages, logger: Logger) {
  function answer(ctx: Context, error: unknown, asHtml: boolean): void {
    // argon2 at its bound outside the sign-in page (which answers it itself): busy, not broken.
    if (error instanceof HashingBusy) return answerBusy(ctx, pages, error.retryAfterSeconds);
    if (isDatabaseUnavailable(error)) return answerDatabaseOutage(ctx, error, pages, logger, asHtml);
    // Each surface answers a value PostgreSQL refused in its own way; whatever else reaches it, here.
    const status = refusedByDatabase(error, logger, ctx.state.requestId) ? 400 : httpStatusOf(error);
    if (status >= 500) logger.error({ event: 'unhandled_error', requestId: ctx.state.requestId, err: error });
    if (asHtml) {
      pages.requestError(ctx, status);
    } else {
      ctx.status = status;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: status >= 500 ? 'server_error' : 'invalid_request', error_description: status >= 500 ? 'Something went wrong.' : 'The request could not be understood.' };
    }
  }

  return async function catchErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      return answer(ctx, error, wantsHtml(ctx));
    }
    // What oidc-provider met and answered as its own 500 (src/http/provider-errors.ts).
    const met = markedError(ctx);
    if (met !== undefined) answer(ctx, met, ctx.response.is('html') === 'html');
  };
}

function httpStatusOf(error: unknown): number {
  const status = (error as { status?: unknown; expose?: unknown })?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
}

function wantsHtml(ctx: Context): boolean {
  return ctx.method === 'GET' || ctx.is('application/x-www-form-urlencoded') === 'application/x-www-form-urlencoded' || ctx.accepts('html', 'json') === 'html';
}

/**
 * Our stylesheet and icon, served from the same origin so the CSP can forbid everything else.
 * Browsers ask for /favicon.ico on their own (for JSON responses too); it gets the same SVG.
 */
function assets(pages: Pages) {
  const files = new Map([
    ['/assets/gatehouse.css', { type: 'text/css; charset=utf-8', body: pages.stylesheet }],
    ['/assets/favicon.svg', { type: 'image/svg+xml', body: pages.favicon }],
    ['/favicon.ico', { type: 'image/svg+xml', body: pages.favicon }],
  ]);
  return async function serveAsset(ctx: Context, next: Next) {
    const file = files.get(ctx.path);
    if (!file || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.state.route = ctx.path;
    ctx.type = file.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file.body;
  };
}

/** oidc-provider's endpoints by path, to name the requests answered before it ran (a rate limit's 429). */
function providerRoutes(provider: Provider): Map<string, string> {
  const names = ['authorization', 'token', 'userinfo', 'jwks', 'introspection', 'revocation', 'end_session', 'pushed_authorization_request'] as const;
  return new Map([...names.map((name) => [provider.pathFor(name), name] as const), ['/.well-known/openid-configuration', 'discovery']]);
}

/** The provider is rebuilt when signing keys change, so each request asks for the current one. */
function currentProvider(oidc: OidcService) {
  const mounted = new WeakMap<Provider, Koa.Middleware>();
  return function oidcProvider(ctx: Context, next: Next) {
    const provider = oidc.provider;
    let middleware = mounted.get(provider);
    if (!middleware) {
      middleware = mount(provider as unknown as Koa) as Koa.Middleware;
      mounted.set(provider, middleware);
    }
    return middleware(ctx, next);
  };
}

function notFound(pages: Pages) {
  return async function pageNotFound(ctx: Context) {
    if (ctx.body !== undefined || ctx.status !== 404) return;
    if (ctx.accepts('html', 'json') === 'html') {
      pages.error(ctx, { status: 404, heading: 'error.not_found.heading', message: 'error.not_found.message' });
    } else {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'There is nothing at this address.' };
    }
  };
}
