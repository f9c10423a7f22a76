// How the console words what is its own: confirmations, page links and overlap choices. Templates
// hold no logic, so everything they show is shaped here or in src/presentation/ first.
import { Notices } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { DAY, DEFAULT_SECRET_OVERLAP_SECONDS, HOUR, inWords, MAX_SECRET_OVERLAP_SECONDS } from '../../lifetimes.js';

/** The confirmations a page may show after an action, by the `done` key of its address. */
export const CONFIRMATIONS = new Notices('done', {
  'person-created': 'The person was added. They can sign in with the password you set.',
  'person-invited': 'The person was added and an invitation is on its way to them. They can sign in once they follow its link and choose a password.',
  'person-reinvited': 'A new invitation is on its way. The links of earlier ones no longer work.',
  'person-disabled': 'The person is disabled: every session ended and every app lost access at once.',
  'person-enabled': 'The person can sign in again.',
  'factors-reset': 'Every second factor of the person was removed and they were signed out everywhere; they were told by mail, and sign in with their password alone until they add a new one.',
  'person-deleted': 'The person was deleted, with everything they held.',
  'verification-sent': 'A link to verify the address is on its way to it. It works for 24 hours.',
  'email-changed': 'The address was changed. It is unverified until the person follows a link mailed to it; the old address was told.',
  'email-changed-link-sent': 'The address was changed, and a link to verify it is on its way to it; the old address was told.',
  'password-reset': 'The password was changed.',
  'password-reset-signed-out': 'The password was changed and the person was signed out everywhere.',
  'password-reset-offline-ended': 'The password was changed and every app lost its offline access.',
  'password-reset-all-ended': 'The password was changed, the person was signed out everywhere, and every app lost its offline access.',
  'session-ended': 'The session ended, and the apps signed in through it lost access.',
  'sessions-ended': 'The person was signed out everywhere.',
  'grant-revoked': 'The access was revoked. The app\'s tokens stopped working at once.',
  'app-access-revoked': 'Every access the person gave this app was revoked.',
  'app-created': 'The app was registered. It is public, so it has no secret: it proves itself with PKCE.',
  'app-updated': 'The app was saved.',
  'app-disabled': 'The app is disabled: it cannot sign in, and every access it held was revoked.',
  'app-enabled': 'The app is enabled again. People have to allow it again.',
  'app-deleted': 'The app was deleted.',
  'app-grants-revoked': 'Every access anyone gave this app was revoked.',
  'api-created': 'The API was registered. It introspects with the keys it was given.',
  'api-updated': 'The API was saved.',
  'api-disabled': 'The API is disabled: apps get no new tokens for it, and it can no longer introspect.',
  'api-enabled': 'The API is enabled again.',
  'api-deleted': 'The API was deleted.',
  'keys-rotated': 'New signing keys were added. They sign tokens once they are published.',
  'registration-token-revoked': 'The registration token was revoked: it registers no more apps. Apps it registered stay.',
});

/** The same page with other query parameters (empty ones left out). */
export function hrefWith(path: string, params: Record<string, string | null | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  const search = query.toString();
  return search ? `${path}?${search}` : path;
}

/** Links for a keyset-paginated list: the next page, and back to the first when not on it. */
export function pageLinks(path: string, params: Record<string, string | undefined>, cursorName: string, current: string | undefined, next: string | null) {
  return {
    nextHref: next ? hrefWith(path, { ...params, [cursorName]: next }) : null,
    firstHref: current ? hrefWith(path, { ...params, [cursorName]: undefined }) : null,
  };
}

/** The secret-overlap choices: none, then in words up to the longest allowed, the default among them. */
export const OVERLAP_CHOICES = [
  { seconds: 0, label: 'None: the old secret stops working now' },
  ...[...new Set([HOUR, DAY, DEFAULT_SECRET_OVERLAP_SECONDS, 7 * DAY, MAX_SECRET_OVERLAP_SECONDS])]
    .filter((seconds) => seconds <= MAX_SECRET_OVERLAP_SECONDS)
    .sort((a, b) => a - b)
    .map((seconds) => ({ seconds, label: inWords(seconds) })),
];

/** How a person's state reads in the console's list and on their page. */
export function personStatus(person: { disabledAt: Date | null; activatedAt: Date | null; invitedAt: Date | null }): string {
  if (person.disabledAt) return 'Disabled';
  if (person.activatedAt) return 'Active';
  return person.invitedAt ? 'Invited' : 'Waiting for their address to be confirmed';
}

/** A receiver's security events for the console's app and API pages (views/admin/event-deliveries.eta). */
export function eventDeliveries(endpoint: string | null, status: { pending: number; dropped: number; lastDeliveredAt: Date | undefined; lastError: string | undefined }) {
  return {
    endpoint,
    pending: status.pending,
    dropped: status.dropped,
    lastDelivered: status.lastDeliveredAt ? when(status.lastDeliveredAt) : undefined,
    lastError: status.lastError,
  };
}
