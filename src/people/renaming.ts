// New names for a person, whoever gives them (the person on their account pages, an administrator):
// checked as at creation, written with an audit entry naming the claims that changed, or nothing at
// all when nothing would change. The new values go to the audit log's observers only (the apps
// given the profile hear of them, src/security-events/): the append-only log keeps no name, so
// none outlives an erased account there.
import type { Actor } from '../audit/events.js';
import type { Audited } from '../audit/audited.js';
import { found } from '../errors.js';
import { profileChangesOf, type ChangedNames, type ProfileChanges, type User, type UserStore } from './users.js';

export async function rename(
  deps: { audited: Audited; users: Pick<UserStore, 'findById' | 'findForUpdate' | 'updateProfile'> },
  actor: Actor,
  userId: string,
  changes: ProfileChanges,
): Promise<{ user: User; changed: ChangedNames }> {
  // A form that changes nothing (or a refused one) is answered without a transaction or an entry.
  const before = found(await deps.users.findById(userId), 'person');
  if (!Object.keys(profileChangesOf(before, changes)).length) return { user: before, changed: {} };
  return deps.audited(actor, async (trx) => {
    // Worked out again under the row's lock, so what is audited and told is exactly what this write
    // changes, and two renames at once take turns instead of both reporting the same change. (The
    // later form still wins a field both set: names carry no version to refuse a stale form by.)
    const changed = profileChangesOf(found(await deps.users.findForUpdate(userId, trx), 'person'), changes);
    const user = Object.keys(changed).length ? found(await deps.users.updateProfile(userId, changed, trx), 'person') : found(await deps.users.findById(userId, trx), 'person');
    // A rename that another, just before it, already made changes nothing: it says nothing either.
    const event = Object.keys(changed).length ? { type: 'user.profile_updated' as const, userId, details: { changed: Object.keys(changed) }, observed: { names: changed } } : null;
    return { result: { user, changed }, event };
  });
}
