// "Your name": the name, given name and family name apps see (the profile scope's claims), which
// the person may change themselves. No password is asked: a name opens nothing, and the apps given
// the profile hear of the change (CAEP token-claims-change, src/security-events/).
import type { Context } from 'koa';
import { isGatehouseError } from '../errors.js';
import { field, formBody, problemOf, type Problem } from '../http/forms.js';
import type { SurfaceDependencies } from '../http/surfaces.js';
import type { ProfileChanges } from '../people/users.js';
import { holderOf, noticeOf, seeOther } from './guard.js';

export const PROFILE_PAGE = '/account/profile';

export function profilePages(deps: SurfaceDependencies) {
  const { selfService, pages, csrf } = deps;

  function renderProfile(ctx: Context, form?: Required<ProfileChanges>, problem?: Problem) {
    const { person } = holderOf(ctx);
    pages.render(ctx, 'account/profile', 'account.profile.title', {
      person,
      form: form ?? { name: person.name, givenName: person.givenName ?? '', familyName: person.familyName ?? '' },
      notice: problem ? undefined : noticeOf(ctx),
      error: problem?.message,
      errorOn: problem?.field,
      action: PROFILE_PAGE,
      csrf: csrf.token(ctx),
    }, problem?.status ?? 200);
  }

  function showProfile(ctx: Context) {
    renderProfile(ctx);
  }

  async function updateProfile(ctx: Context) {
    const { actor } = holderOf(ctx);
    const body = formBody(ctx);
    // As typed, whatever its length: the store says what is wrong with it (the form parser bounds the body).
    const form = { name: field(body, 'name'), givenName: field(body, 'given_name'), familyName: field(body, 'family_name') };
    try {
      await selfService.updateOwnProfile(actor, form);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return renderProfile(ctx, form, problemOf(error, 'problem.accountNotFound'));
    }
    seeOther(ctx, PROFILE_PAGE, 'profile-updated');
  }

  return { showProfile, updateProfile };
}
