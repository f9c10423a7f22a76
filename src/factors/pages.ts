// /account/security: every way the person signs in (password, authenticator apps, recovery codes,
// passkeys: managed on /account/passkeys, src/passkeys/), when each was added and last used; adding an
// authenticator app (a QR code and the secret as text, confirmed by one valid code); a new set of
// recovery codes; removing a factor. Removing and replacing ask the person to prove it is them
// again first (their password or an authenticator code), so a browser left signed in is not
// enough to strip an account of its second factor. Every guess is throttled like at sign-in.
import type { Context } from 'koa';
import { formValue, type Problem } from '../http/forms.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { shownDate } from '../presentation/dates.js';
import { tooManyAttemptsMessage } from '../security/sign-in-throttle.js';
import { checkPasswordAgain, passwordProblem } from '../security/password-again.js';
import { holderOf, noticeOf, seeOther } from '../account/guard.js';
import { isUuidPattern } from '../people/users.js';
import { normaliseCode, qrCodeOf } from './totp.js';
import { MAX_AUTHENTICATOR_APPS_PER_PERSON, type Factor } from './store.js';
import { PASSKEYS_PAGE } from '../passkeys/pages.js';

export const SECURITY_PAGE = '/account/security';
export const TOTP_PAGE = `${SECURITY_PAGE}/authenticator`;

/** Each kind's name, as a catalog key (the security page shows it beside a factor's own name). */
const KIND_NAMES: Record<Factor['kind'], string> = {
  password: 'security.kind.password',
  totp: 'security.kind.totp',
  recovery_codes: 'security.kind.recovery_codes',
  passkey: 'security.kind.passkey',
};

