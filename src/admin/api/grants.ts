// Grants: what a person allowed an app to do. List by person or by app, revoke one, revoke all of
// a person's grants for an app, revoke all of an app's. Revoking kills every token of the grant at once.
import { z } from 'zod';
import type { AdminOperations } from '../operations.js';
import { grantJson, pageJson, revokedGrantsJson } from './representations.js';
import { defineRoute, noContent, ok, type ApiRoute } from './route.js';
import { clientParams, grantIdParam, grantPageSchema, grantSchema, pageQuery, queryText, revokedGrantsSchema, userParams } from './schemas.js';

const grantParams = z.object({ grant_id: grantIdParam });
const forClient = z.object({ client_id: queryText(200).meta({ description: 'The app whose grants from this person are revoked.' }) });

export function grantRoutes(ops: AdminOperations['grants']): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/users/{user_id}/grants', operationId: 'listUserGrants', tag: 'Grants',
      summary: 'List a person\'s grants, newest first',
      params: userParams,
      query: pageQuery,
      success: { status: 200, schema: grantPageSchema, description: 'A page of grants: app, scopes, APIs, created, last used.' },
      async handle({ params, query }) {
        return ok(pageJson(await ops.listGrants({ userId: params.user_id }, { limit: query.limit, cursor: query.cursor }), grantJson));
      },
    }),
    defineRoute({
      method: 'delete', path: '/users/{user_id}/grants', operationId: 'revokeUserClientGrants', tag: 'Grants',
      summary: 'Revoke every grant a person gave one app',
      description: 'The app must ask the person again; its tokens stop working at once.',
      params: userParams,
      query: forClient,
      success: { status: 200, schema: revokedGrantsSchema, description: 'How many grants were revoked.' },
      async handle({ params, query, actor }) {
        return ok(revokedGrantsJson(await ops.revokeUserClientGrants(actor, params.user_id, query.client_id)));
      },
    }),
    defineRoute({
      method: 'get', path: '/clients/{client_id}/grants', operationId: 'listClientGrants', tag: 'Grants',
      summary: 'List an app\'s grants, newest first',
      params: clientParams,
      query: pageQuery,
      success: { status: 200, schema: grantPageSchema, description: 'A page of grants.' },
      async handle({ params, query }) {
        return ok(pageJson(await ops.listGrants({ clientId: params.client_id }, { limit: query.limit, cursor: query.cursor }), grantJson));
      },
    }),
    defineRoute({
      method: 'delete', path: '/clients/{client_id}/grants', operationId: 'revokeClientGrants', tag: 'Grants',
      summary: 'Revoke every grant of an app',
      params: clientParams,
      success: { status: 200, schema: revokedGrantsSchema, description: 'How many grants were revoked.' },
      async handle({ params, actor }) {
        return ok(revokedGrantsJson(await ops.revokeClientGrants(actor, params.client_id)));
      },
    }),
    defineRoute({
      method: 'get', path: '/grants/{grant_id}', operationId: 'getGrant', tag: 'Grants',
      summary: 'Get a grant',
      params: grantParams,
      success: { status: 200, schema: grantSchema, description: 'The grant.' },
      async handle({ params }) {
        return ok(grantJson(await ops.getGrant(params.grant_id)));
      },
    }),
    defineRoute({
      method: 'delete', path: '/grants/{grant_id}', operationId: 'revokeGrant', tag: 'Grants',
      summary: 'Revoke a grant',
      description: 'Every token issued under it stops working at once: refresh, introspection and userinfo.',
      params: grantParams,
      success: { status: 204, schema: null, description: 'The grant is revoked.' },
      async handle({ params, actor }) {
        await ops.revokeGrant(actor, params.grant_id);
        return noContent();
      },
    }),
  ];
}
