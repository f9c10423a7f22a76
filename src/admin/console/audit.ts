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

/** What an event type reads as in the log: a catalog key, `admin.audit.event.` and the type. */
function whatKey(type: AuditEventType): string {
  return `admin.audit.event.${type}`;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const ID_MAX = 200;

function valuesOf(ctx: Context): Record<string, string> {
  return Object.fromEntries(['type', 'actor', 'user', 'client', 'since', 'until'].map((name) => [name, field(ctx.query, name).trim()]));
}

/** The filters as typed, checked: a bad one is the admin's to fix, said on the page. */
function filterOf(values: Record<string, string>): AuditFilter {
  const filter: AuditFilter = {};
  if (values.type) {
    if (!isAuditEventType(values.type)) throw new GatehouseError('invalid_input', 'Choose an event type from the list.', 'type', { key: 'admin.audit.problem.type' });
    filter.type = values.type;
  }
  for (const [name, key] of [['actor', 'actorId'], ['user', 'userId'], ['client', 'clientId']] as const) {
    const value = values[name]!;
    if (!value) continue;
    if (value.length > ID_MAX || !isStorableText(value)) throw new GatehouseError('invalid_input', `An id is at most ${ID_MAX} characters of text.`, name, { key: 'admin.audit.problem.id', values: { max: ID_MAX } });
    filter[key] = value;
  }
  for (const name of ['since', 'until'] as const) {
    const value = values[name]!;
    if (!value) continue;
    const date = new Date(`${value}T00:00:00Z`);
    if (!DAY.test(value) || Number.isNaN(date.getTime()) || day(date) !== value) {
      throw new GatehouseError('invalid_input', 'Enter dates as year-month-day, e.g. 2026-01-31.', name, { key: 'admin.audit.problem.date' });
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
    const apps = await appNames(ops, page.items.flatMap((e) => [e.clientId, e.actor.type === 'client' ? e.actor.id : null]), kit.locale(ctx));
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
      // Words, not a name: the template translates `words`, and shows a `label` as it is.
      return { label: '', words: event.actor.type === 'system' ? 'admin.audit.system' : 'admin.audit.anonymous', href: null };
    };
    kit.render(ctx, 'audit', 'admin/audit', 'admin.audit.title', {
      values,
      types: AUDIT_EVENT_TYPES.map((type) => ({ value: type, label: whatKey(type), selected: type === values.type })),
      events: page.items.map((event) => ({
        when: when(event.occurredAt),
        what: (AUDIT_EVENT_TYPES as readonly string[]).includes(event.type) ? whatKey(event.type) : event.type,
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
