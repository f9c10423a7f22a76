// APIs (RFC 8707 resource servers), each with its introspection client: register, list, change,
// rotate the introspection secret, disable, delete. An API is named in the path by its identifier,
// URL-encoded as one segment.
import { z } from 'zod';
import { MAX_ACCESS_TOKEN_LIFETIME_SECONDS, MIN_API_ACCESS_TOKEN_TTL_SECONDS } from '../../lifetimes.js';
import { type NewResourceServer, type ResourceChanges } from '../../resources/store.js';
import { API_NAME_MAX_LENGTH } from '../../resources/schema.js';
import type { AdminOperations } from '../operations.js';
import { rotateSecretBody } from './clients.js';
import { apiJson, pageJson, rotatedSecretJson } from './representations.js';
import { created, defineRoute, noContent, ok, type ApiRoute } from './route.js';
import { apiIdentifierParam, apiPageSchema, apiSchema, component, createdApiSchema, jwksSchema, pageQuery, rotatedSecretSchema } from './schemas.js';

/** RFC 6749 §3.3 scope-token. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/, 'A scope is one word without spaces, quotes or backslashes.');
const scopes = z.array(scopeToken).min(1).max(100).meta({ description: 'The scopes the API defines; names are unique across APIs (e.g. notes:read).' });
const scopeDescriptions = z.record(z.string().max(200), z.string().min(1).max(200))
  .meta({ description: 'Plain-words descriptions shown on the consent page, by scope, in the default language (DEFAULT_LOCALE).' });
const localizedScopeDescriptions = z.record(z.string().max(35), scopeDescriptions)
  .meta({ description: 'The same descriptions in other languages, by language tag (one of the server\'s ui_locales_supported), e.g. {"de": {"notes:read": "Ihre Notizen lesen"}}. The consent page shows the person\'s language, else scope_descriptions. Replaces every language at once.' });
const eventsEndpoint = z.string().min(1).max(2000).meta({ description: 'Where the API receives security events, e.g. to deny a revoked grant\'s JWTs at once: an URL the SETs are pushed to (RFC 8935; https in production), or urn:ietf:rfc:8936 for the API to poll POST /ssf/poll with its introspection credentials (RFC 8936).' });
const accessTokenTtl = z.number().int().min(MIN_API_ACCESS_TOKEN_TTL_SECONDS).max(MAX_ACCESS_TOKEN_LIFETIME_SECONDS);
const mayExchangeFor = z.array(z.url().max(500)).max(50)
  .meta({ description: 'Token exchange (RFC 8693): the identifiers of other registered APIs this API may exchange a person\'s access token for.' });

const newApiBody = component('NewApi', z.strictObject({
  identifier: z.url().max(500).meta({ description: 'An absolute http(s) URI without a fragment, e.g. https://api.example.com.' }),
  name: z.string().min(1).max(API_NAME_MAX_LENGTH).optional(),
  scopes,
  scope_descriptions: scopeDescriptions.optional(),
  localized_scope_descriptions: localizedScopeDescriptions.optional(),
  access_token_ttl: accessTokenTtl.optional().meta({ description: 'Access-token lifetime in seconds (default: the server\'s).' }),
  is_default: z.boolean().optional().meta({ description: 'Tokens that name no API are for this one.' }),
  jwt_introspection: z.boolean().optional().meta({ description: 'The API may ask for signed introspection responses (RFC 9701).' }),
  jwks: jwksSchema.optional().meta({ description: 'The API introspects with private_key_jwt and these public keys instead of a secret.' }),
  events_endpoint: eventsEndpoint.optional(),
  may_exchange_for: mayExchangeFor.optional(),
}));

const apiChangesBody = component('ApiChanges', z.strictObject({
  name: z.string().min(1).max(API_NAME_MAX_LENGTH).optional(),
  scopes: scopes.optional(),
  scope_descriptions: scopeDescriptions.optional(),
  localized_scope_descriptions: localizedScopeDescriptions.optional(),
  access_token_ttl: accessTokenTtl.nullable().optional().meta({ description: 'null returns to the default lifetime.' }),
  events_endpoint: eventsEndpoint.nullable().optional().meta({ description: 'null: the API receives no more security events.' }),
  may_exchange_for: mayExchangeFor.optional().meta({ description: 'Replaces the list; [] ends every exchange.' }),
}).refine((changes) => Object.keys(changes).length > 0, 'Name at least one of name, scopes, scope_descriptions, localized_scope_descriptions, access_token_ttl, events_endpoint, may_exchange_for.'));

const apiParams = z.object({ identifier: apiIdentifierParam });

function newApi(body: z.output<typeof newApiBody>): NewResourceServer {
  return {
    identifier: body.identifier,
    scope: body.scopes.join(' '),
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.scope_descriptions !== undefined ? { scopeDescriptions: body.scope_descriptions } : {}),
    ...(body.localized_scope_descriptions !== undefined ? { localizedScopeDescriptions: body.localized_scope_descriptions } : {}),
    ...(body.access_token_ttl !== undefined ? { accessTokenTtl: body.access_token_ttl } : {}),
    ...(body.is_default !== undefined ? { isDefault: body.is_default } : {}),
    ...(body.jwt_introspection !== undefined ? { jwtIntrospection: body.jwt_introspection } : {}),
    ...(body.jwks !== undefined ? { jwks: body.jwks } : {}),
    ...(body.events_endpoint !== undefined ? { eventsEndpoint: body.events_endpoint } : {}),
    ...(body.may_exchange_for !== undefined ? { mayExchangeFor: body.may_exchange_for } : {}),
  };
}

function apiChanges(body: z.output<typeof apiChangesBody>): ResourceChanges {
  return {
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.scopes !== undefined ? { scopes: body.scopes } : {}),
    ...(body.scope_descriptions !== undefined ? { scopeDescriptions: body.scope_descriptions } : {}),
    ...(body.localized_scope_descriptions !== undefined ? { localizedScopeDescriptions: body.localized_scope_descriptions } : {}),
    ...(body.access_token_ttl !== undefined ? { accessTokenTtl: body.access_token_ttl } : {}),
    ...(body.events_endpoint !== undefined ? { eventsEndpoint: body.events_endpoint } : {}),
    ...(body.may_exchange_for !== undefined ? { mayExchangeFor: body.may_exchange_for } : {}),
  };
}

const location = (identifier: string) => `/apis/${encodeURIComponent(identifier)}`;

export function apiRoutes(ops: AdminOperations['apis']): ApiRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/apis', operationId: 'createApi', tag: 'APIs',
      summary: 'Register an API',
      description: 'Comes with the client the API introspects tokens with; its secret is in this response only.',
      body: newApiBody, bodyRequired: true,
      success: { status: 201, schema: createdApiSchema, description: 'The API, with its introspection secret.' },
      conflicts: 'An API with this identifier exists, or another API already defines one of the scopes.',
      async handle({ body, actor }) {
        const { resourceServer, clientSecret } = await ops.createResource(actor, newApi(body));
        return created(location(resourceServer.identifier), { ...apiJson(resourceServer), client_secret: clientSecret ?? null });
      },
    }),
    defineRoute({
      method: 'get', path: '/apis', operationId: 'listApis', tag: 'APIs',
      summary: 'List APIs, oldest first',
      query: pageQuery,
      success: { status: 200, schema: apiPageSchema, description: 'A page of APIs.' },
      async handle({ query }) {
        return ok(pageJson(await ops.listResources({ limit: query.limit, cursor: query.cursor }), apiJson));
      },
    }),
    defineRoute({
      method: 'get', path: '/apis/{identifier}', operationId: 'getApi', tag: 'APIs',
      summary: 'Get an API',
      params: apiParams,
      success: { status: 200, schema: apiSchema, description: 'The API.' },
      async handle({ params }) {
        return ok(apiJson(await ops.getResource(params.identifier)));
      },
    }),
    defineRoute({
      method: 'patch', path: '/apis/{identifier}', operationId: 'updateApi', tag: 'APIs',
      summary: 'Change an API\'s name, scopes, scope descriptions, token lifetime or token-exchange policy',
      description: 'scopes replaces the list; descriptions of dropped scopes go with them. may_exchange_for replaces the list of APIs it may exchange tokens for.',
      params: apiParams,
      body: apiChangesBody, bodyRequired: true,
      success: { status: 200, schema: apiSchema, description: 'The API, changed.' },
      conflicts: 'Another API already defines one of the scopes.',
      async handle({ params, body, actor }) {
        return ok(apiJson(await ops.updateResource(actor, params.identifier, apiChanges(body))));
      },
    }),
    defineRoute({
      method: 'post', path: '/apis/{identifier}/secret', operationId: 'rotateApiSecret', tag: 'APIs',
      summary: 'Rotate the secret the API introspects with',
      description: 'The new secret is in this response only; the old one keeps working for overlap_seconds.',
      params: apiParams,
      body: rotateSecretBody,
      success: { status: 200, schema: rotatedSecretSchema, description: 'The new secret.' },
      conflicts: 'The API introspects without a secret (private_key_jwt).',
      async handle({ params, body, actor }) {
        const options = body.overlap_seconds === undefined ? {} : { overlapSeconds: body.overlap_seconds };
        return ok(rotatedSecretJson(await ops.rotateResourceSecret(actor, params.identifier, options)));
      },
    }),
    defineRoute({
      method: 'post', path: '/apis/{identifier}/disable', operationId: 'disableApi', tag: 'APIs',
      summary: 'Disable an API',
      description: 'It gets no new tokens and can no longer introspect.',
      params: apiParams,
      success: { status: 200, schema: apiSchema, description: 'The API, disabled.' },
      async handle({ params, actor }) {
        return ok(apiJson(await ops.disableResource(actor, params.identifier)));
      },
    }),
    defineRoute({
      method: 'post', path: '/apis/{identifier}/enable', operationId: 'enableApi', tag: 'APIs',
      summary: 'Enable an API again',
      params: apiParams,
      success: { status: 200, schema: apiSchema, description: 'The API, enabled.' },
      async handle({ params, actor }) {
        return ok(apiJson(await ops.enableResource(actor, params.identifier)));
      },
    }),
    defineRoute({
      method: 'delete', path: '/apis/{identifier}', operationId: 'deleteApi', tag: 'APIs',
      summary: 'Delete an API and its introspection client',
      params: apiParams,
      success: { status: 204, schema: null, description: 'The API is gone.' },
      async handle({ params, actor }) {
        await ops.deleteResource(actor, params.identifier);
        return noContent();
      },
    }),
  ];
}
