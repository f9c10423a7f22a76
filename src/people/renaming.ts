// New names for a person, whoever gives them (the person on their account pages, an administrator):
// checked as at creation, written with an audit entry naming the claims that changed and their new
// values (which the apps given the profile then hear of, src/security-events/), or nothing at all
// when nothing would change.
import type { Actor } from '../audit/events.js';
import type { Audited } from '../audit/audited.js';
import { found } from '../errors.js';
import { profileChangesOf, type ChangedNames, type ProfileChanges, type User, type UserStore } from './users.js';

export async function rename(
  deps: { audited: Audited; users: Pick<UserStore, 'findById' | 'updateProfile'> },
  actor: Actor,
  userId: string,
  changes: ProfileChanges,
): Promise<{ user: User; changed: ChangedNames }> {
  const current = found(await deps.users.findById(userId), 'person');
  const changed = profileChangesOf(current, changes);
  if (!Object.keys(changed).length) return { user: current, changed };
  return deps.audited(actor, async (trx) => {
    const user = found(await deps.users.updateProfile(userId, changed, trx), 'person');
    return { result: { user, changed }, event: { type: 'user.profile_updated', userId, details: { changed } } };
  });
}
