// Clients (apps and machine clients): register, list, change, rotate the secret, disable, delete.
// An API's introspection credentials are listed here but managed under /apis.
import { z } from 'zod';
import { ACR_VALUES } from '../../factors/levels.js';
import type { NewClient } from '../../clients/store.js';
import { DEFAULT_SECRET_OVERLAP_SECONDS, MAX_SECRET_OVERLAP_SECONDS } from '../../lifetimes.js';
import type { AdminOperations } from '../operations.js';
import { clientJson, pageJson, rotatedSecretJson } from './representations.js';
import { created, defineRoute, noContent, ok, type ApiRoute } from './route.js';
import { clientPageSchema, clientParams, clientSchema, component, createdClientSchema, jwksSchema, pageQuery, rotatedSecretSchema } from './schemas.js';

const uris = z.array(z.string().min(1).max(2000)).max(20);
const scope = z.string().max(2000).meta({ description: 'Space-separated scopes the client may ask for.' });
const name = z.string().min(1).max(200);
const backchannelLogoutUri = z.string().max(2000).nullable().meta({
  description: 'OpenID Connect Back-Channel Logout 1.0: where Gatehouse POSTs a logout token (logout_token=…) when a sign-in to the app ends. '
    + 'An absolute http(s) URL without a fragment; https in production. null: none.',
});
const backchannelLogoutSessionRequired = z.boolean().meta({ description: 'Every logout token must carry sid; tokens naming the person alone are not sent to the app.' });
const eventsEndpoint = z.string().min(1).max(2000).meta({ description: 'Where the app receives security events: an URL the SETs are pushed to (RFC 8935; https in production), or urn:ietf:rfc:8936 for the app to poll POST /ssf/poll with its client secret (RFC 8936). See /.well-known/ssf-configuration.' });

/** What a client may be held to, at registration and later (RFC 9449 §5.2, RFC 9126 §6, RFC 9101 §10.5). */
const requirements = {
  dpop_bound_access_tokens: z.boolean().optional().meta({ description: 'Every token request must carry a DPoP proof.' }),
  require_pushed_authorization_requests: z.boolean().optional().meta({ description: 'Authorization requests only through the PAR endpoint.' }),
  require_signed_request_object: z.boolean().optional().meta({ description: 'Authorization requests only as request objects signed by the client\'s keys (jwks or jwks_uri).' }),
};
/** What the app says about itself (OpenID Connect Dynamic Client Registration §2); null removes one. */
const informationUri = (description: string) => z.string().max(2000).nullable().optional().meta({ description: `${description} An http(s) URL; null: none.` });
const information = {
  client_uri: informationUri('The app\'s home page, linked on the consent page.'),
  logo_uri: informationUri('The app\'s logo (kept and returned; Gatehouse\'s pages do not load it).'),
  policy_uri: informationUri('The app\'s privacy policy, linked on the consent page.'),
  tos_uri: informationUri('The app\'s terms of service, linked on the consent page.'),
  contacts: z.array(z.string().max(254)).max(10).optional().meta({ description: 'Email addresses of the people responsible for the app.' }),
};

function informationOf(body: { client_uri?: string | null | undefined; logo_uri?: string | null | undefined; policy_uri?: string | null | undefined; tos_uri?: string | null | undefined; contacts?: string[] | undefined }) {
  return {
    ...(body.client_uri !== undefined ? { clientUri: body.client_uri } : {}),
    ...(body.logo_uri !== undefined ? { logoUri: body.logo_uri } : {}),
    ...(body.policy_uri !== undefined ? { policyUri: body.policy_uri } : {}),
    ...(body.tos_uri !== undefined ? { tosUri: body.tos_uri } : {}),
    ...(body.contacts !== undefined ? { contacts: body.contacts } : {}),
  };
}

const requireAcr = z.enum(ACR_VALUES).meta({ description: 'The weakest sign-in the app accepts (acr_values_supported; README explains each). A person who cannot reach it is refused with unmet_authentication_requirements; null removes the minimum.' });

const newClientBody = component('NewClient', z.strictObject({
  name,
  redirect_uris: uris.optional().meta({ description: 'Required for an app that signs people in; exact matching.' }),
  post_logout_redirect_uris: uris.optional(),
  public: z.boolean().optional().meta({ description: 'A public app (no secret; PKCE only).' }),
  client_credentials: z.boolean().optional().meta({ description: 'A machine client using the client_credentials grant.' }),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).optional(),
  jwks: jwksSchema.optional(),
  jwks_uri: z.string().min(1).max(2000).optional().meta({ description: 'An https URL where the client publishes its public keys, instead of jwks.' }),
  scope: scope.optional(),
  introspection_signed_response_alg: z.enum(['ES256', 'RS256']).optional(),
  backchannel_logout_uri: backchannelLogoutUri.optional(),
  backchannel_logout_session_required: backchannelLogoutSessionRequired.optional(),
  events_endpoint: eventsEndpoint.optional(),
  ...requirements,
  device_flow: z.boolean().optional().meta({ description: 'The app may also use the device flow (RFC 8628, urn:ietf:params:oauth:grant-type:device_code).' }),
  require_acr: requireAcr.optional(),
  ...information,
}));

