// The second step of a sign-in: after the password (or, for a step-up, the session's own sign-in),
// a code from an authenticator app, a recovery code, or one of the person's passkeys. Its pages and
// answers; where a sign-in goes once the step is passed or refused is src/interaction/routes.ts's.
import type { Context } from 'koa';
import type { Words } from '../i18n/catalogs.js';
import { formBody, seeOther } from '../http/forms.js';
import { signIns } from '../observability/metrics.js';
import { MAX_RESPONSE_LENGTH } from '../passkeys/passkeys.js';
import { PASSKEYS_SCRIPT, WEBAUTHN_SCRIPT } from '../passkeys/assets.js';
import { tooManyAttemptsMessage } from '../security/sign-in-throttle.js';
import type { FactorCheck } from '../factors/throttle.js';
import { normaliseCode } from '../factors/totp.js';
import { acrOf, amrOf, satisfies, type Acr, type Amr } from '../factors/levels.js';
import type { Details, InteractionDependencies, InteractionState } from './routes.js';

/**
 * A sign-in halfway: the methods already used (the password just typed, or the session's own when
 * only the level is missing), waiting for a second factor. Kept in the interaction's result, which
 * only this server writes; a browser that jumps ahead to the resume address has no login in it.
 */
export interface PendingSecondStep {
  accountId: string;
  methods: Amr[];
  /** A step-up's: when the session's sign-in proved its first factor, which the sign-in keeps. */
  authTime?: number;
}

export const PENDING = 'gatehousePendingSecondStep';

export function pendingOf(details: Details): PendingSecondStep | undefined {
  const pending = (details.result as Record<string, unknown> | undefined)?.[PENDING] as PendingSecondStep | undefined;
  return pending && typeof pending.accountId === 'string' && Array.isArray(pending.methods)
    && (pending.authTime === undefined || typeof pending.authTime === 'number') ? pending : undefined;
}

/** What the second step needs of the rest of the sign-in. */
export interface SignInFlow {
  /** The level this request must reach. */
  levelRequired(details: Details): Promise<Acr | undefined>;
  /** What the second step offers this person for that level. */
  offers(accountId: string, required: Acr | undefined): Promise<{ code: boolean; passkey: boolean }>;
  /** Sends the app unmet_authentication_requirements. */
  refuseLevel(ctx: Context, accountId: string, required: Acr | undefined): Promise<void>;
  /** Completes the sign-in with these methods; a step-up's keeps the session's sign-in time. */
  signedIn(ctx: Context, accountId: string, methods: Amr[], more?: Record<string, unknown>, how?: { authTime?: number | undefined }): Promise<void>;
}

