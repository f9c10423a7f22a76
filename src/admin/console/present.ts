// How the console words what is its own: confirmations, page links and overlap choices. Templates
// hold no logic, so everything they show is shaped here or in src/presentation/ first.
import { Notices } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { SSF_POLL_PATH } from '../../security-events/vocabulary.js';
import { isPollDelivery } from '../../security-events/receivers.js';
import type { DeliveryStatus } from '../../security-events/status.js';
import type { Message } from '../../i18n/catalogs.js';
import { DAY, DEFAULT_SECRET_OVERLAP_SECONDS, HOUR, MAX_SECRET_OVERLAP_SECONDS } from '../../lifetimes.js';

/** The confirmations a page may show after an action, by the `done` key of its address: catalog keys. */
export const CONFIRMATIONS = new Notices('done', {
  'person-created': 'admin.done.person-created',
  'person-invited': 'admin.done.person-invited',
  'person-reinvited': 'admin.done.person-reinvited',
  'person-disabled': 'admin.done.person-disabled',
  'person-enabled': 'admin.done.person-enabled',
  'factors-reset': 'admin.done.factors-reset',
  'person-deleted': 'admin.done.person-deleted',
  'verification-sent': 'admin.done.verification-sent',
  'email-changed': 'admin.done.email-changed',
  'person-renamed': 'admin.done.person-renamed',
  'email-changed-link-sent': 'admin.done.email-changed-link-sent',
  'password-reset': 'admin.done.password-reset',
  'password-reset-signed-out': 'admin.done.password-reset-signed-out',
  'password-reset-offline-ended': 'admin.done.password-reset-offline-ended',
  'password-reset-all-ended': 'admin.done.password-reset-all-ended',
  'session-ended': 'admin.done.session-ended',
  'sessions-ended': 'admin.done.sessions-ended',
  'grant-revoked': 'admin.done.grant-revoked',
  'app-access-revoked': 'admin.done.app-access-revoked',
  'app-created': 'admin.done.app-created',
  'app-updated': 'admin.done.app-updated',
  'app-disabled': 'admin.done.app-disabled',
  'app-enabled': 'admin.done.app-enabled',
  'app-deleted': 'admin.done.app-deleted',
  'app-grants-revoked': 'admin.done.app-grants-revoked',
  'api-created': 'admin.done.api-created',
  'api-updated': 'admin.done.api-updated',
  'api-disabled': 'admin.done.api-disabled',
  'api-enabled': 'admin.done.api-enabled',
  'api-deleted': 'admin.done.api-deleted',
  'keys-rotated': 'admin.done.keys-rotated',
  'registration-token-revoked': 'admin.done.registration-token-revoked',
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

/** A whole number of days, hours or seconds in words (`inWords`, in the page's language). */
export function durationWords(seconds: number): Message {
  const [unit, size] = seconds % DAY === 0 && seconds > 0 ? ['days', DAY] : seconds % HOUR === 0 && seconds > 0 ? ['hours', HOUR] : ['seconds', 1];
  return { key: `admin.duration.${unit}`, values: { count: seconds / size } };
}

/** The secret-overlap choices: none, then in words up to the longest allowed, the default among them. */
export const OVERLAP_CHOICES = [
  { seconds: 0, label: { key: 'admin.overlap.none' } as Message },
  ...[...new Set([HOUR, DAY, DEFAULT_SECRET_OVERLAP_SECONDS, 7 * DAY, MAX_SECRET_OVERLAP_SECONDS])]
    .filter((seconds) => seconds <= MAX_SECRET_OVERLAP_SECONDS)
    .sort((a, b) => a - b)
    .map((seconds) => ({ seconds, label: durationWords(seconds) })),
];

/** How a person's state reads in the console's list and on their page: a catalog key. */
export function personStatus(person: { disabledAt: Date | null; activatedAt: Date | null; invitedAt: Date | null }): string {
  if (person.disabledAt) return 'admin.status.disabled';
  if (person.activatedAt) return 'admin.status.active';
  return person.invitedAt ? 'admin.status.invited' : 'admin.status.unconfirmed';
}

/** A receiver's security events for the console's app and API pages (views/admin/event-deliveries.eta). */
export function eventDeliveries(endpoint: string | null, status: DeliveryStatus) {
  return {
    endpoint,
    // Polled (RFC 8936): what waits for the receiver to ask for it, not what was pushed.
    polled: isPollDelivery(endpoint) ? { path: SSF_POLL_PATH, waiting: status.polled.waiting, since: status.polled.oldest ? when(status.polled.oldest) : undefined } : undefined,
    pending: status.pending,
    dropped: status.dropped,
    lastDelivered: status.lastDeliveredAt ? when(status.lastDeliveredAt) : undefined,
    lastError: status.lastError,
  };
}