const clientChangesBody = component('ClientChanges', z.strictObject({
  name: name.optional(),
  redirect_uris: uris.optional(),
  post_logout_redirect_uris: uris.optional(),
  scope: scope.optional(),
  backchannel_logout_uri: backchannelLogoutUri.optional(),
  backchannel_logout_session_required: backchannelLogoutSessionRequired.optional(),
  events_endpoint: eventsEndpoint.nullable().optional().meta({ description: 'null: the app receives no more security events.' }),
  device_flow: z.boolean().optional().meta({ description: 'Turn the device flow (RFC 8628) on or off for the app.' }),
  require_acr: requireAcr.nullable().optional(),
  ...requirements,
  ...information,
}).refine((changes) => Object.keys(changes).length > 0, 'Name at least one of name, redirect_uris, post_logout_redirect_uris, scope, backchannel_logout_uri, backchannel_logout_session_required, events_endpoint, device_flow, require_acr, dpop_bound_access_tokens, require_pushed_authorization_requests, require_signed_request_object, client_uri, logo_uri, policy_uri, tos_uri, contacts.'));

export const rotateSecretBody = component('SecretRotation', z.strictObject({
  overlap_seconds: z.number().int().min(0).max(MAX_SECRET_OVERLAP_SECONDS).optional()
    .meta({ description: `How long the replaced secret keeps working, in seconds (default ${DEFAULT_SECRET_OVERLAP_SECONDS}; 0 ends it at once).` }),
}));


function newClient(body: z.output<typeof newClientBody>): NewClient {
  return {
    name: body.name,
    ...(body.redirect_uris !== undefined ? { redirectUris: body.redirect_uris } : {}),
    ...(body.post_logout_redirect_uris !== undefined ? { postLogoutRedirectUris: body.post_logout_redirect_uris } : {}),
    ...(body.public !== undefined ? { public: body.public } : {}),
    ...(body.client_credentials !== undefined ? { clientCredentials: body.client_credentials } : {}),
    ...(body.token_endpoint_auth_method !== undefined ? { tokenEndpointAuthMethod: body.token_endpoint_auth_method } : {}),
    ...(body.jwks !== undefined ? { jwks: body.jwks as NewClient['jwks'] } : {}),
    ...(body.scope !== undefined ? { scope: body.scope } : {}),
    ...(body.introspection_signed_response_alg !== undefined ? { introspectionSignedResponseAlg: body.introspection_signed_response_alg } : {}),
    ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
    ...(body.backchannel_logout_session_required !== undefined ? { backchannelLogoutSessionRequired: body.backchannel_logout_session_required } : {}),
    ...(body.events_endpoint !== undefined ? { eventsEndpoint: body.events_endpoint } : {}),
    ...(body.jwks_uri !== undefined ? { jwksUri: body.jwks_uri } : {}),
    ...(body.device_flow !== undefined ? { deviceCode: body.device_flow } : {}),
    ...(body.require_acr !== undefined ? { requireAcr: body.require_acr } : {}),
    ...requirementsOf(body),
    ...informationOf(body),
  };
}

function requirementsOf(body: { dpop_bound_access_tokens?: boolean | undefined; require_pushed_authorization_requests?: boolean | undefined; require_signed_request_object?: boolean | undefined }) {
  return {
    ...(body.dpop_bound_access_tokens !== undefined ? { requireDpop: body.dpop_bound_access_tokens } : {}),
    ...(body.require_pushed_authorization_requests !== undefined ? { requirePar: body.require_pushed_authorization_requests } : {}),
    ...(body.require_signed_request_object !== undefined ? { requireSignedRequestObject: body.require_signed_request_object } : {}),
  };
}

const MANAGED_ELSEWHERE = 'The client is an API\'s introspection credentials (manage it under /apis) or Gatehouse\'s own sign-in client.';