export function securityPages(deps: SurfaceDependencies) {
  const { pages, csrf } = deps;
  const issuerHost = new URL(deps.config.issuer).host;

  async function renderSecurity(ctx: Context, problem?: Problem) {
    const { person } = holderOf(ctx);
    const factors = await deps.factors.list(person.id);
    // The password's shown name is its kind's: the template translates both.
    const password: Factor = { id: 'password', kind: 'password', name: KIND_NAMES.password, createdAt: person.createdAt, lastUsedAt: null };
    const hasTotp = factors.some((factor) => factor.kind === 'totp');
    const hasPasskey = factors.some((factor) => factor.kind === 'passkey');
    const locale = pages.languages.forRequest(ctx);
    pages.render(ctx, 'account/security', 'security.title', {
      person,
      factors: [password, ...factors].map((factor) => ({
        ...factor,
        kindName: KIND_NAMES[factor.kind],
        added: shownDate(factor.createdAt, locale),
        lastUsed: factor.lastUsedAt ? shownDate(factor.lastUsedAt, locale) : undefined,
        // Passkeys are renamed and removed on their own page, with a passkey or the password.
        removable: factor.kind !== 'password' && factor.kind !== 'passkey',
      })),
      hasTotp,
      hasPasskey,
      addTotp: TOTP_PAGE,
      passkeysPage: PASSKEYS_PAGE,
      removeAction: `${SECURITY_PAGE}/remove`,
      codesAction: `${SECURITY_PAGE}/recovery-codes`,
      notice: problem ? undefined : noticeOf(ctx),
      error: problem?.message,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  /** What a new authenticator app is called unless the person names it: stored, so in their language at the time. */
  function defaultName(ctx: Context): string {
    return pages.languages.translator(pages.languages.forRequest(ctx)).t('account.authenticator.defaultName');
  }

  function showSecurity(ctx: Context) {
    return renderSecurity(ctx);
  }

  async function renderEnrolment(ctx: Context, enrolment: { id: string; base32: string; uri: string }, name: string, problem?: Problem) {
    const { person } = holderOf(ctx);
    pages.render(ctx, 'account/authenticator', 'account.authenticator.title', {
      person,
      qr: await qrCodeOf(enrolment.uri),
      // Grouped in fours, as apps show and people type it.
      secret: enrolment.base32.replace(/(.{4})/g, '$1 ').trim(),
      factorId: enrolment.id,
      name,
      error: problem?.message,
      action: TOTP_PAGE,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  /** A pending enrolment's id, as the form or the address names it; undefined unless well formed. */
  function pendingIdOf(value: unknown): string | undefined {
    return typeof value === 'string' && isUuidPattern.test(value) ? value : undefined;
  }

  /**
   * Where a confirmation sent from a session too old to add a way in comes back after signing in
   * again: the same enrolment, so the secret already in the person's app still counts.
   */
  function enrolmentPage(ctx: Context): string {
    const pending = pendingIdOf(formValue(ctx, 'factor', 64));
    return pending ? `${TOTP_PAGE}?factor=${pending}` : TOTP_PAGE;
  }

  /** The refusal of one more authenticator app to a person who has as many as one may. */
  const appsFull = { status: 409, message: { key: 'security.error.tooManyApps', values: { max: MAX_AUTHENTICATOR_APPS_PER_PERSON } } };

  async function showEnrolment(ctx: Context) {
    const { person } = holderOf(ctx);
    // No secret is made for an app that could not be confirmed.
    if (await deps.factors.store.countTotp(person.id) >= MAX_AUTHENTICATOR_APPS_PER_PERSON) return renderSecurity(ctx, appsFull);
    const pending = pendingIdOf(ctx.query.factor);
    const resumed = pending ? await deps.factors.store.pendingTotp(person.id, pending, person.email, issuerHost) : undefined;
    const enrolment = resumed ? { id: pending!, ...resumed } : await deps.factors.store.beginTotp(person.id, person.email, issuerHost);
    await renderEnrolment(ctx, enrolment, defaultName(ctx));
  }

  async function confirmEnrolment(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    const factorId = formValue(ctx, 'factor', 64) ?? '';
    const name = (formValue(ctx, 'name', 60) ?? '').trim() || defaultName(ctx);
    const code = formValue(ctx, 'code', 64) ?? '';
    const enrolment = pendingIdOf(factorId) ? await deps.factors.store.pendingTotp(person.id, factorId, person.email, issuerHost) : undefined;
    if (!enrolment) return seeOther(ctx, TOTP_PAGE);
    const again = { id: factorId, ...enrolment };
    if (!normaliseCode(code)) return renderEnrolment(ctx, again, name, { status: 400, message: 'account.authenticator.codeMissing', field: 'code' });
    const attempt = await deps.factorThrottle.check(person.id);
    if (!attempt.allowed) {
      ctx.set('Retry-After', String(attempt.retryAfterSeconds));
      return renderEnrolment(ctx, again, name, { status: 429, message: tooManyAttemptsMessage(attempt.retryAfterSeconds), field: 'code' });
    }
    const outcome = await deps.factors.confirmTotp(actor, person.id, factorId, code, name);
    if (outcome.full) return renderSecurity(ctx, appsFull);
    if (!outcome.confirmed) {
      return renderEnrolment(ctx, again, name, { status: 400, message: 'account.authenticator.codeWrong', field: 'code' });
    }
    await attempt.recordSuccess();
    if (outcome.recoveryCodes) return renderCodes(ctx, outcome.recoveryCodes, true);
    seeOther(ctx, SECURITY_PAGE, 'authenticator-added');
  }

  function renderCodes(ctx: Context, codes: string[], first: boolean) {
    const { person } = holderOf(ctx);
    // Shown in this response only: never stored, never in an address, not cached.
    ctx.set('Cache-Control', 'no-store');
    pages.render(ctx, 'account/recovery-codes', 'account.recoveryCodes.title', { person, codes, first, back: SECURITY_PAGE });
  }

  /**
   * Proof that the person at this browser is the account's owner: the password, or a code from
   * one of their authenticator apps (spent like at sign-in). Undefined when proven; otherwise
   * the problem to show. Guesses count against the same limits as at sign-in.
   */
  async function prove(ctx: Context): Promise<Problem | undefined> {
    const { person } = holderOf(ctx);
    const typed = formValue(ctx, 'proof', 1024);
    if (!typed) return { status: 400, message: 'security.error.proofMissing', field: 'proof' };
    if (normaliseCode(typed)) {
      const attempt = await deps.factorThrottle.check(person.id);
      if (!attempt.allowed) {
        ctx.set('Retry-After', String(attempt.retryAfterSeconds));
        return { status: 429, message: tooManyAttemptsMessage(attempt.retryAfterSeconds), field: 'proof' };
      }
      const used = await deps.factors.store.useTotp(person.id, typed);
      if (used.ok) {
        await attempt.recordSuccess();
        return undefined;
      }
      // Six digits could also be someone's password: try it as one below.
    }
    const refused = await checkPasswordAgain(deps, ctx, person, typed);
    return refused && passwordProblem(refused, 'proof', { missing: 'security.error.proofMissing', wrong: 'security.error.proofWrong', wrongStatus: 401, busy: 'problem.busyPassword' });
  }

  async function removeFactor(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    const factorId = formValue(ctx, 'factor', 64) ?? '';
    const mine = (await deps.factors.store.list(person.id)).find((factor) => factor.id === factorId);
    if (!mine) return renderSecurity(ctx, { status: 404, message: 'security.error.notYours' });
    const problem = await prove(ctx);
    if (problem) return renderSecurity(ctx, problem);
    await deps.factors.removeOwn(actor, person.id, factorId);
    seeOther(ctx, SECURITY_PAGE, 'factor-removed');
  }

  async function newRecoveryCodes(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    // Recovery codes back up a second factor: an authenticator app or a passkey.
    const has = await deps.factors.secondFactorsOf(person.id);
    if (!has.passkey && !(await deps.factors.store.hasTotp(person.id))) return renderSecurity(ctx, { status: 409, message: 'security.error.codesNeedFactor' });
    const problem = await prove(ctx);
    if (problem) return renderSecurity(ctx, problem);
    renderCodes(ctx, await deps.factors.regenerateRecoveryCodes(actor, person.id), false);
  }

  return { showSecurity, showEnrolment, enrolmentPage, confirmEnrolment, removeFactor, newRecoveryCodes };
}
