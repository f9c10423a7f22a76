// What an app registering itself (RFC 7591) may ask for, on top of every rule an app created by an
// operator follows (src/clients/schema.ts, checked again when the app is written: registrar.ts):
//
//   redirect URIs  exact URIs only (matched exactly later, src/oidc/models/client.ts), in the
//                  schemes and on the hosts the operator allows (REGISTRATION_REDIRECT_SCHEMES,
//                  REGISTRATION_REDIRECT_HOSTS)
//   scopes         within its initial access token's (OIDC scopes only under OPEN_REGISTRATION),
//                  never the admin scope
//   auth methods   those REGISTRATION_AUTH_METHODS allows; keys by value only (no jwks_uri)
//   grant types    the authorization code (with PKCE, required of every app) and refresh tokens,
//                  and RFC 8628's device code if it asks; never client_credentials
//   back-channel   a logout URI on those hosts too, loopback only if named, and none at all while
//   logout         the operator lists no hosts: Gatehouse itself POSTs to it, from its own network
//
// The answer must be what is registered (RFC 7591 §3.2.1): an app trusts it, and the RFC 7592 read
// and every check later use the stored app. So every member oidc-provider would validate and echo
// is either kept (registrar.ts maps it to the store), replaced by what Gatehouse keeps instead, or
// refused when Gatehouse cannot honour it; a purely informative one it has no use for is dropped.
//
// A refusal is RFC 7591 §3.2.2's error JSON: invalid_redirect_uri or invalid_client_metadata.
import { DEVICE_CODE_GRANT } from '../clients/store.js';
import { redirectUriProblem } from '../clients/redirect-uris.js';
import { OIDC_SCOPES } from '../oidc/configuration.js';
import { applicationType } from '../oidc/models/client.js';
import { ADMIN_METADATA, ADMIN_SCOPE, API_SCOPE_METADATA, PREVIOUS_SECRET_METADATA, RESOURCE_METADATA } from '../vocabulary.js';
import { LOOPBACK_HOSTS } from '../paths.js';
import type { Config } from '../config.js';

export type RegistrationErrorCode = 'invalid_redirect_uri' | 'invalid_client_metadata';

/** A refusal, as RFC 7591 §3.2.2 words it. */
export class RegistrationRefused extends Error {
  constructor(readonly error: RegistrationErrorCode, description: string) {
    super(description);
    this.name = 'RegistrationRefused';
  }
}

export type RegistrationPolicySettings = Config['registration'] & {
  /** REQUIRE_PAR: every registered app pushes its authorization requests, and its answer says so. */
  requirePar?: boolean;
};

/** Metadata Gatehouse keeps for itself: an app never sets it. */
const PRIVATE_METADATA = [API_SCOPE_METADATA, RESOURCE_METADATA, ADMIN_METADATA, PREVIOUS_SECRET_METADATA];
/** Metadata Gatehouse does not take from a registrant (what it would need, it does not offer). */
const UNSUPPORTED_METADATA = ['jwks_uri', 'sector_identifier_uri', 'request_uris', 'software_statement'];
/**
 * Metadata Gatehouse has no place for and would not enforce: each asks the server to hold the app
 * to something (a sign-in level or age, an algorithm, a response mode), so silently accepting it
 * would tell the app it is protected when it is not.
 */
const UNHONOURED_METADATA: Record<string, string> = {
  default_acr_values: 'send acr_values with each authorization request; an operator can set a minimum sign-in level for the app',
  default_max_age: 'send max_age with each authorization request',
  token_endpoint_auth_signing_alg: 'any of the algorithms in discovery\'s token_endpoint_auth_signing_alg_values_supported is accepted',
  request_object_signing_alg: 'any of the algorithms in discovery\'s request_object_signing_alg_values_supported is accepted',
  response_modes: 'the response mode is chosen per request (response_mode)',
};
/** Informative metadata Gatehouse has no use for (it never starts a sign-in at the app): dropped, so not answered. */
const IGNORED_METADATA = ['initiate_login_uri'];
const ALLOWED_GRANTS = new Set(['authorization_code', 'refresh_token', DEVICE_CODE_GRANT]);
const DEFAULT_GRANTS = ['authorization_code', 'refresh_token'];

function refuse(description: string): never {
  throw new RegistrationRefused('invalid_client_metadata', description);
}

