// The audit log: who did what to whom and when, newest first, filtered by event type, actor,
// person, app and dates.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditEventType } from '../../audit/events.js';
import { isAuditEventType, type AuditFilter, type AuditPage } from '../../audit/log.js';
import { ACCOUNT_CLIENT_ID } from '../../vocabulary.js';
import { isStorableText } from '../../db/text.js';
import { GatehouseError, isGatehouseError } from '../../errors.js';
import { apiHref, appHref } from './apps.js';
import { field, problemOf, type Problem } from '../../http/forms.js';
import { day, when } from '../../presentation/dates.js';
import { cursorParam, type ConsoleKit } from './kit.js';
import { appNames } from './names.js';
import { personHref } from './people.js';
import { pageLinks } from './present.js';

const WHAT: Record<AuditEventType, string> = {
  'sign_in.succeeded': 'Signed in',
  'sign_in.failed': 'Failed to sign in',
  'consent.given': 'Allowed an app',
  'consent.revoked': 'Revoked an app\'s access',
  'refresh_token.reuse_detected': 'Reused a refresh token: the grant was revoked',
  'refresh_token.retry_forgiven': 'Retried a refresh within the window: got the same new token back',
  'token.revoked': 'Revoked a token',
  'token.exchanged': 'Exchanged a person\'s token for another API',
  'grant.revoked': 'Revoked access',
  'session.ended': 'Ended sessions',
  'user.created': 'Added a person',
  'user.disabled': 'Disabled a person',
  'user.enabled': 'Enabled a person',
  'user.password_reset': 'Reset a password',
  'user.password_changed': 'Changed their password',
  'user.password_recovery_requested': 'Asked for a password recovery link',
  'user.password_recovered': 'Set a new password from a recovery link',
  'user.sign_in_link_requested': 'Asked for a sign-in link',
  'user.sign_in_link_used': 'Used a sign-in link: this browser may sign in',
  'user.deleted': 'Deleted a person',
  'user.invited': 'Invited a person',
  'user.invitation_accepted': 'Accepted an invitation',
  'user.signed_up': 'Signed up',
  'factor.added': 'Added a second sign-in step',
  'factor.removed': 'Removed a sign-in step',
  'factor.reset': 'Removed every second sign-in step of a person',
  'factor.recovery_code_used': 'Signed in with a recovery code',
  'factor.recovery_codes_regenerated': 'Made a new set of recovery codes',
  'sign_in.second_factor_failed': 'Gave a wrong or used code at sign-in',
  'user.sign_up_verified': 'Verified their sign-up',
  'user.sign_up_refused': 'Tried to sign up with an address that has an account',
  'user.email_verification_sent': 'Mailed a link to verify an email address',
  'user.email_verified': 'Verified their email address',
  'user.email_change_requested': 'Asked to change their email address',
  'user.email_changed': 'Changed an email address',
  'passkey.added': 'Added a passkey',
  'passkey.renamed': 'Renamed a passkey',
  'passkey.removed': 'Removed a passkey',
  'passkey.assertion_refused': 'Was refused a passkey confirmation',
  'passkey.counter_regressed': 'Presented a passkey whose counter went back (possibly cloned)',
  'client.created': 'Registered an app',
  'client.updated': 'Changed an app',
  'client.secret_rotated': 'Rotated an app\'s secret',
  'client.disabled': 'Disabled an app',
  'client.enabled': 'Enabled an app',
  'client.deleted': 'Deleted an app',
  'client.registered': 'An app registered itself',
  'registration_token.created': 'Created a registration token',
  'registration_token.revoked': 'Revoked a registration token',
  'api.created': 'Registered an API',
  'api.updated': 'Changed an API',
  'api.secret_rotated': 'Rotated an API\'s secret',
  'api.disabled': 'Disabled an API',
  'api.enabled': 'Enabled an API',
  'api.deleted': 'Deleted an API',
  'keys.rotated': 'Rotated the signing keys',
};

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const ID_MAX = 200;

function valuesOf(ctx: Context): Record<string, string> {
  return Object.fromEntries(['type', 'actor', 'user', 'client', 'since', 'until'].map((name) => [name, field(ctx.query, name).trim()]));
}

