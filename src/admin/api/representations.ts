// Domain objects as the admin API shows them: snake_case JSON, ISO 8601 times, and nothing secret
// (a client's secret digests never leave the server; a new secret is shown once, by the route that made it).
import type { RegistrationToken } from '../../registration/tokens.js';
import { accountState, type User } from '../../people/users.js';
import type { EndedSessionsResult, RotatedSecret } from '../../admin/operations.js';
import type { AuditEvent } from '../../audit/events.js';
import type { Client } from '../../clients/store.js';
import type { Page } from '../../db/pages.js';
import type { GrantInfo } from '../../grants/store.js';
import type { SigningKeyInfo } from '../../keys/signing-keys.js';
import type { ResourceServer } from '../../resources/store.js';
import type { SessionInfo } from '../../sessions/store.js';
import type { ApiJson, AuditEventJson, ClientJson, GrantJson, SessionJson, SigningKeyJson, UserJson } from './schemas.js';

function iso(date: Date): string;
function iso(date: Date | null): string | null;
function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

export function pageJson<T, J>(page: Page<T>, item: (value: T) => J): { items: J[]; next_cursor: string | null } {
  return { items: page.items.map(item), next_cursor: page.nextCursor };
}

export function userJson(user: User): UserJson {
  return {
    id: user.id,
    email: user.email,
    email_verified: user.emailVerified,
    name: user.name,
    given_name: user.givenName,
    family_name: user.familyName,
    is_admin: user.isAdmin,
    disabled_at: iso(user.disabledAt),
    status: accountState(user),
    invited_at: iso(user.invitedAt),
    created_at: iso(user.createdAt),
    updated_at: iso(user.updatedAt),
  };
}

export function invitationJson(invitation: { user: User; expiresAt: Date }) {
  return { user: userJson(invitation.user), expires_at: iso(invitation.expiresAt) };
}

export function endedSessionsJson(ended: EndedSessionsResult) {
  return { sessions_ended: ended.sessionsEnded, grants_revoked: ended.grantsRevoked };
}

export function revokedGrantsJson(revoked: { grantsRevoked: number }) {
  return { grants_revoked: revoked.grantsRevoked };
}

export function sessionJson(session: SessionInfo): SessionJson {
  return {
    id: session.id,
    user_id: session.userId,
    user_agent: session.userAgent,
    ip: session.ip,
    created_at: iso(session.createdAt),
    last_active_at: iso(session.lastActiveAt),
    expires_at: iso(session.expiresAt),
    client_ids: session.clientIds,
  };
}

export function grantJson(grant: GrantInfo): GrantJson {
  return {
    id: grant.id,
    user_id: grant.userId,
    client_id: grant.clientId,
    client_name: grant.clientName,
    scopes: grant.scopes,
    apis: grant.apis.map((api) => ({ identifier: api.identifier, name: api.name, scopes: api.scopes })),
    created_at: iso(grant.createdAt),
    last_used_at: iso(grant.lastUsedAt),
    expires_at: iso(grant.expiresAt),
  };
}

/** A client's registration; its secret and the digests of its secrets are never part of it. */
export function clientJson(client: Client): ClientJson {
  return {
    client_id: client.clientId,
    name: client.name,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: client.grantTypes,
    scope: client.scope,
    is_admin: client.isAdmin,
    registered_at: iso(client.registeredAt),
    require_acr: client.requireAcr,
    introspection_signed_response_alg: client.introspectionSignedResponseAlg,
    jwks: client.jwks,
    jwks_uri: client.jwksUri,
    dpop_bound_access_tokens: client.requireDpop,
    require_pushed_authorization_requests: client.requirePar,
    require_signed_request_object: client.requireSignedRequestObject,
    api_identifier: client.resourceIdentifier,
    backchannel_logout_uri: client.backchannelLogoutUri,
    backchannel_logout_session_required: client.backchannelLogoutSessionRequired,
    events_endpoint: client.eventsEndpoint,
    client_uri: client.clientUri,
    logo_uri: client.logoUri,
    policy_uri: client.policyUri,
    tos_uri: client.tosUri,
    contacts: client.contacts,
    previous_secret_expires_at: iso(client.previousSecretExpiresAt),
    disabled_at: iso(client.disabledAt),
    created_at: iso(client.createdAt),
  };
}

export function rotatedSecretJson(rotated: RotatedSecret) {
  return { client_secret: rotated.clientSecret, previous_secret_expires_at: iso(rotated.previousSecretExpiresAt) };
}

export function apiJson(api: ResourceServer): ApiJson {
  return {
    identifier: api.identifier,
    name: api.name,
    scopes: api.scopes,
    scope_descriptions: api.scopeDescriptions,
    localized_scope_descriptions: api.localizedScopeDescriptions,
    access_token_ttl: api.accessTokenTtl,
    is_default: api.isDefault,
    client_id: api.clientId,
    events_endpoint: api.eventsEndpoint,
    may_exchange_for: api.mayExchangeFor,
    disabled_at: iso(api.disabledAt),
    created_at: iso(api.createdAt),
  };
}

export function signingKeyJson(key: SigningKeyInfo): SigningKeyJson {
  return {
    kid: key.kid,
    alg: key.alg,
    state: key.state,
    published: key.published,
    created_at: iso(key.createdAt),
    activates_at: iso(key.activatesAt),
    retired_at: iso(key.retiredAt),
    unpublish_at: iso(key.unpublishAt),
  };
}

export function auditEventJson(event: AuditEvent): AuditEventJson {
  return {
    id: event.id,
    occurred_at: iso(event.occurredAt),
    type: event.type,
    actor: { type: event.actor.type, id: event.actor.id },
    user_id: event.userId,
    client_id: event.clientId,
    ip: event.ip,
    details: event.details,
  };
}

/** An initial access token, never its value (shown once, when created) nor its digest. */
export function registrationTokenJson(token: RegistrationToken) {
  return {
    id: token.id,
    description: token.description,
    scope: token.scope,
    uses: token.uses,
    max_uses: token.maxUses,
    expires_at: iso(token.expiresAt),
    revoked_at: iso(token.revokedAt),
    created_at: iso(token.createdAt),
  };
}