function stringList(body: Record<string, unknown>, member: string): string[] | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) refuse(`${member} must be an array of strings`);
  return value as string[];
}

/** Whether `host` is one the operator allows (`*.example.com` allows its subdomains, not itself). */
function hostAllowed(host: string, allowed: string[]): boolean {
  if (allowed.length === 0) return true;
  return allowed.some((pattern) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern));
}

function checkRedirectUri(uri: string, settings: RegistrationPolicySettings, member: string): void {
  const problem = redirectUriProblem(uri);
  if (problem) throw new RegistrationRefused('invalid_redirect_uri', `${member}: ${problem}`);
  const url = new URL(uri);
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!settings.redirectSchemes.includes(scheme)) {
    throw new RegistrationRefused('invalid_redirect_uri', `${member}: the scheme of "${uri}" is not one registered apps may use (${settings.redirectSchemes.join(', ') || 'none'})`);
  }
  // Loopback is this machine's, never someone else's host: an allowed http scheme covers it.
  const isWeb = scheme === 'https' || scheme === 'http';
  if (isWeb && !(scheme === 'http' && LOOPBACK_HOSTS.has(url.hostname)) && !hostAllowed(url.hostname.toLowerCase(), settings.redirectHosts)) {
    throw new RegistrationRefused('invalid_redirect_uri', `${member}: "${url.hostname}" is not a host registered apps may redirect to`);
  }
}

/**
 * Checks a registration (POST) or update (PUT) body against the policy, and returns the body
 * oidc-provider is given: the requested scope split into the OIDC scopes it knows and the API
 * scopes Gatehouse checks per API (API_SCOPE_METADATA), the way an operator-created app's are.
 * `ceiling` is the scope the app may hold at most.
 */
export function applyRegistrationPolicy(body: unknown, ceiling: string, settings: RegistrationPolicySettings): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) refuse('the request body must be a JSON object of client metadata');
  const metadata = { ...(body as Record<string, unknown>) };

  for (const member of PRIVATE_METADATA) if (member in metadata) refuse(`${member} is not client metadata an app may set`);
  for (const member of UNSUPPORTED_METADATA) if (metadata[member] !== undefined) refuse(`${member} is not supported${member === 'jwks_uri' ? ': send the public keys as jwks' : ''}`);
  for (const [member, instead] of Object.entries(UNHONOURED_METADATA)) {
    if (metadata[member] !== undefined && metadata[member] !== null) refuse(`${member} is not supported: Gatehouse would not enforce it; ${instead}`);
  }
  for (const member of IGNORED_METADATA) delete metadata[member];

  const redirectUris = stringList(metadata, 'redirect_uris');
  if (!redirectUris || redirectUris.length === 0) throw new RegistrationRefused('invalid_redirect_uri', 'redirect_uris is required: at least one exact redirect URI');
  for (const uri of redirectUris) checkRedirectUri(uri, settings, 'redirect_uris');
  for (const uri of stringList(metadata, 'post_logout_redirect_uris') ?? []) checkRedirectUri(uri, settings, 'post_logout_redirect_uris');

  const grantTypes = stringList(metadata, 'grant_types') ?? DEFAULT_GRANTS;
  const refused = grantTypes.find((grant) => !ALLOWED_GRANTS.has(grant));
  if (refused) refuse(`grant_types: ${refused} is not available to registered apps (authorization_code, refresh_token, ${DEVICE_CODE_GRANT})`);
  if (!grantTypes.includes('authorization_code')) refuse('grant_types must include authorization_code');
  // Refresh tokens come with every app that signs people in (offline_access decides whether one is issued).
  metadata.grant_types = [...new Set(['authorization_code', 'refresh_token', ...grantTypes])];
  const responseTypes = stringList(metadata, 'response_types') ?? ['code'];
  if (responseTypes.some((type) => type !== 'code')) refuse('response_types: only code is available');

  const authMethod = metadata.token_endpoint_auth_method ?? 'client_secret_basic';
  if (typeof authMethod !== 'string' || !(settings.authMethods as string[]).includes(authMethod)) {
    refuse(`token_endpoint_auth_method must be one of ${settings.authMethods.join(', ')}`);
  }

  const allowed = new Set(ceiling.split(' ').filter(Boolean));
  allowed.delete(ADMIN_SCOPE);
  if (metadata.scope !== undefined && typeof metadata.scope !== 'string') refuse('scope must be a space-separated string');
  const requested = typeof metadata.scope === 'string'
    ? [...new Set(metadata.scope.split(' ').filter(Boolean))]
    : OIDC_SCOPES.filter((scope) => allowed.has(scope));
  if (requested.includes(ADMIN_SCOPE)) refuse(`scope: ${ADMIN_SCOPE} is never granted to a registered app`);
  const beyond = requested.filter((scope) => !allowed.has(scope));
  if (beyond.length) refuse(`scope: ${beyond.join(' ')} is beyond what this registration may ask for`);
  if (!requested.includes('openid')) refuse('scope must include openid');
  const oidc = requested.filter((scope) => OIDC_SCOPES.includes(scope));
  const api = requested.filter((scope) => !OIDC_SCOPES.includes(scope));
  metadata.scope = oidc.join(' ');
  if (api.length) metadata[API_SCOPE_METADATA] = api.join(' ');

  checkBackchannelLogout(metadata, settings);

  if (metadata.client_name === undefined) metadata.client_name = new URL(redirectUris[0]!).host || redirectUris[0];
  // RFC 7591 §2 lets the server replace a value it will not honour: every ID token carries
  // auth_time (src/oidc/models/client.ts), and the answer and the RFC 7592 read must both say so.
  metadata.require_auth_time = true;
  // The same for what the read works out from the stored app: its application type from its
  // redirect URIs (a private-use scheme is a native app's), its contacts as a list, empty too, and
  // PAR for every app under REQUIRE_PAR.
  metadata.application_type = applicationType(redirectUris);
  if (metadata.contacts === undefined || metadata.contacts === null) metadata.contacts = [];
  if (settings.requirePar) metadata.require_pushed_authorization_requests = true;
  return metadata;
}