/** The filters as typed, checked: a bad one is the admin's to fix, said on the page. */
function filterOf(values: Record<string, string>): AuditFilter {
  const filter: AuditFilter = {};
  if (values.type) {
    if (!isAuditEventType(values.type)) throw new GatehouseError('invalid_input', 'Choose an event type from the list.', 'type');
    filter.type = values.type;
  }
  for (const [name, key] of [['actor', 'actorId'], ['user', 'userId'], ['client', 'clientId']] as const) {
    const value = values[name]!;
    if (!value) continue;
    if (value.length > ID_MAX || !isStorableText(value)) throw new GatehouseError('invalid_input', `An id is at most ${ID_MAX} characters of text.`, name);
    filter[key] = value;
  }
  for (const name of ['since', 'until'] as const) {
    const value = values[name]!;
    if (!value) continue;
    const date = new Date(`${value}T00:00:00Z`);
    if (!DAY.test(value) || Number.isNaN(date.getTime()) || day(date) !== value) {
      throw new GatehouseError('invalid_input', 'Enter dates as year-month-day, e.g. 2026-01-31.', name);
    }
    // "Until" a day includes that whole day.
    filter[name] = name === 'until' ? new Date(date.getTime() + 86_400_000) : date;
  }
  return filter;
}

function detailsOf(event: AuditEvent): string {
  const text = Object.entries(event.details)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join('; ');
  return text.length > 400 ? `${text.slice(0, 399)}…` : text;
}

export function auditRoutes(router: Router, kit: ConsoleKit): void {
  const { ops } = kit;

  async function showAudit(ctx: Context) {
    const values = valuesOf(ctx);
    let filter: AuditFilter;
    try {
      filter = filterOf(values);
    } catch (error) {
      if (!isGatehouseError(error)) throw error;
      return render(ctx, values, { items: [], nextCursor: null }, undefined, problemOf(error));
    }
    const cursor = cursorParam(ctx);
    return render(ctx, values, await ops.audit.listAudit(filter, cursor ? { cursor } : {}), cursor);
  }

  async function render(ctx: Context, values: Record<string, string>, page: AuditPage, cursor: string | undefined, problem?: Problem) {
    const people = await ops.people.describePeople(page.items.flatMap((e) => [e.userId ?? '', e.actor.type === 'user' ? e.actor.id ?? '' : '']));
    const apps = await appNames(ops, page.items.flatMap((e) => [e.clientId, e.actor.type === 'client' ? e.actor.id : null]));
    const personLabel = (id: string) => {
      const person = people.get(id);
      return { label: person ? `${person.name} (${person.email})` : id, href: person ? personHref(id) : null };
    };
    const appLabel = (id: string) => {
      const name = apps.get(id);
      // Gatehouse's own sign-in client has a name but no page.
      return { label: name ? `${name} (${id})` : id, href: name && id !== ACCOUNT_CLIENT_ID ? appHref(id) : null };
    };
    const actorOf = (event: AuditEvent) => {
      if (event.actor.type === 'user' && event.actor.id) return personLabel(event.actor.id);
      if (event.actor.type === 'client' && event.actor.id) return appLabel(event.actor.id);
      return { label: event.actor.type === 'system' ? 'Gatehouse itself' : 'Someone not signed in', href: null };
    };
    kit.render(ctx, 'audit', 'admin/audit', 'Audit log', {
      values,
      types: AUDIT_EVENT_TYPES.map((type) => ({ value: type, label: `${WHAT[type]} (${type})`, selected: type === values.type })),
      events: page.items.map((event) => ({
        when: when(event.occurredAt),
        what: WHAT[event.type] ?? event.type,
        type: event.type,
        who: actorOf(event),
        person: event.userId ? personLabel(event.userId) : null,
        app: event.clientId ? appLabel(event.clientId) : null,
        api: typeof event.details.identifier === 'string' ? { label: event.details.identifier, href: apiHref(event.details.identifier) } : null,
        ip: event.ip ?? '',
        details: detailsOf(event),
      })),
      ...pageLinks('/admin/audit', values, 'cursor', cursor, page.nextCursor),
      problem: problem?.message,
    }, problem?.status);
  }

  router.get('/admin/audit', ...kit.page, showAudit);
}
