// The shapes of what the admin API answers, as zod schemas: the representations are typed by them
// and the OpenAPI document is generated from them, so the document cannot drift from the answers.
// Request shapes live with the routes that take them (users.ts, clients.ts, ...).
import { z } from 'zod';
import { AUDIT_EVENT_TYPES } from '../../audit/events.js';
import { MAX_PAGE_SIZE } from '../../db/pages.js';
import { isStorableText, NUL_MESSAGE } from '../../db/text.js';
import { JWS_ALGORITHMS } from '../../keys/signing-keys.js';

/** Named schemas become components of the OpenAPI document; the rest are written inline. */
export const componentNames = new Map<z.ZodType, string>();

export function component<T extends z.ZodType>(name: string, schema: T): T {
  componentNames.set(schema, name);
  return schema;
}

const timestamp = z.iso.datetime();
const nullableTimestamp = timestamp.nullable();

export const errorSchema = component('Error', z.object({
  error: z.enum([
    'invalid_request', 'invalid_token', 'invalid_dpop_proof', 'use_dpop_nonce', 'insufficient_scope', 'unauthorized', 'not_found', 'method_not_allowed',
    'conflict', 'payload_too_large', 'unsupported_media_type', 'temporarily_unavailable', 'server_error',
  ]),
  error_description: z.string(),
  field: z.string().optional().meta({ description: 'The input field the error is about (dotted for nested fields).' }),
}));