/**
 * An app's back-channel logout URI (OpenID Connect Back-Channel Logout 1.0), beyond the rules of an
 * operator's app (src/clients/redirect-uris.ts, checked again by the store): Gatehouse POSTs logout
 * tokens to it from its own network, so a registrant may name only a host the operator allows, and
 * loopback (Gatehouse's own machine, not the person's, as for a redirect) only when it is named.
 * Without a URI, backchannel_logout_session_required means nothing, and is not kept.
 */
function checkBackchannelLogout(metadata: Record<string, unknown>, settings: RegistrationPolicySettings): void {
  const uri = metadata.backchannel_logout_uri;
  if (uri === undefined || uri === null) {
    delete metadata.backchannel_logout_uri;
    delete metadata.backchannel_logout_session_required;
    return;
  }
  if (typeof uri !== 'string' || !URL.canParse(uri)) refuse('backchannel_logout_uri must be an absolute http or https URL');
  const url = new URL(uri);
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if ((scheme !== 'https' && scheme !== 'http') || !settings.redirectSchemes.includes(scheme)) {
    refuse(`backchannel_logout_uri: the scheme of "${uri}" is not one registered apps may use (${settings.redirectSchemes.filter((s) => s === 'https' || s === 'http').join(', ') || 'none'})`);
  }
  // "Any host" suits redirect URIs, which only the person's browser follows; logout tokens are
  // POSTed by Gatehouse from inside the operator's network, so a stranger's app may name only a
  // host the operator listed: with no list, none (an internal address, a cloud metadata service).
  if (settings.redirectHosts.length === 0) {
    refuse('backchannel_logout_uri needs the operator to list the hosts registered apps may use (REGISTRATION_REDIRECT_HOSTS): ask the operator, or register without it');
  }
  const host = url.hostname.toLowerCase();
  const allowed = LOOPBACK_HOSTS.has(url.hostname) ? settings.redirectHosts.includes(host) : hostAllowed(host, settings.redirectHosts);
  if (!allowed) refuse(`backchannel_logout_uri: "${url.hostname}" is not a host registered apps may receive logout tokens on`);
}

/** A registration's answer as the app sent it: its API scopes back in `scope`, Gatehouse's own metadata out. */
export function answeredMetadata(body: Record<string, unknown>): Record<string, unknown> {
  const answer = { ...body };
  const api = typeof answer[API_SCOPE_METADATA] === 'string' ? (answer[API_SCOPE_METADATA] as string) : '';
  if (api) answer.scope = [answer.scope, api].filter(Boolean).join(' ');
  for (const member of PRIVATE_METADATA) delete answer[member];
  return answer;
}
