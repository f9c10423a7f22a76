// Where an app that registers itself (RFC 7591) or manages its registration (RFC 7592) is written:
// oidc-provider hands the Client model's storage the metadata it validated (src/oidc/models/
// client.ts delegates upsert and destroy here), and this writes it to the clients table through the
// same store, and the same validation, as an app the operator creates. The initial access token
// is counted, the app written and the audit entry appended in one transaction.
import { errors, type AdapterPayload } from 'oidc-provider';
import type { Actor } from '../audit/events.js';
import type { Audited } from '../audit/audited.js';
import { DEVICE_CODE_GRANT, type Client, type ClientStore, type NewClient } from '../clients/store.js';
import { isGatehouseError } from '../errors.js';
import type { GrantStore } from '../grants/store.js';
import { currentRequest } from '../oidc/internals.js';
import { API_SCOPE_METADATA } from '../vocabulary.js';
import type { RegistrationTokens } from './tokens.js';

/** What the gate (gate.ts) learnt of a registration request, for the write that follows. */
export interface RegistrationRequest {
  /** The initial access token's id; undefined under OPEN_REGISTRATION. */
  tokenId: string | undefined;
  /** The scope the app may hold at most. */
  ceiling: string;
}

const STATE_KEY = 'registration';

export function rememberRegistration(state: Record<string, unknown>, request: RegistrationRequest): void {
  state[STATE_KEY] = request;
}

function currentRegistration(): { request: RegistrationRequest | undefined; ip: string | null } {
  const ctx = currentRequest();
  return { request: ctx?.state?.[STATE_KEY] as RegistrationRequest | undefined, ip: ctx?.ip ?? null };
}