/** `?limit=&cursor=` of every keyset-paginated list. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional()
    .meta({ description: `Items per page, 1 to ${MAX_PAGE_SIZE} (default 50).` }),
  cursor: z.string().min(1).max(2000).optional()
    .meta({ description: 'The next_cursor of the previous page.' }),
});

function pageOf<T extends z.ZodType>(name: string, item: T) {
  return component(name, z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last page.' }),
  }));
}

export const userSchema = component('User', z.object({
  id: z.guid(),
  email: z.string(),
  email_verified: z.boolean(),
  name: z.string(),
  given_name: z.string().nullable(),
  family_name: z.string().nullable(),
  is_admin: z.boolean(),
  disabled_at: nullableTimestamp,
  status: z.enum(['active', 'invited', 'unverified']).meta({
    description: 'active: can sign in (unless disabled); invited: has not accepted the invitation yet; unverified: signed up and has not confirmed the address yet. Only active people can sign in or hold tokens.',
  }),
  invited_at: nullableTimestamp.meta({ description: 'When the latest invitation was sent; null if never invited.' }),
  created_at: timestamp,
  updated_at: timestamp,
}));
export const invitationSchema = component('Invitation', z.object({
  user: userSchema,
  expires_at: timestamp.meta({ description: 'When the invitation link stops working.' }),
}));
export const userPageSchema = pageOf('UserPage', userSchema);

export const endedSessionsSchema = component('EndedSessions', z.object({
  sessions_ended: z.number().int().min(0),
  grants_revoked: z.number().int().min(0).meta({ description: 'Grants of the apps signed in to through the ended sessions (and, when disabling, every other grant; when resetting a password, every grant holding a refresh token).' }),
}));

export const sessionSchema = component('Session', z.object({
  id: z.string().meta({ description: 'The session\'s handle (never its cookie).' }),
  user_id: z.string(),
  user_agent: z.string().nullable(),
  ip: z.string().nullable(),
  created_at: timestamp,
  last_active_at: timestamp,
  expires_at: nullableTimestamp,
  client_ids: z.array(z.string()).meta({ description: 'The apps signed in to through this session.' }),
}));
export const sessionPageSchema = pageOf('SessionPage', sessionSchema);

export const grantSchema = component('Grant', z.object({
  id: z.string(),
  user_id: z.string(),
  client_id: z.string(),
  client_name: z.string().nullable(),
  scopes: z.array(z.string()).meta({ description: 'OpenID Connect scopes granted.' }),
  apis: z.array(z.object({
    identifier: z.string(),
    name: z.string().nullable(),
    scopes: z.array(z.string()),
  })).meta({ description: 'Access granted to each API (resource server).' }),
  created_at: timestamp,
  last_used_at: nullableTimestamp.meta({ description: 'When a token was last issued under the grant.' }),
  expires_at: nullableTimestamp,
}));
export const grantPageSchema = pageOf('GrantPage', grantSchema);

export const revokedGrantsSchema = component('RevokedGrants', z.object({ grants_revoked: z.number().int().min(0) }));

export const jwksSchema = z.object({
  keys: z.array(z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']), kid: z.string().max(200).optional() })).min(1).max(10),
}).meta({ description: 'A JWK Set of public keys, for private_key_jwt client authentication and signed request objects.' });

export const clientSchema = component('Client', z.object({
  client_id: z.string(),
  name: z.string(),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']),
  redirect_uris: z.array(z.string()),
  post_logout_redirect_uris: z.array(z.string()),
  grant_types: z.array(z.enum(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'])),
  scope: z.string(),
  is_admin: z.boolean(),
  registered_at: nullableTimestamp.meta({ description: 'When the app registered itself (RFC 7591); null for apps an operator created.' }),
  introspection_signed_response_alg: z.string().nullable(),
  require_acr: z.string().nullable().meta({ description: 'The weakest sign-in level the app accepts, or null for any.' }),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  jwks_uri: z.string().nullable().meta({ description: 'Where the client publishes its public keys, instead of jwks.' }),
  dpop_bound_access_tokens: z.boolean().meta({ description: 'Every token request must carry a DPoP proof (RFC 9449): its tokens are bound to its key.' }),
  require_pushed_authorization_requests: z.boolean().meta({ description: 'Authorization requests only through the PAR endpoint (RFC 9126).' }),
  require_signed_request_object: z.boolean().meta({ description: 'Authorization requests only as request objects signed by its keys (RFC 9101).' }),
  api_identifier: z.string().nullable().meta({ description: 'The API these are the introspection credentials of; such clients are managed under /apis.' }),
  backchannel_logout_uri: z.string().nullable().meta({ description: 'Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0); null: none.' }),
  backchannel_logout_session_required: z.boolean().meta({ description: 'Whether every logout token to the app carries sid.' }),
  events_endpoint: z.string().nullable().meta({ description: 'Where the app receives security events: the URL they are pushed to (RFC 8935), urn:ietf:rfc:8936 when it polls for them (RFC 8936), or null for none.' }),
  client_uri: z.string().nullable().meta({ description: 'The app\'s home page (client_uri); null: not given.' }),
  logo_uri: z.string().nullable().meta({ description: 'The app\'s logo (logo_uri); null: not given.' }),
  policy_uri: z.string().nullable().meta({ description: 'The app\'s privacy policy (policy_uri); null: not given.' }),
  tos_uri: z.string().nullable().meta({ description: 'The app\'s terms of service (tos_uri); null: not given.' }),
  contacts: z.array(z.string()).meta({ description: 'Email addresses of the people responsible for the app.' }),
  previous_secret_expires_at: nullableTimestamp.meta({ description: 'Until when the secret replaced by the last rotation still works.' }),
  disabled_at: nullableTimestamp,
  created_at: timestamp,
}));
export const clientPageSchema = pageOf('ClientPage', clientSchema);

export const createdClientSchema = component('CreatedClient', clientSchema.extend({
  client_secret: z.string().nullable().meta({ description: 'Shown only in this response; null for clients without a secret.' }),
}));

export const rotatedSecretSchema = component('RotatedSecret', z.object({
  client_secret: z.string().meta({ description: 'Shown only in this response.' }),
  previous_secret_expires_at: nullableTimestamp.meta({ description: 'Until when the replaced secret still works; null when it stopped at once.' }),
}));

export const apiSchema = component('Api', z.object({
  identifier: z.string().meta({ description: 'The API\'s resource identifier (RFC 8707), an absolute URI.' }),
  name: z.string(),
  scopes: z.array(z.string()),
  scope_descriptions: z.record(z.string(), z.string()),
  localized_scope_descriptions: z.record(z.string(), z.record(z.string(), z.string())).meta({ description: 'scope_descriptions in other languages, by language tag.' }),
  access_token_ttl: z.number().int().nullable().meta({ description: 'Access-token lifetime in seconds; null for the default.' }),
  is_default: z.boolean(),
  client_id: z.string().nullable().meta({ description: 'The client the API introspects tokens with.' }),
  events_endpoint: z.string().nullable().meta({ description: 'Where the API receives security events: the URL they are pushed to (RFC 8935), urn:ietf:rfc:8936 when it polls for them (RFC 8936), or null for none.' }),
  may_exchange_for: z.array(z.string()).meta({ description: 'Token exchange (RFC 8693): the APIs this API may exchange a person\'s access token for, with its client.' }),
  disabled_at: nullableTimestamp,
  created_at: timestamp,
}));
export const apiPageSchema = pageOf('ApiPage', apiSchema);

export const createdApiSchema = component('CreatedApi', apiSchema.extend({
  client_secret: z.string().nullable().meta({ description: 'The introspection client\'s secret, shown only in this response; null with private_key_jwt.' }),
}));

export const signingKeySchema = component('SigningKey', z.object({
  kid: z.string(),
  alg: z.enum(JWS_ALGORITHMS),
  state: z.enum(['next', 'signing', 'retired']),
  published: z.boolean().meta({ description: 'Whether the key is in the JWK Set.' }),
  created_at: timestamp,
  activates_at: timestamp,
  retired_at: nullableTimestamp,
  unpublish_at: nullableTimestamp,
}));
export const signingKeyListSchema = component('SigningKeyList', z.object({ items: z.array(signingKeySchema) }));

export const auditEventSchema = component('AuditEvent', z.object({
  id: z.string().regex(/^\d+$/),
  occurred_at: timestamp,
  type: z.enum(AUDIT_EVENT_TYPES),
  actor: z.object({ type: z.enum(['user', 'client', 'system', 'anonymous']), id: z.string().nullable() }),
  user_id: z.string().nullable(),
  client_id: z.string().nullable(),
  ip: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
}));
export const auditEventPageSchema = pageOf('AuditEventPage', auditEventSchema);

export type UserJson = z.output<typeof userSchema>;
export type SessionJson = z.output<typeof sessionSchema>;
export type GrantJson = z.output<typeof grantSchema>;
export type ClientJson = z.output<typeof clientSchema>;
export type ApiJson = z.output<typeof apiSchema>;
export type SigningKeyJson = z.output<typeof signingKeySchema>;
export type AuditEventJson = z.output<typeof auditEventSchema>;

// Path parameters. A value that cannot be an id is answered as an unknown id is: 404.
const HANDLE = /^[\w-]{1,200}$/;
export const userIdParam = z.guid({ error: 'No such person.' }).meta({ description: 'The person\'s id (a UUID).' });
export const sessionIdParam = z.string().regex(HANDLE, { error: 'No such session.' }).meta({ description: 'The session\'s id, as listed.' });
export const grantIdParam = z.string().regex(HANDLE, { error: 'No such grant.' }).meta({ description: 'The grant\'s id, as listed.' });
export const clientIdParam = z.string().min(1, { error: 'No such client.' }).max(200, { error: 'No such client.' });
export const apiIdentifierParam = z.string().min(1, { error: 'No such API.' }).max(500, { error: 'No such API.' })
  .meta({ description: 'The API\'s identifier, URL-encoded as one path segment (https%3A%2F%2Fapi.example.com).' });

/** A text filter or search term from the query string. */
export const queryText = (max: number) => z.string().min(1).max(max).refine(isStorableText, NUL_MESSAGE);

/** Path parameters shared by several resources' routes. */
export const userParams = z.object({ user_id: userIdParam });
export const clientParams = z.object({ client_id: clientIdParam });
