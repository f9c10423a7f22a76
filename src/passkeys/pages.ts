// "Passkeys" on the account pages: the person's passkeys with their names, when each was added
// and last used; adding one (named) after a recent sign-in, renaming one, and removing one after
// confirming who they are again, with the password or with a passkey (a browser left signed in
// must not be enough to put a way in on the account or take one off). Every challenge is bound
// to this browser's session; every form and every challenge request carries the CSRF token;
// every act is audited (passkeys.ts).
// This page is meant to become part of /account/security, beside the other factors.
import Router from '@koa/router';
import type { Words } from '../i18n/catalogs.js';
import type { Context } from 'koa';
import { accountGuard, holderOf } from '../account/guard.js';
import { formBody, formValue, Notices } from '../http/forms.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import { shownDate } from '../presentation/dates.js';
import { checkPasswordAgain, type PasswordRefusal } from '../security/password-again.js';
import { PASSKEYS_SCRIPT, WEBAUTHN_SCRIPT } from './assets.js';
import { MAX_RESPONSE_LENGTH, PasskeyRefused, type Passkeys } from './passkeys.js';
import { MAX_NAME_LENGTH, MAX_PASSKEYS_PER_PERSON } from './store.js';
import { CHALLENGE_TTL_SECONDS } from './challenges.js';

export const PASSKEYS_PAGE = '/account/passkeys';
const REMOVE_PAGE = `${PASSKEYS_PAGE}/remove`;
/** Where a session too old to add a passkey signs in again, and comes back to the list. */
const ADD_PAGE = `${PASSKEYS_PAGE}/add`;

/** What the pages say after a form, by the `notice` key of their address (words in the views). */
const NOTICES = new Notices('notice', {
  'passkey-added': 'added',
  'passkey-renamed': 'renamed',
  'passkey-removed': 'removed',
});

/**
 * A refusal, worded by the view: `registration` the browser's answer did not verify;
 * `duplicate` that passkey is registered already; `too-many` the person has as many passkeys as
 * they may; `not-found` no such passkey of yours;
 * `password` wrong password; `passkey` the confirming passkey did not verify; `confirm` neither
 * was given; `busy`; `throttled` (with `retryAfter`).
 */
type PasskeyProblem = 'registration' | 'duplicate' | 'too-many' | 'not-found' | 'password' | 'passkey' | 'confirm' | 'busy' | 'throttled';

const STATUS: Record<PasskeyProblem, number> = {
  registration: 400, duplicate: 409, 'too-many': 409, 'not-found': 404, password: 400, passkey: 400, confirm: 400, busy: 503, throttled: 429,
};

/** The removal page's problem for a password it did not take (`throttled` carries its wait). */
const PASSWORD_REFUSALS: Record<Exclude<PasswordRefusal['reason'], 'throttled'>, PasskeyProblem> = { missing: 'confirm', wrong: 'password', busy: 'busy' };

