// The audit log: who did what, newest first, filtered by actor, person, client, event type and time.
import { z } from 'zod';
import { AUDIT_EVENT_TYPES } from '../../audit/events.js';
import type { AdminOperations } from '../operations.js';
import { auditEventJson, pageJson } from './representations.js';
import { defineRoute, ok, type ApiRoute } from './route.js';
import { auditEventPageSchema, pageQuery, queryText } from './schemas.js';

const instant = z.iso.datetime({ offset: true });

const auditQuery = pageQuery.extend({
  actor_id: queryText(200).optional().meta({ description: 'Who acted: a person\'s id or a client_id.' }),
  user_id: queryText(200).optional().meta({ description: 'The person the event is about.' }),
  client_id: queryText(200).optional().meta({ description: 'The client or API the event is about.' }),
  type: z.enum(AUDIT_EVENT_TYPES).optional(),
  since: instant.optional().meta({ description: 'Events at or after this time (RFC 3339).' }),
  until: instant.optional().meta({ description: 'Events before this time (RFC 3339).' }),
});

export function auditRoutes(ops: AdminOperations['audit']): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/audit-events', operationId: 'listAuditEvents', tag: 'Audit log',
      summary: 'Query the audit log, newest first',
      query: auditQuery,
      success: { status: 200, schema: auditEventPageSchema, description: 'A page of events.' },
      async handle({ query }) {
        const page = await ops.listAudit({
          ...(query.actor_id !== undefined ? { actorId: query.actor_id } : {}),
          ...(query.user_id !== undefined ? { userId: query.user_id } : {}),
          ...(query.client_id !== undefined ? { clientId: query.client_id } : {}),
          ...(query.type !== undefined ? { type: query.type } : {}),
          ...(query.since !== undefined ? { since: new Date(query.since) } : {}),
          ...(query.until !== undefined ? { until: new Date(query.until) } : {}),
        }, { limit: query.limit, cursor: query.cursor });
        return ok(pageJson(page, auditEventJson));
      },
    }),
  ];
}
