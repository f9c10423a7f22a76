// A person's sign-in sessions: list them, end one, end them all ("sign out everywhere").
import { z } from 'zod';
import type { AdminOperations } from '../operations.js';
import { endedSessionsJson, pageJson, sessionJson } from './representations.js';
import { defineRoute, ok, type ApiRoute } from './route.js';
import { endedSessionsSchema, pageQuery, sessionIdParam, sessionPageSchema, userIdParam, userParams } from './schemas.js';

const sessionParams = z.object({ user_id: userIdParam, session_id: sessionIdParam });

export function sessionRoutes(ops: AdminOperations['sessions']): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/users/{user_id}/sessions', operationId: 'listSessions', tag: 'Sessions',
      summary: 'List a person\'s live sessions, newest first',
      params: userParams,
      query: pageQuery,
      success: { status: 200, schema: sessionPageSchema, description: 'A page of sessions: device, address, created, last active.' },
      async handle({ params, query }) {
        return ok(pageJson(await ops.listSessions(params.user_id, { limit: query.limit, cursor: query.cursor }), sessionJson));
      },
    }),
    defineRoute({
      method: 'delete', path: '/users/{user_id}/sessions/{session_id}', operationId: 'endSession', tag: 'Sessions',
      summary: 'End one session',
      description: 'Signs the person out of that session and revokes the grants of the apps signed in to through it.',
      params: sessionParams,
      success: { status: 200, schema: endedSessionsSchema, description: 'What ended.' },
      async handle({ params, actor }) {
        return ok(endedSessionsJson(await ops.endSession(actor, params.user_id, params.session_id)));
      },
    }),
    defineRoute({
      method: 'delete', path: '/users/{user_id}/sessions', operationId: 'endAllSessions', tag: 'Sessions',
      summary: 'Sign a person out everywhere',
      description: 'Ends every session of the person and revokes the grants of the apps signed in to through them.',
      params: userParams,
      success: { status: 200, schema: endedSessionsSchema, description: 'What ended.' },
      async handle({ params, actor }) {
        return ok(endedSessionsJson(await ops.endAllSessions(actor, params.user_id)));
      },
    }),
  ];
}
