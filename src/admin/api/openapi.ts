// The OpenAPI 3.1 document of the admin API, generated from the route declarations and their zod
// schemas: the same objects that validate each request and type each answer.
import { z } from 'zod';
import { ADMIN_SCOPE } from '../../vocabulary.js';
import { ADMIN_API_PATH } from '../../vocabulary.js';
import type { ApiRoute } from './route.js';
import { componentNames, errorSchema } from './schemas.js';

type JsonObject = Record<string, unknown>;

const TARGET = 'draft-2020-12';
const SECURITY_SCHEME = 'adminToken';
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function nameOf(schema: z.ZodType): string {
  const name = componentNames.get(schema);
  if (!name) throw new TypeError('Every request body and answer of the admin API is a named component (schemas.ts component()).');
  return name;
}

/** zod's JSON Schema for a component, without the members only a standalone schema has. */
function bare(schema: unknown): JsonObject {
  const { $schema: _schema, $id: _id, ...rest } = schema as JsonObject;
  return rest;
}

/** Every named schema: request bodies as a client writes them, the rest as the server answers. */
function componentSchemas(routes: ApiRoute[]): Record<string, JsonObject> {
  const bodies = new Set(routes.flatMap((route) => (route.body ? [route.body] : [])));
  const requests = z.registry<{ id: string }>();
  const answers = z.registry<{ id: string }>();
  for (const [schema, id] of componentNames) (bodies.has(schema) ? requests : answers).add(schema, { id });
  const uri = (id: string) => `#/components/schemas/${id}`;
  const all = {
    ...z.toJSONSchema(requests, { target: TARGET, io: 'input', uri }).schemas,
    ...z.toJSONSchema(answers, { target: TARGET, io: 'output', uri }).schemas,
  };
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)).map(([id, schema]) => [id, bare(schema)]));
}

/** A path or query object schema as OpenAPI parameters, each with its own schema and description. */
function parameters(schema: z.ZodType | undefined, location: 'path' | 'query'): JsonObject[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { target: TARGET, io: 'input' }) as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: location,
      required: location === 'path' || (json.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function errorResponse(description: string, headers?: JsonObject): JsonObject {
  return { description, ...(headers ? { headers } : {}), content: { 'application/json': { schema: ref(nameOf(errorSchema)) } } };
}

const wwwAuthenticate = {
  'WWW-Authenticate': { description: 'RFC 6750: Bearer realm="gatehouse", with error="invalid_token" when a token was sent; for a DPoP-bound token (RFC 9449) DPoP realm="gatehouse", with error="invalid_dpop_proof" or "use_dpop_nonce".', schema: { type: 'string' } },
  'DPoP-Nonce': { description: 'With use_dpop_nonce: the nonce to put in the next DPoP proof.', schema: { type: 'string' } },
};

function responses(route: ApiRoute): JsonObject {
  const { success } = route;
  return {
    [success.status]: success.schema
      ? {
          description: success.description,
          ...(success.status === 201 ? { headers: { Location: { description: 'Where the new item can be read.', schema: { type: 'string', format: 'uri' } } } } : {}),
          content: { 'application/json': { schema: ref(nameOf(success.schema)) } },
        }
      : { description: success.description },
    ...(route.query || route.body ? { 400: errorResponse('The input is invalid: error_description says why, field says where.') } : {}),
    401: errorResponse('No access token, or one that is invalid, expired or revoked; or a DPoP-bound token without a valid proof of its key.', wwwAuthenticate),
    403: errorResponse(`The token is not an admin API token (audience <issuer>${ADMIN_API_PATH}, scope ${ADMIN_SCOPE}) of a current admin.`, {
      'WWW-Authenticate': { description: 'Bearer realm="gatehouse", error="insufficient_scope".', schema: { type: 'string' } },
    }),
    ...(route.params ? { 404: errorResponse('No such item (an id that cannot be one is not found either).') } : {}),
    ...(route.conflicts ? { 409: errorResponse(route.conflicts) } : {}),
    ...(route.body
      ? {
          413: errorResponse('The body is larger than 32 KB.'),
          415: errorResponse('The body is not JSON (Content-Type: application/json).'),
        }
      : {}),
  };
}

function operation(route: ApiRoute): JsonObject {
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
    ...(route.body
      ? { requestBody: { required: route.bodyRequired === true, content: { 'application/json': { schema: ref(nameOf(route.body)) } } } }
      : {}),
    responses: responses(route),
  };
}

/** The document itself, served without a token (it holds no data). */
export const DOCUMENT_PATH = '/openapi.json';

export function openApiDocument(routes: ApiRoute[], issuer: string): JsonObject {
  const paths: Record<string, JsonObject> = {
    [DOCUMENT_PATH]: {
      get: {
        operationId: 'getOpenApiDocument',
        tags: ['Meta'],
        summary: 'This document',
        security: [],
        responses: { 200: { description: 'The OpenAPI 3.1 document of the admin API.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
  };
  for (const route of routes) (paths[route.path] ??= {})[route.method] = operation(route);
  return {
    openapi: '3.1.1',
    info: {
      title: 'Gatehouse admin API',
      version: '1',
      description: 'Manage people, their sessions and grants, clients, APIs, signing keys, and read the audit log. '
        + `Every call needs an access token for this API with the ${ADMIN_SCOPE} scope, issued to an admin client: `
        + 'to a machine client (gatehouse client create --name N --client-credentials --admin) by the client_credentials grant, '
        + 'or to an app (gatehouse client create --name N --redirect-uri U --admin) for an admin who signs in through it, '
        + 'by the authorization code grant with PKCE; then each call acts as that admin, who must still be one, '
        + 'and who must have signed in with a second factor unless ADMIN_REQUIRE_SECOND_FACTOR is off. '
        + 'Lists are keyset-paginated: pass next_cursor back as cursor until it is null.',
    },
    servers: [{ url: `${issuer}${ADMIN_API_PATH}` }],
    security: [{ [SECURITY_SCHEME]: [ADMIN_SCOPE] }],
    tags: [...new Set(['Meta', ...routes.map((route) => route.tag)])].map((name) => ({ name })),
    paths,
    components: {
      schemas: componentSchemas(routes),
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'oauth2',
          description: 'A JWT access token sent as Authorization: Bearer <token> (RFC 6750), or DPoP <token> with a proof when it is DPoP-bound (RFC 9449).',
          flows: {
            clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { [ADMIN_SCOPE]: 'Administer Gatehouse.' } },
            authorizationCode: { authorizationUrl: `${issuer}/auth`, tokenUrl: `${issuer}/token`, refreshUrl: `${issuer}/token`, scopes: { [ADMIN_SCOPE]: 'Administer Gatehouse as the admin who signs in.' } },
          },
        },
      },
    },
  };
}
