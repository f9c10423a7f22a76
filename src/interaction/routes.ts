// Sign-in and consent: the pages oidc-provider sends people to during an authorization request.
// Each route is a short list of named steps; the provider owns the interaction state, these
// routes only collect the person's answer and hand it back.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { InteractionResults, Provider } from 'oidc-provider';
import { HashingBusy } from '../people/passwords.js';
import type { User, UserStore } from '../people/users.js';
import type { AuditLog } from '../audit/log.js';
import type { Enrolment } from '../enrolment/acts.js';
import { SIGN_UP_PAGE } from '../enrolment/mail.js';
import { isDatabaseUnavailable, refusedByDatabase } from '../db/errors.js';
import type { CsrfProtection } from '../http/csrf.js';
import { formBody, formParser, csrfGuard, seeOther } from '../http/forms.js';
import type { Pages } from '../http/pages.js';
import type { Logger } from '../logger.js';
import type { ResourceServerStore } from '../resources/store.js';
import { normaliseEmail, type KeyedDigest } from '../security/keyed-digest.js';
import type { KnownDevices } from '../security/known-devices.js';
import { tooManyAttemptsMessage, type SignInThrottle } from '../security/sign-in-throttle.js';
import type { AccountNotices } from '../notices/account-notices.js';
import { describeDevice } from '../presentation/devices.js';
import { shownDate } from '../presentation/dates.js';
import { RECOVER_PAGE, SIGN_IN_LINK_PAGE } from '../recovery/routes.js';
import type { GivenConsent } from './app-connected.js';
import { isUsable } from '../people/users.js';
import { MAX_RESPONSE_LENGTH, type Passkeys } from '../passkeys/passkeys.js';
import { PASSKEYS_SCRIPT, WEBAUTHN_SCRIPT } from '../passkeys/assets.js';
import { claimsNamedIn, claimsOfScope, describeApiScopes, describeClaims, describeOidcScopes } from '../presentation/scopes.js';
import { signIns } from '../observability/metrics.js';
import type { FactorActs } from '../factors/acts.js';
import type { FactorThrottle } from '../factors/throttle.js';
import { acrOf, amrOf, satisfies, type Acr, type Amr } from '../factors/levels.js';
import { requiredLevel, type LevelRules } from '../factors/requirements.js';
import { ACR_UNMET } from '../oidc/configuration.js';
import { pageSession } from '../oidc/internals.js';
import { ACCOUNT_CLIENT_ID, ADMIN_SCOPE } from '../vocabulary.js';
import type { Words } from '../i18n/catalogs.js';
import { PENDING, pendingOf, secondStep, type PendingSecondStep } from './second-step.js';

export interface InteractionDependencies {
  provider(): Provider;
  users: UserStore;
  resources: ResourceServerStore;
  pages: Pages;
  csrf: CsrfProtection;
  throttle: SignInThrottle;
  knownDevices: KnownDevices;
  logger: Logger;
  audit: AuditLog;
  /** Offers sign-up on the sign-in page (SIGNUP=open), and sends a waiting sign-up a new link. */
  enrolment: Pick<Enrolment, 'signUpOn' | 'resendVerification'>;
  /** Keys what was typed as an email that names no account, for the audit log (keyed-digest.ts). */
  unknownEmailDigest: KeyedDigest;
  /** PASSWORD_RECOVERY: the sign-in page offers "Forgot password?" and, when refused, a sign-in link. */
  passwordRecovery: boolean;
  /** Tells the person of a sign-in from a browser their account had not used. */
  notices: AccountNotices;
  /** Records a consent's audit entry, with the "app connected" notice when the app is new (app-connected.ts). */
  recordConsent(consent: GivenConsent): Promise<void>;
  /** Second factors: whether a person has one, and spending a code (src/factors/). */
  factors: FactorActs;
  /** The server's own rules on sign-in levels (ADMIN_REQUIRE_SECOND_FACTOR). */
  levelRules: LevelRules;
  /** Code guesses, per account, with counters a correct password does not clear. */
  factorThrottle: FactorThrottle;
  /** Passkey sign-in (src/passkeys/): offered on the sign-in page when the issuer can have passkeys. */
  passkeys?: Passkeys | undefined;
}