export function passkeyRoutes(deps: SurfaceDependencies & { passkeys: Passkeys }): Router {
  const { passkeys, pages, csrf } = deps;
  const router = new Router();
  const { parseForm, requireCsrf, signedIn, recentSignIn, friendlyErrors } = accountGuard(deps);
  const scripts = [WEBAUTHN_SCRIPT, PASSKEYS_SCRIPT];

  function bindingOf(ctx: Context) {
    return { session: holderOf(ctx).sessionHandle };
  }

  async function renderList(ctx: Context, problem?: PasskeyProblem, extra: { retryAfter?: Words } = {}) {
    const { person, recent } = holderOf(ctx);
    const list = await passkeys.listFor(person.id);
    const locale = pages.languages.forRequest(ctx);
    pages.render(ctx, 'account/passkeys', 'account.passkeys.title', {
      person,
      available: passkeys.available,
      // Adding one needs a recent sign-in (src/security/recent-sign-in.ts): otherwise a link to sign in again.
      recent,
      // At the limit the page offers no way to add one (the routes below refuse it too).
      full: list.length >= MAX_PASSKEYS_PER_PERSON,
      maxPasskeys: MAX_PASSKEYS_PER_PERSON,
      signInAgain: ADD_PAGE,
      passkeys: list.map((passkey) => ({
        id: passkey.id,
        name: passkey.name,
        added: shownDate(passkey.createdAt, locale),
        lastUsed: passkey.lastUsedAt ? shownDate(passkey.lastUsedAt, locale) : null,
        removeHref: `${REMOVE_PAGE}?passkey=${passkey.id}`,
      })),
      notice: problem ? undefined : NOTICES.of(ctx),
      problem,
      ...extra,
      maxNameLength: MAX_NAME_LENGTH,
      addAction: PASSKEYS_PAGE,
      optionsAction: `${PASSKEYS_PAGE}/registration-options`,
      renameAction: `${PASSKEYS_PAGE}/rename`,
      csrf: csrf.token(ctx),
      scripts: passkeys.available ? scripts : [],
    }, problem ? STATUS[problem] : 200);
  }

  function showList(ctx: Context) {
    return renderList(ctx);
  }

  async function registrationOptions(ctx: Context) {
    const { person, recent } = holderOf(ctx);
    if (!passkeys.available) return renderList(ctx, 'registration');
    ctx.set('Cache-Control', 'no-store');
    // Asked by the page's script, which sends the person to sign in again on this answer.
    if (!recent) {
      ctx.status = 403;
      ctx.body = { error: 'sign_in_again', location: ADD_PAGE };
      return;
    }
    try {
      ctx.body = await passkeys.registrationOptions(person, bindingOf(ctx));
    } catch (error) {
      if (!(error instanceof PasskeyRefused)) throw error;
      // Before the browser makes a passkey that could not be kept; the page's script says why.
      ctx.status = 409;
      ctx.body = { error: 'too_many_passkeys', max: MAX_PASSKEYS_PER_PERSON };
    }
  }

  async function addPasskey(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    const body = formBody(ctx);
    const response = typeof body.response === 'string' && body.response.length <= MAX_RESPONSE_LENGTH ? body.response : '';
    const name = typeof body.name === 'string' ? body.name : '';
    try {
      await passkeys.register(actor, person, bindingOf(ctx), response, name);
    } catch (error) {
      if (!(error instanceof PasskeyRefused)) throw error;
      deps.logger.info({ event: 'passkey.registration_refused', reason: error.reason, accountId: person.id, requestId: ctx.state.requestId });
      return renderList(ctx, error.reason === 'duplicate' ? 'duplicate' : error.reason === 'too_many' ? 'too-many' : 'registration');
    }
    NOTICES.seeOther(ctx, PASSKEYS_PAGE, 'passkey-added');
  }

  async function renamePasskey(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    const id = formValue(ctx, 'passkey', 64);
    const name = typeof formBody(ctx).name === 'string' ? formBody(ctx).name as string : '';
    if (id === undefined || !(await passkeys.rename({ ...actor, id: person.id }, id, name))) return renderList(ctx, 'not-found');
    NOTICES.seeOther(ctx, PASSKEYS_PAGE, 'passkey-renamed');
  }

  async function renderRemove(ctx: Context, id: string | undefined, problem?: PasskeyProblem, extra: { retryAfter?: Words } = {}) {
    const { person } = holderOf(ctx);
    const passkey = id === undefined ? undefined : await passkeys.store.findOwn(person.id, id);
    if (!passkey) return renderList(ctx, 'not-found');
    pages.render(ctx, 'account/passkey-remove', 'account.passkeyRemove.title', {
      person,
      passkey: { id: passkey.id, name: passkey.name, added: shownDate(passkey.createdAt, pages.languages.forRequest(ctx)) },
      problem,
      ...extra,
      action: REMOVE_PAGE,
      optionsAction: `${PASSKEYS_PAGE}/confirmation-options`,
      back: PASSKEYS_PAGE,
      csrf: csrf.token(ctx),
      scripts: passkeys.available ? scripts : [],
    }, problem ? STATUS[problem] : 200);
  }

  function showRemove(ctx: Context) {
    const id = typeof ctx.query.passkey === 'string' ? ctx.query.passkey : undefined;
    return renderRemove(ctx, id);
  }

  async function confirmationOptions(ctx: Context) {
    const { person } = holderOf(ctx);
    if (!passkeys.available) return renderList(ctx, 'passkey');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await passkeys.authenticationOptions('confirmation', bindingOf(ctx), person.id);
  }

  /** Confirms who is at the keyboard: a passkey of theirs, or their password under the sign-in throttle. */
  async function confirmed(ctx: Context, id: string): Promise<boolean> {
    const { person, actor } = holderOf(ctx);
    const body = formBody(ctx);
    const assertion = typeof body.assertion === 'string' && body.assertion.length <= MAX_RESPONSE_LENGTH ? body.assertion : '';
    if (assertion) {
      const outcome = await passkeys.authenticate('confirmation', bindingOf(ctx), assertion, person.id);
      if (outcome.ok) return true;
      await passkeys.recordRefusal(actor, person.id, 'confirmation', outcome.reason);
      await renderRemove(ctx, id, 'passkey');
      return false;
    }
    const refused = await checkPasswordAgain(deps, ctx, person, body.current_password);
    if (!refused) return true;
    if (refused.reason === 'throttled') await renderRemove(ctx, id, 'throttled', { retryAfter: refused.wait });
    else await renderRemove(ctx, id, PASSWORD_REFUSALS[refused.reason]);
    return false;
  }

  async function removePasskey(ctx: Context) {
    const { person, actor } = holderOf(ctx);
    const id = formValue(ctx, 'passkey', 64);
    if (id === undefined || !(await passkeys.store.findOwn(person.id, id))) return renderList(ctx, 'not-found');
    if (!(await confirmed(ctx, id))) return;
    if (!(await passkeys.remove(actor, person, id))) return renderList(ctx, 'not-found');
    NOTICES.seeOther(ctx, PASSKEYS_PAGE, 'passkey-removed');
  }

  router.use(friendlyErrors);
  router.get(PASSKEYS_PAGE, signedIn(), showList);
  router.get(ADD_PAGE, signedIn(), recentSignIn(ADD_PAGE), (ctx) => ctx.redirect(`${PASSKEYS_PAGE}#passkey-name`));
  router.post(`${PASSKEYS_PAGE}/registration-options`, parseForm, requireCsrf, signedIn(PASSKEYS_PAGE), registrationOptions);
  // The registration itself spends a challenge that only a recent session was given (above):
  // it is accepted for as long as that challenge lives.
  router.post(PASSKEYS_PAGE, parseForm, requireCsrf, signedIn(PASSKEYS_PAGE), recentSignIn(PASSKEYS_PAGE, CHALLENGE_TTL_SECONDS), addPasskey);
  router.post(`${PASSKEYS_PAGE}/rename`, parseForm, requireCsrf, signedIn(PASSKEYS_PAGE), renamePasskey);
  router.get(REMOVE_PAGE, signedIn(), showRemove);
  router.post(`${PASSKEYS_PAGE}/confirmation-options`, parseForm, requireCsrf, signedIn(PASSKEYS_PAGE), confirmationOptions);
  router.post(REMOVE_PAGE, parseForm, requireCsrf, signedIn(PASSKEYS_PAGE), removePasskey);
  return router;
}