export function secondStep(deps: InteractionDependencies, flow: SignInFlow) {
  const { pages, csrf } = deps;
  const { levelRequired, refuseLevel, signedIn } = flow;
  const secondStepOffers = flow.offers;

  /** The step's page; `known`, what it offers when the caller has just worked that out, spares asking again. */
  async function renderSecondStep(ctx: Context, problem?: { status: number; message: Words }, known?: { code: boolean; passkey: boolean }) {
    const { details, clientName } = ctx.state.interaction as InteractionState;
    const pending = pendingOf(details);
    const offered = known ?? (pending ? await secondStepOffers(pending.accountId, await levelRequired(details)) : { code: true, passkey: false });
    pages.render(ctx, 'second-factor', 'secondFactor.title', {
      clientName,
      error: problem?.message,
      offerCode: offered.code,
      action: `/interaction/${details.uid}/second-factor`,
      passkey: offered.passkey
        ? { action: `/interaction/${details.uid}/second-factor/passkey`, options: `/interaction/${details.uid}/second-factor/passkey/options`, scripts: [WEBAUTHN_SCRIPT, PASSKEYS_SCRIPT] }
        : undefined,
      abortAction: `/interaction/${details.uid}/abort`,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  /**
   * The second step: a code from the authenticator app (six digits) or a recovery code. Guesses
   * are counted per account before any code is checked (src/factors/throttle.ts); a code is
   * accepted once (src/factors/store.ts).
   */
  async function secondFactor(ctx: Context) {
    const { details } = ctx.state.interaction as InteractionState;
    const pending = pendingOf(details);
    if (!pending) return seeOther(ctx, `/interaction/${details.uid}`);
    const typed = typeof formBody(ctx).code === 'string' ? (formBody(ctx).code as string).slice(0, 64) : '';
    if (!typed.trim()) return renderSecondStep(ctx, { status: 400, message: 'secondFactor.error.missing' });
    const attempt = await secondStepAttempt(ctx, pending);
    if (!attempt) return;
    const isTotp = normaliseCode(typed) !== undefined;
    let accepted = false;
    let reason = 'wrong';
    if (isTotp) {
      const used = await deps.factors.store.useTotp(pending.accountId, typed);
      accepted = used.ok;
      if (!used.ok) reason = used.reason;
    } else {
      const used = await deps.factors.store.useRecoveryCode(pending.accountId, typed);
      if (used) {
        accepted = true;
        await deps.factors.recoveryCodeUsed(pendingActor(ctx, pending), pending.accountId, used.remaining, String(details.params.client_id));
      }
    }
    const factor = isTotp ? 'totp' : 'recovery_code';
    if (!accepted) return secondStepRefused(ctx, pending, factor, reason, 'secondFactor.error.wrong');
    return secondStepPassed(ctx, pending, attempt, factor, ['otp']);
  }

  function pendingActor(ctx: Context, pending: PendingSecondStep) {
    return { type: 'user' as const, id: pending.accountId, ip: ctx.ip };
  }

  /**
   * The pending person's guesses at a second factor, counted per account before anything is
   * checked (src/factors/throttle.ts): the attempt, or nothing once the 429 page is answered.
   */
  async function secondStepAttempt(ctx: Context, pending: PendingSecondStep): Promise<Extract<FactorCheck, { allowed: true }> | undefined> {
    const attempt = await deps.factorThrottle.check(pending.accountId);
    if (attempt.allowed) return attempt;
    signIns.inc({ outcome: 'throttled', factor: 'second_factor' });
    ctx.set('Retry-After', String(attempt.retryAfterSeconds));
    await renderSecondStep(ctx, { status: 429, message: tooManyAttemptsMessage(attempt.retryAfterSeconds) });
    return undefined;
  }

  /** A second factor refused: counted, audited, and the step shown again with `message`. */
  async function secondStepRefused(ctx: Context, pending: PendingSecondStep, factor: string, reason: string, message: Words) {
    const { details } = ctx.state.interaction as InteractionState;
    signIns.inc({ outcome: 'failed', factor });
    await deps.audit.append({
      type: 'sign_in.second_factor_failed', actor: pendingActor(ctx, pending), userId: pending.accountId, clientId: String(details.params.client_id), details: { factor, reason },
    });
    return renderSecondStep(ctx, { status: 401, message });
  }

  /** A second factor accepted: the guesses settle, and the sign-in completes if it now reaches the level asked for. */
  async function secondStepPassed(ctx: Context, pending: PendingSecondStep, attempt: Extract<FactorCheck, { allowed: true }>, factor: string, added: Amr[], more: Record<string, unknown> = {}) {
    const { details } = ctx.state.interaction as InteractionState;
    await attempt.recordSuccess();
    signIns.inc({ outcome: 'succeeded', factor });
    const methods: Amr[] = [...pending.methods, ...added];
    const required = await levelRequired(details);
    if (!satisfies(acrOf(amrOf(methods)), required)) return refuseLevel(ctx, pending.accountId, required);
    return signedIn(ctx, pending.accountId, methods, more, { authTime: pending.authTime });
  }

  /** A challenge for the second step's passkey: only the pending person's passkeys (JSON, fetched by views/passkeys.js). */
  async function secondStepPasskeyOptions(ctx: Context) {
    const { details } = ctx.state.interaction as InteractionState;
    const pending = pendingOf(details);
    if (!deps.passkeys?.available || !pending) return pages.oauthError(ctx, 404, 'invalid_request');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.passkeys.authenticationOptions('confirmation', { interaction: details.uid }, pending.accountId);
  }

  /**
   * The second step with a passkey: an assertion (purpose 'confirmation') from one of the pending
   * person's own passkeys, throttled with the code guesses. The sign-in then carries the
   * passkey's methods beside the password's (amr pwd, hwk|swk, user, mfa).
   */
  async function secondFactorWithPasskey(ctx: Context) {
    const { details } = ctx.state.interaction as InteractionState;
    const pending = pendingOf(details);
    const passkeys = deps.passkeys;
    if (!pending) return seeOther(ctx, `/interaction/${details.uid}`);
    if (!passkeys?.available) return pages.oauthError(ctx, 404, 'invalid_request');
    const typed = formBody(ctx).assertion;
    const response = typeof typed === 'string' && typed.length <= MAX_RESPONSE_LENGTH ? typed : '';
    if (!response) return renderSecondStep(ctx, { status: 400, message: 'secondFactor.error.passkeyMissing' });
    const attempt = await secondStepAttempt(ctx, pending);
    if (!attempt) return;
    const outcome = await passkeys.authenticate('confirmation', { interaction: details.uid }, response, pending.accountId);
    if (!outcome.ok) return secondStepRefused(ctx, pending, 'passkey', outcome.reason, 'secondFactor.error.passkeyRefused');
    return secondStepPassed(ctx, pending, attempt, 'passkey', outcome.amr, { passkeyId: outcome.passkey.id });
  }

  return { renderSecondStep, secondFactor, secondStepPasskeyOptions, secondFactorWithPasskey };
}