/** RFC 8176 methods a session's amr may hold that a step-up keeps. */
const KEPT_METHODS = new Set<string>(['pwd', 'otp', 'hwk', 'swk', 'user', 'pin']);

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface InteractionState {
  details: Details;
  clientName: string;
  /** The pages the app registered about itself (client_uri, policy_uri, tos_uri), which consent links to. */
  appPages: { home?: string; policy?: string; terms?: string };
}

const GENERIC_SIGN_IN_ERROR = 'login.error.incorrect';
const BUSY_MESSAGE = 'problem.busyPassword';

export function interactionRoutes(deps: InteractionDependencies): Router {
  const { pages, csrf } = deps;
  const router = new Router({ prefix: '/interaction/:uid' });

  // A value PostgreSQL refused (src/db/errors.ts) is a bad request, never a 500.
  router.use(async function refuseUnusableInput(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      if (!refusedByDatabase(error, deps.logger, ctx.state.requestId)) throw error;
      pages.oauthError(ctx, 400, 'invalid_request');
    }
  });

  const parseForm = formParser();

  async function loadInteraction(ctx: Context, next: Next) {
    let details: Details;
    try {
      details = await deps.provider().interactionDetails(ctx.req, ctx.res);
    } catch (error) {
      // A database that cannot answer is an outage to retry (the error boundary's 503), not an
      // expired sign-in to start again.
      if (isDatabaseUnavailable(error)) throw error;
      return pages.oauthError(ctx, 400, 'session_not_found');
    }
    // The uid in the address must be the one bound to this browser's interaction cookie.
    if (details.uid !== ctx.params.uid) return pages.oauthError(ctx, 400, 'session_not_found');
    const client = await deps.provider().Client.find(String(details.params.client_id));
    if (!client) return pages.oauthError(ctx, 400, 'invalid_client');
    const appPages = { home: client.clientUri, policy: client.policyUri, terms: client.tosUri };
    pages.languages.followUiLocales(ctx, details.params.ui_locales);
    // Gatehouse's own pages (account, console) are named in the reader's language, not by the
    // English name their client is registered with.
    const clientName = client.clientId === ACCOUNT_CLIENT_ID
      ? pages.languages.translator(pages.languages.forRequest(ctx)).t('login.accountClient')
      : client.clientName ?? client.clientId;
    ctx.state.interaction = { details, clientName, appPages } satisfies InteractionState;
    await next();
  }

  const requireCsrf = csrfGuard(csrf, pages, 'error.form_expired.hint.interaction');

  function requirePrompt(name: 'login' | 'consent') {
    return function checkPrompt(ctx: Context, next: Next) {
      const { details } = ctx.state.interaction as InteractionState;
      // A stale tab posting to a step that is already done: show the current step instead.
      if (details.prompt.name !== name) return seeOther(ctx, `/interaction/${details.uid}`);
      return next();
    };
  }

  // The second step's pages and answers (second-step.ts); where they lead is decided here.
  const { renderSecondStep, secondFactor, secondStepPasskeyOptions, secondFactorWithPasskey } = secondStep(deps, {
    levelRequired, offers: secondStepOffers, refuseLevel, signedIn,
  });

  async function showCurrentStep(ctx: Context) {
    const { details, clientName } = ctx.state.interaction as InteractionState;
    if (details.prompt.name === 'login') {
      if (pendingOf(details)) return renderSecondStep(ctx);
      // Signed in already, and only the level is short (acr_values, an essential acr, the app's
      // minimum): ask for the missing factor, not the password again.
      const reasons = details.prompt.reasons;
      const accountId = details.session?.accountId;
      if (accountId && reasons.length > 0 && reasons.every((reason) => reason === ACR_UNMET)) {
        // The step adds a factor to the session's sign-in; it is not a sign-in of its own. So the
        // sign-in keeps the time its first factor was proven (OIDC Core §2: auth_time is when the
        // person authenticated), and max_age or a recent-sign-in rule still asks for the password.
        // A session whose time cannot be read is asked for the password.
        const session = await pageSession(deps.provider(), ctx);
        const authTime = session.loginTs;
        if (session.accountId === accountId && session.uid === details.session?.uid && typeof authTime === 'number') {
          const sessionAmr = ((details.session as { amr?: unknown } | undefined)?.amr ?? []) as unknown[];
          const methods = sessionAmr.filter((m): m is Amr => typeof m === 'string' && KEPT_METHODS.has(m));
          return continueAfter(ctx, accountId, methods.length ? methods : ['pwd'], { fromSession: true, authTime });
        }
      }
      const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint.slice(0, 254) : '';
      return renderLogin(ctx, { clientName, email: hint });
    }
    if (details.prompt.name === 'consent') return renderConsent(ctx);
    return pages.oauthError(ctx, 400, 'invalid_request');
  }

  function renderLogin(ctx: Context, data: { clientName: string; email: string; error?: Words; confirmHint?: boolean; throttled?: boolean; passkeyError?: 'disabled' | 'refused' }, status = 200) {
    const { details } = ctx.state.interaction as InteractionState;
    const recovery = deps.passwordRecovery;
    pages.render(ctx, 'login', 'login.title', {
      ...data,
      error: data.error,
      signUp: deps.enrolment.signUpOn ? SIGN_UP_PAGE : undefined,
      recoverHref: recovery ? `${RECOVER_PAGE}?interaction=${details.uid}` : undefined,
      // Offered on every refusal by the throttle, whichever limit refused and whether or not the
      // email names an account: the page must not tell them apart (the mail is what differs).
      signInLink: recovery && data.throttled && data.email ? { action: SIGN_IN_LINK_PAGE, interaction: details.uid } : undefined,
      action: `/interaction/${details.uid}/login`,
      passkey: deps.passkeys?.available
        ? { action: `/interaction/${details.uid}/passkey`, options: `/interaction/${details.uid}/passkey/options`, scripts: [WEBAUTHN_SCRIPT, PASSKEYS_SCRIPT] }
        : undefined,
      abortAction: `/interaction/${details.uid}/abort`,
      csrf: csrf.token(ctx),
    }, status);
  }

  /**
   * The consent page lists what this request asks for that the person has not yet allowed; when
   * the app asks again for what was already allowed (prompt=consent), it lists everything asked
   * for, so the person never confirms an empty page.
   */
  async function renderConsent(ctx: Context) {
    const { details, clientName, appPages } = ctx.state.interaction as InteractionState;
    const missing = consentDetails(details);
    const requested = String(details.params.scope ?? '').split(' ').filter(Boolean);
    const nothingNew = !missing.missingOIDCScope?.length && !missing.missingOIDCClaims?.length
      && !Object.values(missing.missingResourceScopes ?? {}).some((s) => s.length);
    const oidcScopes = nothingNew ? requested : missing.missingOIDCScope ?? [];
    // Claims asked for one by one (the claims parameter) that no scope above already covers.
    const claims = nothingNew
      ? claimsNamedIn(details.params.claims).filter((claim) => !requested.some((scope) => claimsOfScope(scope).includes(claim)))
      : missing.missingOIDCClaims ?? [];
    const byApi = nothingNew
      ? Object.fromEntries(resourcesOf(details).map((identifier) => [identifier, requested]))
      : missing.missingResourceScopes ?? {};
    const user = await deps.users.findById(String(details.session?.accountId));
    const locale = pages.languages.forRequest(ctx);
    const apis = await Promise.all(
      Object.entries(byApi).map(async ([identifier, scopes]) => {
        const api = await deps.resources.find(identifier);
        // Gatehouse's own admin API, which an admin client asks an admin for (configuration.ts).
        if (!api && scopes.includes(ADMIN_SCOPE)) {
          return { name: pages.languages.translator(locale).t('consent.adminApi'), scopes: describeApiScopes([ADMIN_SCOPE], undefined, locale) };
        }
        // OIDC scopes ride along with every API (for userinfo); they are listed once, above.
        const apiScopes = scopes.filter((s) => api?.scopes.includes(s));
        return { name: api?.name ?? identifier, scopes: describeApiScopes(apiScopes, api, locale) };
      }),
    );
    pages.render(ctx, 'consent', 'consent.title', {
      clientName,
      // OpenID Connect Dynamic Client Registration §2: shown to the person when the app gave them.
      appPages,
      email: user?.email ?? '',
      scopes: describeOidcScopes(oidcScopes, locale),
      claims: describeClaims(claims, details.params.claims, locale),
      apis: apis.filter((api) => api.scopes.length > 0),
      action: `/interaction/${details.uid}/confirm`,
      csrf: csrf.token(ctx),
    });
  }

  async function signIn(ctx: Context) {
    const { details, clientName } = ctx.state.interaction as InteractionState;
    const body = formBody(ctx);
    const email = typeof body.email === 'string' ? body.email.trim().slice(0, 254) : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (!email || !password) {
      return renderLogin(ctx, { clientName, email, error: 'login.error.missing' }, 400);
    }
    // Throttled before the password is checked: a refused attempt costs no argon2 time and says
    // nothing about the password or the account, only how long to wait (sign-in-throttle.ts).
    const device = deps.knownDevices.deviceFor(ctx, email);
    const throttle = await deps.throttle.check({ email, address: ctx.ip, device });
    if (!throttle.allowed) {
      signIns.inc({ outcome: 'throttled', factor: 'password' });
      deps.logger.info({ event: 'sign_in.throttled', retryAfter: throttle.retryAfterSeconds, clientId: details.params.client_id, requestId: ctx.state.requestId });
      ctx.set('Retry-After', String(throttle.retryAfterSeconds));
      return renderLogin(ctx, { clientName, email, error: tooManyAttemptsMessage(throttle.retryAfterSeconds), throttled: true }, 429);
    }
    // The attempt already counts as a failure; only a success settles it otherwise.
    let outcome;
    try {
      outcome = await deps.users.authenticate(email, password);
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        // Nobody looked at the password: the outage must not count against the person. The hand
        // back needs the database too; if it is still down, the attempt stays counted.
        await throttle.handBack().catch((failure: unknown) => {
          deps.logger.warn({ event: 'sign_in.hand_back_failed', requestId: ctx.state.requestId, message: (failure as Error).message });
        });
        throw error;
      }
      if (!(error instanceof HashingBusy)) throw error;
      // Too many sign-ins are being checked: say so at once, keep the email, and do not count
      // a password nobody looked at.
      await throttle.handBack();
      signIns.inc({ outcome: 'busy', factor: 'password' });
      deps.logger.warn({ event: 'sign_in.busy', clientId: details.params.client_id, requestId: ctx.state.requestId });
      ctx.set('Retry-After', String(error.retryAfterSeconds));
      return renderLogin(ctx, { clientName, email, error: BUSY_MESSAGE }, 503);
    }
    if (!outcome.ok) {
      signIns.inc({ outcome: outcome.reason, factor: 'password' });
      // The reason stays in the server's log; the person sees one message for every failure.
      deps.logger.info({ event: 'sign_in.failed', reason: outcome.reason, clientId: details.params.client_id, requestId: ctx.state.requestId });
      await deps.audit.append({
        type: 'sign_in.failed',
        actor: { type: 'anonymous', id: null, ip: ctx.ip },
        userId: outcome.userId ?? null,
        clientId: String(details.params.client_id),
        // People type passwords into the email box: what was typed is kept only when it names an
        // account. Otherwise its keyed digest still tells repeated attempts at one value apart.
        details: { reason: outcome.reason, ...(outcome.userId ? { email } : { emailDigest: deps.unknownEmailDigest(normaliseEmail(email)) }) },
      });
      // A sign-up waiting for its address gets a new link, but the same answer as a wrong
      // password. Knowing its password proves nothing (whoever signed up chose it), so telling it
      // apart would let anyone learn whether an address has an account: sign up with it, then
      // sign in. With sign-up open, every failure says how a new account is confirmed instead.
      // The attempt stays counted like any failure: handed back, it would never meet the throttle,
      // while the same tries at an address that already had an account (whose password the
      // sign-up's is not) would, and the 429 would tell the two apart.
      if (outcome.reason === 'unverified') await deps.enrolment.resendVerification(outcome.user);
      const error = outcome.reason === 'disabled' ? 'login.error.disabled' : GENERIC_SIGN_IN_ERROR;
      return renderLogin(ctx, { clientName, email, error, confirmHint: outcome.reason !== 'disabled' && deps.enrolment.signUpOn }, 401);
    }
    await throttle.recordSuccess();
    signIns.inc({ outcome: 'succeeded', factor: 'password' });
    const locale = await rememberLanguage(ctx, outcome.user);
    deps.knownDevices.remember(ctx, email);
    // A browser this account had not signed in from: the person hears of it, so a sign-in that
    // was not theirs does not go unseen.
    if (device === undefined) {
      await deps.notices.sendAlone(outcome.user, { kind: 'new-browser', browser: describeDevice(ctx.get('user-agent') || null, locale), ip: ctx.ip });
    }
    await continueAfter(ctx, outcome.user.id, ['pwd'], { fromSession: false, person: outcome.user });
  }

  /** The level this request must reach: what the app asked for and its registered minimum. */
  async function levelRequired(details: Details): Promise<Acr | undefined> {
    const client = await deps.provider().Client.find(String(details.params.client_id));
    return requiredLevel(details.params as Record<string, unknown>, client, deps.levelRules);
  }

  /**
   * After the password (or, for a step-up, the session's own sign-in): a person with a second
   * factor is asked for it; anyone else is signed in, when that reaches the level the request
   * needs, or the app is told it cannot be reached (unmet_authentication_requirements, OpenID
   * Connect Unmet Authentication Requirements 1.0) rather than being sent round again.
   */
  async function continueAfter(ctx: Context, accountId: string, methods: Amr[], how: { fromSession: false; person: Pick<User, 'factorsResetAt'> } | { fromSession: true; authTime: number }) {
    const { details } = ctx.state.interaction as InteractionState;
    const required = await levelRequired(details);
    const offered = await secondStepOffers(accountId, required);
    const authTime = how.fromSession ? how.authTime : undefined;
    if (offered.code || offered.passkey) {
      details.result = { ...(details.result ?? {}), [PENDING]: { accountId, methods, ...(authTime !== undefined ? { authTime } : {}) } satisfies PendingSecondStep };
      await details.persist();
      return how.fromSession ? renderSecondStep(ctx, undefined, offered) : seeOther(ctx, `/interaction/${details.uid}`);
    }
    if (!satisfies(acrOf(methods), required)) return refuseLevel(ctx, accountId, required);
    // A session already at this level but past max_age, or prompt=login: a fresh password suffices.
    return signedIn(ctx, accountId, methods, {}, how.fromSession ? { authTime } : { person: how.person });
  }

  /**
   * What the second step offers this person for this request: the code field (an authenticator
   * app or recovery codes) unless only a passkey can reach the level asked for, and a passkey
   * when they have one and this issuer can use them. Neither: no second step.
   */
  async function secondStepOffers(accountId: string, required: Acr | undefined): Promise<{ code: boolean; passkey: boolean }> {
    const has = await deps.factors.secondFactorsOf(accountId);
    const passkey = has.passkey && deps.passkeys?.available === true;
    const code = has.code && satisfies(acrOf(amrOf(['pwd', 'otp'])), required);
    return { code, passkey };
  }

  async function refuseLevel(ctx: Context, accountId: string, required: Acr | undefined) {
    const { details } = ctx.state.interaction as InteractionState;
    deps.logger.info({ event: 'sign_in.level_unmet', accountId, required, clientId: details.params.client_id, requestId: ctx.state.requestId });
    return finish(ctx, {
      error: 'unmet_authentication_requirements',
      error_description: `this app needs a sign-in at ${required ?? 'a higher level'}, and the person has no second factor to reach it`,
    });
  }

  /**
   * The sign-in is complete: audited, and handed to the provider with its methods and level. A
   * step-up (`authTime`, the session's sign-in time) keeps that time: without `ts` the provider
   * would stamp the sign-in now, as though the first factor had just been proven too.
   */
  async function signedIn(ctx: Context, accountId: string, methods: Amr[], more: Record<string, unknown> = {}, how: { person?: Pick<User, 'factorsResetAt'>; authTime?: number | undefined } = {}) {
    const { details } = ctx.state.interaction as InteractionState;
    const amr = amrOf(methods);
    const acr = acrOf(amr);
    const stepUp = how.authTime !== undefined;
    deps.logger.info({ event: 'sign_in.succeeded', accountId, amr, ...(stepUp ? { stepUp } : {}), clientId: details.params.client_id, requestId: ctx.state.requestId });
    await deps.audit.append({
      type: 'sign_in.succeeded',
      actor: { type: 'user', id: accountId, ip: ctx.ip },
      userId: accountId,
      clientId: String(details.params.client_id),
      // A step-up's amr includes the methods of the sign-in it built on; the entry says which it was.
      details: { amr, acr, ...(stepUp ? { stepUp } : {}), ...more },
    });
    const login = { accountId, amr, acr, remember: true, ...(stepUp ? { ts: how.authTime } : {}) };
    const result: Record<string, unknown> = { ...(details.result ?? {}), login };
    delete result[PENDING];
    // An administrator removed their second factors since they last signed in: they are told
    // here, once, before going on (the mail alone may go unread, or to someone else by now).
    const resetAt = await deps.users.takeFactorsReset(accountId, how.person);
    if (!resetAt) return finish(ctx, result as InteractionResults);
    await remember(ctx, result as InteractionResults);
    const locale = pages.languages.forRequest(ctx);
    pages.render(ctx, 'factors-reset', 'factorsReset.title', { resetAt: shownDate(resetAt, locale), continueHref: details.returnTo });
  }

  /** A challenge for a passkey sign-in, bound to this browser's sign-in (JSON, fetched by views/passkeys.js). */
  async function passkeyOptions(ctx: Context) {
    const { details } = ctx.state.interaction as InteractionState;
    if (!deps.passkeys?.available) return pages.oauthError(ctx, 404, 'invalid_request');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.passkeys.authenticationOptions('sign_in', { interaction: details.uid });
  }

  /** The language of this sign-in, which their notices and later mails then come in. */
  async function rememberLanguage(ctx: Context, user: User): Promise<string> {
    const locale = pages.languages.forRequest(ctx);
    if (user.locale !== locale) {
      await deps.users.rememberLocale(user.id, locale);
      user.locale = locale;
    }
    return locale;
  }

  /**
   * Sign-in with a passkey: no email, the credential names the account. Throttled and audited
   * like a password (keyed on the account the credential names, or on one key for credentials
   * that name none), and refused for an account that could not sign in with its password either.
   */
  async function signInWithPasskey(ctx: Context) {
    const { details, clientName } = ctx.state.interaction as InteractionState;
    const passkeys = deps.passkeys;
    if (!passkeys?.available) return pages.oauthError(ctx, 404, 'invalid_request');
    const typed = formBody(ctx).response;
    const response = typeof typed === 'string' && typed.length <= MAX_RESPONSE_LENGTH ? typed : '';
    const presented = await passkeys.read(response);
    const claimedUser = presented.passkey ? await deps.users.findById(presented.passkey.userId) : undefined;
    const throttleEmail = claimedUser?.email ?? 'unknown passkey';
    const device = deps.knownDevices.deviceFor(ctx, throttleEmail);
    const throttle = await deps.throttle.check({ email: throttleEmail, address: ctx.ip, device });
    if (!throttle.allowed) {
      signIns.inc({ outcome: 'throttled', factor: 'passkey' });
      deps.logger.info({ event: 'sign_in.throttled', retryAfter: throttle.retryAfterSeconds, clientId: details.params.client_id, requestId: ctx.state.requestId });
      ctx.set('Retry-After', String(throttle.retryAfterSeconds));
      return renderLogin(ctx, { clientName, email: '', error: tooManyAttemptsMessage(throttle.retryAfterSeconds) }, 429);
    }
    const outcome = await passkeys.verify('sign_in', { interaction: details.uid }, presented);
    // The passkey verified is the one read: its person is the one already looked up.
    const user = outcome.ok && claimedUser?.id === outcome.userId ? claimedUser : undefined;
    const reason = !outcome.ok ? outcome.reason : !user ? 'unknown_passkey' : user.disabledAt ? 'disabled' : isUsable(user) ? undefined : 'not_activated';
    if (reason !== undefined || !outcome.ok || !user) {
      signIns.inc({ outcome: reason ?? 'failed', factor: 'passkey' });
      deps.logger.info({ event: 'sign_in.failed', reason, factor: 'passkey', clientId: details.params.client_id, requestId: ctx.state.requestId });
      await deps.audit.append({
        type: 'sign_in.failed',
        actor: { type: 'anonymous', id: null, ip: ctx.ip },
        userId: outcome.userId ?? null,
        clientId: String(details.params.client_id),
        details: { reason, method: 'passkey', ...(outcome.ok ? { passkeyId: outcome.passkey.id } : {}) },
      });
      return renderLogin(ctx, { clientName, email: '', passkeyError: reason === 'disabled' ? 'disabled' : 'refused' }, 401);
    }
    await throttle.recordSuccess();
    signIns.inc({ outcome: 'succeeded', factor: 'passkey' });
    const locale = await rememberLanguage(ctx, user);
    deps.knownDevices.remember(ctx, user.email);
    // A browser this account had not signed in from (the device was looked up for this account's email).
    if (device === undefined) {
      await deps.notices.sendAlone(user, { kind: 'new-browser', browser: describeDevice(ctx.get('user-agent') || null, locale), ip: ctx.ip });
    }
    deps.logger.info({ event: 'sign_in.succeeded', accountId: user.id, factor: 'passkey', clientId: details.params.client_id, requestId: ctx.state.requestId });
    await deps.audit.append({
      type: 'sign_in.succeeded',
      actor: { type: 'user', id: user.id, ip: ctx.ip },
      userId: user.id,
      clientId: String(details.params.client_id),
      details: { method: 'passkey', passkeyId: outcome.passkey.id, amr: outcome.amr },
    });
    // A passkey with user verification is phishing-resistant, the highest level: no step-up can ask for more.
    await finish(ctx, { login: { accountId: user.id, amr: outcome.amr, acr: acrOf(outcome.amr), remember: true } });
  }

  async function confirm(ctx: Context) {
    const { details } = ctx.state.interaction as InteractionState;
    const body = formBody(ctx);
    if (body.decision !== 'allow') {
      deps.logger.info({ event: 'consent.denied', accountId: details.session?.accountId, clientId: details.params.client_id });
      return finish(ctx, { error: 'access_denied', error_description: 'The user denied the request.' });
    }
    const provider = deps.provider();
    const accountId = String(details.session?.accountId);
    const clientId = String(details.params.client_id);
    const missing = consentDetails(details);
    const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    // No live grant for this app in this session means none anywhere: consent given in another
    // session is remembered into this one before the prompt (loadExistingGrant). So the app is
    // being connected now, not asked again for what it had or for more.
    const newApp = existing === undefined;
    // As it stood before this page, to put back if the consent cannot be recorded (below).
    const before = existing ? await provider.Grant.find(details.grantId!) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId });
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    deps.logger.info({ event: 'consent.given', accountId, clientId, grantId });
    const holdings = holdingsOf(grant);
    // oidc-provider saves the grant through its own storage, so its audit entry (and the notice)
    // cannot share a transaction with it. A consent that could not be recorded must not stand
    // unrecorded: a later sign-in would reuse it without asking. So the grant is put back as it was
    // (removed, if this page made it), and the person meets the error.
    await deps.recordConsent({
      event: {
        type: 'consent.given',
        actor: { type: 'user', id: accountId, ip: ctx.ip },
        userId: accountId,
        clientId,
        // What the grant holds, not only what this page added: with remembered consent (or
        // prompt=consent asking again) nothing is new, yet the app gets everything listed here.
        details: { grantId, ...holdings },
      },
      accountId,
      clientName: (ctx.state.interaction as InteractionState).clientName,
      scopes: holdings.scopes,
      apis: holdings.apis,
      newApp,
      locale: pages.languages.forRequest(ctx),
    }).catch(async (error: unknown) => {
      await (before ? before.save() : grant.destroy()).catch((undo: unknown) => {
        deps.logger.error({ event: 'consent.unrecorded_grant_kept', grantId, clientId, err: undo });
      });
      throw error;
    });
    await finish(ctx, { consent: { grantId } });
  }

  async function abort(ctx: Context) {
    await finish(ctx, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' });
  }

  /** Records the person's answer and sends the browser on to the provider with it. */
  async function finish(ctx: Context, result: InteractionResults) {
    await remember(ctx, result);
    seeOther(ctx, (ctx.state.interaction as InteractionState).details.returnTo);
  }

  /**
   * Records the person's answer on the interaction already loaded for this request (what
   * provider.interactionResult does, without loading it again), merged with the earlier step's
   * answer so a login given a moment ago still counts when consent is submitted. Following the
   * interaction's returnTo then hands it to the provider.
   */
  async function remember(ctx: Context, result: InteractionResults) {
    const { details } = ctx.state.interaction as InteractionState;
    details.result = 'error' in result ? result : { ...details.lastSubmission, ...result };
    await details.persist();
  }

  router.get('/', loadInteraction, showCurrentStep);
  router.post('/login', parseForm, loadInteraction, requireCsrf, requirePrompt('login'), signIn);
  router.post('/second-factor', parseForm, loadInteraction, requireCsrf, requirePrompt('login'), secondFactor);
  router.post('/second-factor/passkey/options', parseForm, loadInteraction, requireCsrf, requirePrompt('login'), secondStepPasskeyOptions);
  router.post('/second-factor/passkey', parseForm, loadInteraction, requireCsrf, requirePrompt('login'), secondFactorWithPasskey);
  router.post('/passkey/options', parseForm, loadInteraction, requireCsrf, requirePrompt('login'), passkeyOptions);
  router.post('/passkey', parseForm, loadInteraction, requireCsrf, requirePrompt('login'), signInWithPasskey);
  router.post('/confirm', parseForm, loadInteraction, requireCsrf, requirePrompt('consent'), confirm);
  router.post('/abort', parseForm, loadInteraction, requireCsrf, abort);
  return router;
}

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

interface GrantHoldings {
  getOIDCScope(): string;
  getOIDCClaims(): string[];
  resources?: Record<string, unknown>;
  getResourceScope(resource: string): string;
}

/** The scopes and claims a grant holds, OpenID and per API, as the audit log records them. */
function holdingsOf(grant: GrantHoldings): { scopes: string[]; claims: string[]; apis: Record<string, string[]> } {
  const split = (scope: string) => scope.split(' ').filter(Boolean);
  const apis = Object.keys(grant.resources ?? {}).sort().map((api) => [api, split(grant.getResourceScope(api))] as const);
  return { scopes: split(grant.getOIDCScope()), claims: [...grant.getOIDCClaims()].sort(), apis: Object.fromEntries(apis) };
}

/** What oidc-provider's consent prompt says is not yet granted. */
function consentDetails(details: Details): ConsentDetails {
  return details.prompt.details as ConsentDetails;
}

/** The APIs (resource indicators) the authorization request is for. */
function resourcesOf(details: Details): string[] {
  const { resource } = details.params;
  if (Array.isArray(resource)) return resource.filter((r): r is string => typeof r === 'string');
  return typeof resource === 'string' ? [resource] : [];
}