/** A refusal of the app's own metadata, as oidc-provider answers it (400 JSON). */
function refusedMetadata(error: unknown): never {
  if (isGatehouseError(error, 'invalid_input')) {
    if (error.field?.startsWith('redirectUris') || error.field?.startsWith('postLogoutRedirectUris')) throw new errors.InvalidRedirectUri(error.message);
    throw new errors.InvalidClientMetadata(error.message);
  }
  throw error;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The registration oidc-provider validated, as the clients store takes one. */
function newClientOf(metadata: AdapterPayload): NewClient {
  const method = String(metadata.token_endpoint_auth_method ?? 'client_secret_basic');
  const scope = [metadata.scope, metadata[API_SCOPE_METADATA]].filter((s) => typeof s === 'string' && s).join(' ');
  return {
    name: typeof metadata.client_name === 'string' ? metadata.client_name : '',
    redirectUris: strings(metadata.redirect_uris),
    postLogoutRedirectUris: strings(metadata.post_logout_redirect_uris),
    public: method === 'none',
    ...(method === 'none' ? {} : { tokenEndpointAuthMethod: method as 'client_secret_basic' }),
    ...(metadata.jwks ? { jwks: metadata.jwks as NewClient['jwks'] } : {}),
    scope,
    deviceCode: strings(metadata.grant_types).includes(DEVICE_CODE_GRANT),
    ...requirementsOf(metadata),
    ...informationOf(metadata),
  };
}

/**
 * What the app asked to be held to, and where its logout tokens go: the answer echoes them, so
 * they are stored, and enforced, as an operator's app's are (the policy refused what Gatehouse
 * cannot hold). An RFC 7592 update that leaves one out turns it off.
 */
function requirementsOf(metadata: AdapterPayload) {
  const backchannelLogoutUri = typeof metadata.backchannel_logout_uri === 'string' ? metadata.backchannel_logout_uri : null;
  return {
    requireDpop: metadata.dpop_bound_access_tokens === true,
    requirePar: metadata.require_pushed_authorization_requests === true,
    requireSignedRequestObject: metadata.require_signed_request_object === true,
    backchannelLogoutUri,
    backchannelLogoutSessionRequired: backchannelLogoutUri !== null && metadata.backchannel_logout_session_required === true,
    // oidc-provider answers its default (RS256) when none was asked for; stored as such, an update
    // from ES256 back to the default takes effect.
    introspectionSignedResponseAlg: metadata.introspection_signed_response_alg === 'ES256' ? 'ES256' as const : 'RS256' as const,
  };
}

/** What the app says about itself; an RFC 7592 update that leaves one out removes it. */
function informationOf(metadata: AdapterPayload) {
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return {
    clientUri: text(metadata.client_uri),
    logoUri: text(metadata.logo_uri),
    policyUri: text(metadata.policy_uri),
    tosUri: text(metadata.tos_uri),
    contacts: strings(metadata.contacts),
  };
}

export interface RegistrarDependencies {
  clients: ClientStore;
  grants: GrantStore;
  tokens: RegistrationTokens;
  audited: Audited;
}

export class Registrar {
  constructor(private readonly deps: RegistrarDependencies) {}

  /** oidc-provider's Client upsert: a registration (a new id) or an RFC 7592 update (a registered app's). */
  async upsert(clientId: string, metadata: AdapterPayload): Promise<void> {
    const { request, ip } = currentRegistration();
    // Only the gate's requests reach here: nothing else writes clients through oidc-provider.
    if (!request) throw new Error('a client was written through oidc-provider outside a registration request');
    const actor: Actor = { type: 'client', id: clientId, ip };
    const input = newClientOf(metadata);
    await this.deps.audited(actor, async (trx) => {
      const existing = await this.deps.clients.find(clientId, trx);
      if (!existing) {
        if (request.tokenId && !(await this.deps.tokens.spend(request.tokenId, trx))) {
          throw new errors.InvalidToken('initial access token not found');
        }
        const secret = typeof metadata.client_secret === 'string' ? metadata.client_secret : undefined;
        const { client } = await this.deps.clients
          .create(input, trx, { clientId, clientSecret: secret, scopeCeiling: request.ceiling })
          .catch(refusedMetadata);
        return { result: client, event: { type: 'client.registered', clientId, details: { ...describe(client), initialAccessToken: request.tokenId ?? null } } };
      }
      if (!existing.registeredAt) throw new errors.InvalidToken('the client was not registered through this endpoint');
      const method = input.public ? 'none' : input.tokenEndpointAuthMethod;
      if (method !== existing.tokenEndpointAuthMethod) {
        throw new errors.InvalidClientMetadata('token_endpoint_auth_method cannot change: register a new app');
      }
      const client = await this.deps.clients
        .update(clientId, { name: input.name, redirectUris: input.redirectUris ?? [], postLogoutRedirectUris: input.postLogoutRedirectUris ?? [], scope: input.scope ?? '', deviceCode: input.deviceCode ?? false, ...(input.jwks ? { jwks: input.jwks } : {}), ...requirementsOf(metadata), ...informationOf(metadata) }, trx)
        .catch(refusedMetadata);
      return { result: client, event: { type: 'client.updated', clientId, details: { through: 'registration_management', ...describe(client!) } } };
    });
  }

  /** oidc-provider's Client destroy: an RFC 7592 delete by the app itself. */
  async destroy(clientId: string): Promise<void> {
    const { ip } = currentRegistration();
    await this.deps.audited({ type: 'client', id: clientId, ip }, async (trx) => {
      const existing = await this.deps.clients.find(clientId, trx);
      if (!existing?.registeredAt) throw new errors.InvalidToken('the client was not registered through this endpoint');
      const grantsRevoked = await this.deps.grants.revokeAllOfClient(clientId, trx);
      await this.deps.clients.delete(clientId, trx);
      return { result: undefined, event: { type: 'client.deleted', clientId, details: { name: existing.name, grantsRevoked, through: 'registration_management' } } };
    });
  }
}

/**
 * Audit detail of a registration: what it may do and is held to, and where Gatehouse will POST its
 * logout tokens (a registrant chose that URI); never its secret.
 */
function describe(client: Client | undefined): Record<string, unknown> {
  if (!client) return {};
  return {
    name: client.name, grantTypes: client.grantTypes, scope: client.scope, redirectUris: client.redirectUris, tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
    requireDpop: client.requireDpop, requirePar: client.requirePar, requireSignedRequestObject: client.requireSignedRequestObject, backchannelLogoutUri: client.backchannelLogoutUri,
  };
}