export function clientRoutes(ops: AdminOperations['apps']): ApiRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/clients', operationId: 'createClient', tag: 'Clients',
      summary: 'Register a client',
      description: 'The client secret is in this response only: Gatehouse keeps nothing it could show again. '
        + 'Never an admin client: only an operator makes one (gatehouse client create … --admin).',
      body: newClientBody, bodyRequired: true,
      success: { status: 201, schema: createdClientSchema, description: 'The client, with its secret.' },
      async handle({ body, actor }) {
        const { client, clientSecret } = await ops.createClient(actor, newClient(body));
        return created(`/clients/${encodeURIComponent(client.clientId)}`, { ...clientJson(client), client_secret: clientSecret ?? null });
      },
    }),
    defineRoute({
      method: 'get', path: '/clients', operationId: 'listClients', tag: 'Clients',
      summary: 'List clients, oldest first',
      query: pageQuery,
      success: { status: 200, schema: clientPageSchema, description: 'A page of clients.' },
      async handle({ query }) {
        return ok(pageJson(await ops.listClients({ limit: query.limit, cursor: query.cursor }), clientJson));
      },
    }),
    defineRoute({
      method: 'get', path: '/clients/{client_id}', operationId: 'getClient', tag: 'Clients',
      summary: 'Get a client',
      params: clientParams,
      success: { status: 200, schema: clientSchema, description: 'The client.' },
      async handle({ params }) {
        return ok(clientJson(await ops.getClient(params.client_id)));
      },
    }),
    defineRoute({
      method: 'patch', path: '/clients/{client_id}', operationId: 'updateClient', tag: 'Clients',
      summary: 'Change a client\'s name, redirect URIs, scope, minimum sign-in level, device flow, back-channel logout, events endpoint, what it is held to (DPoP, PAR, signed requests) or what it says about itself',
      description: 'Checked as the whole registration is at creation. Lists replace the old ones.',
      params: clientParams,
      body: clientChangesBody, bodyRequired: true,
      success: { status: 200, schema: clientSchema, description: 'The client, changed.' },
      conflicts: MANAGED_ELSEWHERE,
      async handle({ params, body, actor }) {
        const client = await ops.updateClient(actor, params.client_id, {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.redirect_uris !== undefined ? { redirectUris: body.redirect_uris } : {}),
          ...(body.post_logout_redirect_uris !== undefined ? { postLogoutRedirectUris: body.post_logout_redirect_uris } : {}),
          ...(body.scope !== undefined ? { scope: body.scope } : {}),
          ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
          ...(body.backchannel_logout_session_required !== undefined ? { backchannelLogoutSessionRequired: body.backchannel_logout_session_required } : {}),
          ...(body.events_endpoint !== undefined ? { eventsEndpoint: body.events_endpoint } : {}),
          ...requirementsOf(body),
          ...(body.device_flow !== undefined ? { deviceCode: body.device_flow } : {}),
          ...(body.require_acr !== undefined ? { requireAcr: body.require_acr } : {}),
          ...informationOf(body),
        });
        return ok(clientJson(client));
      },
    }),
    defineRoute({
      method: 'post', path: '/clients/{client_id}/secret', operationId: 'rotateClientSecret', tag: 'Clients',
      summary: 'Rotate a client\'s secret',
      description: 'The new secret is in this response only; the old one keeps working for overlap_seconds.',
      params: clientParams,
      body: rotateSecretBody,
      success: { status: 200, schema: rotatedSecretSchema, description: 'The new secret.' },
      conflicts: `${MANAGED_ELSEWHERE} Or it authenticates without a secret.`,
      async handle({ params, body, actor }) {
        const options = body.overlap_seconds === undefined ? {} : { overlapSeconds: body.overlap_seconds };
        return ok(rotatedSecretJson(await ops.rotateClientSecret(actor, params.client_id, options)));
      },
    }),
    defineRoute({
      method: 'post', path: '/clients/{client_id}/disable', operationId: 'disableClient', tag: 'Clients',
      summary: 'Disable a client',
      description: 'It can no longer authenticate, and every grant it held is revoked: its tokens stop working at once.',
      params: clientParams,
      success: { status: 200, schema: clientSchema, description: 'The client, disabled.' },
      conflicts: MANAGED_ELSEWHERE,
      async handle({ params, actor }) {
        return ok(clientJson(await ops.disableClient(actor, params.client_id)));
      },
    }),
    defineRoute({
      method: 'post', path: '/clients/{client_id}/enable', operationId: 'enableClient', tag: 'Clients',
      summary: 'Enable a client again',
      description: 'Grants revoked by disabling do not come back.',
      params: clientParams,
      success: { status: 200, schema: clientSchema, description: 'The client, enabled.' },
      conflicts: MANAGED_ELSEWHERE,
      async handle({ params, actor }) {
        return ok(clientJson(await ops.enableClient(actor, params.client_id)));
      },
    }),
    defineRoute({
      method: 'delete', path: '/clients/{client_id}', operationId: 'deleteClient', tag: 'Clients',
      summary: 'Delete a client',
      description: 'Revokes every grant of the client and forgets every record issued to it.',
      params: clientParams,
      success: { status: 204, schema: null, description: 'The client is gone.' },
      conflicts: MANAGED_ELSEWHERE,
      async handle({ params, actor }) {
        await ops.deleteClient(actor, params.client_id);
        return noContent();
      },
    }),
  ];
}
