// oidc-provider's configuration, in one place. Every choice that departs from oidc-provider's
// defaults says why; what is not here is left at its default on purpose.
import type { AdapterPayload, Configuration, KoaContextWithOIDC, ClientMetadata } from 'oidc-provider';
import { errors, interactionPolicy } from 'oidc-provider';
import { isUsable, standardClaims } from '../people/users.js';
import type { Config } from '../config.js';
import { LOCALES } from '../i18n/catalogs.js';
import type { ResourceServerStore } from '../resources/store.js';
import type { Pages } from '../http/pages.js';
import type { SignedOutApps } from '../logout/signed-out-page.js';
import { clientAssertionAudience } from './policies/client-assertions.js';
import { mayIntrospect, mayRevoke } from './policies/introspection.js';
import { assertRegisteredClaims, checkMachineScopes, claimsRequestBehind, isClientCredentials } from './policies/request-limits.js';
import { isForgivenRetry } from '../tokens/refresh-retry.js';
import { dpopNonceSecret } from '../dpop/nonces.js';
import { DPOP_ALGORITHMS } from '../dpop/proofs.js';
import { newClientId } from '../clients/store.js';
import type { PersonLookup } from '../people/cache.js';
import { ACCOUNT_CLIENT_ID, ADMIN_SCOPE } from '../vocabulary.js';
import { ADMIN_ACCESS_TOKEN_TTL_SECONDS, DEVICE_CODE_TTL_SECONDS } from '../lifetimes.js';
import { ADMIN_METADATA, adminApiAudience, API_SCOPE_METADATA, GRANT_ID_CLAIM, PREVIOUS_SECRET_METADATA, REQUIRE_ACR_METADATA, RESOURCE_METADATA, USERINFO_CLAIMS_CLAIM, userinfoAudience } from '../vocabulary.js';
import { accessTokenBeingRevoked, deviceFormToken, grantFromStored, rotatedRefreshToken, sessionGrantIdFor } from './internals.js';
import { exchangeClaimsOf } from './grants/token-exchange.js';
import { apiScopesOf } from './client-scopes.js';
import { isExchanged } from '../tokens/jwt-access-tokens.js';
import { ACR_VALUES, satisfies } from '../factors/levels.js';
import { requiredLevel, type LevelRules } from '../factors/requirements.js';

/** How clients authenticate, at the token, introspection and revocation endpoints alike. */
const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
/** private_key_jwt's algorithms. client_secret_jwt would need the client secret itself; Gatehouse keeps only its digest. */
const CLIENT_AUTH_SIGNING_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
/** The prompt values an authorization request may carry. */
const PROMPT_VALUES = ['none', 'login', 'consent'] as const;

/** Scopes about the person (OIDC Core §5.4) and what each releases. */
export const OIDC_CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name', 'updated_at'],
  email: ['email', 'email_verified'],
} as const;

export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];

/** oidc-provider's routes of the device flow's page: the code typed, and the return from sign-in and consent. */
const DEVICE_ROUTES = new Set(['code_verification', 'device_resume']);


export interface ConfigurationDependencies {
  config: Config;
  /** Where findAccount finds people (cached: src/people/cache.ts). */
  users: PersonLookup;
  resources: ResourceServerStore;
  pages: Pages;
  /** Which app this browser has just signed out of: the only one the signed-out page names. */
  signedOut: SignedOutApps;
  adapter: Configuration['adapter'];
  jwks: { keys: Record<string, unknown>[] };
  /**
   * The newest live grant of this person for this app, to remember consent across sessions: the
   * payload the Grant adapter's find would return for it, read in the same round trip.
   */
  findLatestGrant(accountId: string, clientId: string): Promise<AdapterPayload | undefined>;
  /** How long a session saved now may last, given the idle lifetime (OidcRecords.sessionTtl). */
  sessionTtl(session: { accountId?: unknown }, idleSeconds: number): number;
}

type GrantInstance = InstanceType<KoaContextWithOIDC['oidc']['provider']['Grant']>;

/** What `remembered` allows, on a fresh grant, through oidc-provider's public Grant methods. */
function copyOfGrant(copy: GrantInstance, remembered: GrantInstance): GrantInstance {
  const scope = remembered.getOIDCScope();
  if (scope) copy.addOIDCScope(scope);
  const claims = remembered.getOIDCClaims();
  if (claims.length) copy.addOIDCClaims(claims);
  for (const indicator of Object.keys(remembered.resources ?? {})) {
    const resourceScope = remembered.getResourceScope(indicator);
    if (resourceScope) copy.addResourceScope(indicator, resourceScope);
  }
  return copy;
}

/** The sign-in behind a token being issued: the authorization code or refresh token exchanged. */
function signInBehind(ctx: KoaContextWithOIDC): { acr?: string; amr?: string[]; authTime?: number } | undefined {
  const { AuthorizationCode, RefreshToken } = ctx.oidc.entities as { AuthorizationCode?: unknown; RefreshToken?: unknown };
  return (AuthorizationCode ?? RefreshToken) as { acr?: string; amr?: string[]; authTime?: number } | undefined;
}

/** An admin client registered for the admin scope (`gatehouse client create --admin`). */
function isAdminClient(client: unknown): boolean {
  return (client as Record<string, unknown> | undefined)?.[ADMIN_METADATA] === true && apiScopesOf(client).has(ADMIN_SCOPE);
}

function requestedScopes(ctx: KoaContextWithOIDC): string[] {
  const scope = ctx.oidc.params?.scope;
  return typeof scope === 'string' ? scope.split(' ') : [];
}

/**
 * Gatehouse's own pages ask nothing of the person beyond signing in: their grant covers `openid`
 * only, carries no token, and is never shown as a connected app.
 */
async function accountPagesGrant(ctx: KoaContextWithOIDC): Promise<GrantInstance | undefined> {
  const { Grant } = ctx.oidc.provider;
  const session = ctx.oidc.session!;
  if (!session.accountId) return undefined;
  const existingId = sessionGrantIdFor(session, ACCOUNT_CLIENT_ID);
  const existing = existingId ? await Grant.find(existingId) : undefined;
  if (existing && existing.accountId === session.accountId) return existing;
  const grant = new Grant({ accountId: session.accountId, clientId: ACCOUNT_CLIENT_ID });
  grant.addOIDCScope('openid');
  await grant.save();
  return grant;
}

/**
 * How a token for the admin API may come about: at the authorization endpoint (no grant_type) and
 * from its code and refresh tokens for an admin person, by client_credentials for the admin client.
 */
const ADMIN_API_GRANTS = new Set(['authorization', 'authorization_code', 'refresh_token', 'client_credentials']);

/**
 * The person an admin API token would act for, while they are an administrator: signed in here,
 * or named by the code or refresh token being exchanged. Before anyone has signed in there is no
 * one to ask about yet (true); the resume after sign-in asks again. The admin API checks again at
 * every call, so one who stops being an administrator loses the tokens they hold.
 */
async function adminPersonStands(users: PersonLookup, ctx: KoaContextWithOIDC): Promise<boolean> {
  const { session, entities } = ctx.oidc;
  const accountId = session?.accountId ?? entities.AuthorizationCode?.accountId ?? entities.RefreshToken?.accountId;
  if (!accountId) return true;
  const person = await users.findById(accountId);
  return person !== undefined && person.isAdmin && isUsable(person);
}

/** The login prompt's reason when only the level is missing: the sign-in pages step the person up. */
export const ACR_UNMET = 'acr_unmet';

/**
 * oidc-provider's prompts, plus one: a session naming a person who is gone or disabled is no sign-in.
 * Gatehouse's own acts end such sessions (src/admin), but a person disabled or deleted in SQL
 * still has theirs; without this, the consent check would meet a session with no account.
 */
function signInPolicy(rules: LevelRules): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(new interactionPolicy.Check('account_unavailable', 'End-User authentication is required', (ctx) => {
    return ctx.oidc.session?.accountId && !ctx.oidc.account ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  }), 1);
  // Levels are ordered (src/factors/levels.ts): a two-factor session meets a one-factor request,
  // where oidc-provider's own acr checks want the very value asked for. One check replaces them,
  // and covers acr_values, the claims parameter's acr and the app's own minimum alike; the sign-in
  // pages then ask only for what is missing (src/interaction/routes.ts).
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');
  login.checks.add(new interactionPolicy.Check(ACR_UNMET, 'the requested authentication level was not reached', (ctx) => {
    if (!ctx.oidc.session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const required = requiredLevel(ctx.oidc.params ?? {}, ctx.oidc.client, rules);
    return satisfies(ctx.oidc.session.acr, required) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
  }));
  return policy;
}

/** The name of the browser's sign-in session cookie (oidc-provider's `session`), for the issuer's scheme. */
export function sessionCookieName(issuer: string): string {
  // Over TLS, __Host- (Secure, this host, Path=/) stops a subdomain or a plain-http page from planting it.
  return `${issuer.startsWith('https://') ? '__Host-' : ''}gh_session`;
}

export function providerConfiguration(deps: ConfigurationDependencies): Configuration {
  const { config, users, resources, pages } = deps;
  const tls = config.issuer.startsWith('https://');
  // Over TLS, cookie prefixes stop a subdomain or a plain-http page from planting them: __Host-
  // for the session (sessionCookieName); __Secure- for the interaction and resume cookies,
  // which oidc-provider scopes to /interaction/<uid> and /auth/<uid> — a path __Host- forbids.
  const securePrefix = tls ? '__Secure-' : '';
  const userinfoAud = userinfoAudience(config.issuer);
  const adminAud = adminApiAudience(config.issuer);

  return {
    adapter: deps.adapter,
    jwks: deps.jwks as Configuration['jwks'],
    clients: [],
    extraClientMetadata: { properties: [API_SCOPE_METADATA, RESOURCE_METADATA, ADMIN_METADATA, PREVIOUS_SECRET_METADATA, REQUIRE_ACR_METADATA] },

    // acr and amr ride in every ID token (RFC 8176): an app learns how the person signed in
    // without having to ask. oidc-provider includes a sign-in claim only when a scope names it.
    claims: { ...OIDC_CLAIMS, openid: [...OIDC_CLAIMS.openid, 'acr', 'amr'] } as unknown as Configuration['claims'],
    acrValues: [...ACR_VALUES],
    scopes: OIDC_SCOPES,

    async findAccount(_ctx, sub) {
      const user = await users.findById(sub);
      // A disabled person's tokens stop working at userinfo and refresh at once; a person whose
      // invitation or sign-up is still pending gets none (no code is exchanged for them either).
      if (!user || !isUsable(user)) return undefined;
      return {
        accountId: user.id,
        async claims() {
          return standardClaims(user) as { sub: string };
        },
      };
    },

    cookies: {
      names: {
        session: sessionCookieName(config.issuer),
        interaction: `${securePrefix}gh_interaction`,
        resume: `${securePrefix}gh_resume`,
      },
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
      keys: config.secrets.cookieKeys,
    },

    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    } as Omit<ClientMetadata, 'client_id'> as ClientMetadata,

    // Only the authorization-code flow: no implicit or hybrid response types. `none` serves only
    // Gatehouse's own account pages (account-sign-in.ts); a registered app is always given `code`,
    // and discovery advertises only that (discovery.ts).
    responseTypes: ['code', 'none'],
    pkce: { required: () => true },

    clientAuthMethods: [...CLIENT_AUTH_METHODS],
    // The issuer identifier is the one audience a client assertion may name (src/oidc/policies/client-assertions.ts).
    assertJwtClientAuthClaimsAndHeader: clientAssertionAudience({
      issuer: config.issuer,
      acceptEndpointUrls: config.clientAssertionEndpointAudience,
    }),
    enabledJWA: {
      // DPoP proofs: what openid-client and WebCrypto make; asymmetric only (src/dpop/proofs.ts).
      dPoPSigningAlgValues: DPOP_ALGORITHMS,
      clientAuthSigningAlgValues: [...CLIENT_AUTH_SIGNING_ALGS],
      // Every app's ID tokens are RS256 (src/oidc/models/client.ts): the one algorithm every relying party has.
      idTokenSigningAlgValues: ['RS256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
      // Request objects (RFC 9101) by the app's registered keys; Ed25519 is what openid-client names EdDSA keys' signatures.
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'],
    },

    features: {
      devInteractions: { enabled: false },
      // RFC 9449 sender-constrained tokens: a proof at the token endpoint binds the access token
      // (cnf.jkt) and a public client's refresh token to the key. Userinfo checks proofs through
      // the JWT's cnf (src/tokens/jwt-access-tokens.ts), the admin API through src/dpop/. Nonces
      // are derived from KEY_ENCRYPTION_KEY, so every instance hands out and accepts the same ones;
      // proof jtis are remembered in the database (src/oidc/models/replay-detection.ts).
      dPoP: {
        enabled: true,
        nonceSecret: dpopNonceSecret(config.secrets.keyEncryptionKey),
        requireNonce: () => config.dpopRequireNonce,
        allowReplay: false,
      },
      // RFC 9126. REQUIRE_PAR is applied to every registered app's metadata (src/oidc/models/
      // client.ts) rather than here, where it would also hold Gatehouse's own account pages, which
      // start their sign-in with a plain redirect; discovery says so below.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      // RFC 9101 request objects, signed by the app's registered keys (`alg: none` is not among
      // requestObjectSigningAlgValues, so an unsigned one is refused), by value or pushed.
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      clientCredentials: { enabled: true },
      claimsParameter: { enabled: true, assertClaimsParameter: (_ctx, claims, client) => assertRegisteredClaims(claims, client, OIDC_CLAIMS) },
      // RFC 7662 for every token Gatehouse issues, JWT access tokens included (src/tokens/structured-tokens.ts).
      introspection: { enabled: true, allowedPolicy: mayIntrospect },
      // RFC 9701 signed responses for APIs registered for them.
      jwtIntrospection: { enabled: true },
      revocation: { enabled: true, allowedPolicy: mayRevoke },
      userinfo: { enabled: true },
      // OpenID Connect Back-Channel Logout 1.0: apps register backchannel_logout_uri, ID tokens
      // carry sid, and discovery says so. oidc-provider would POST the tokens itself during
      // /session/end, once and without retries; src/oidc/provider.ts sends them through the outbox
      // instead, with every other sign-out's (src/logout/).
      backchannelLogout: { enabled: true },
      // RFC 8628 for apps that opted in (DEVICE_CODE_GRANT): user codes of 8 letters from a 20-letter
      // alphabet without vowels (no words, no 0/O or 1/I to confuse), shown as BCDF-GHJK and typed in
      // any case, with or without the dash. Guessing at /device is throttled and polling too fast
      // answered slow_down (src/device/).
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: (ctx, form, _out, error) => pages.deviceCodeEntry(ctx, deviceFormToken(form), error),
        userCodeConfirmSource: (ctx, form, client, _deviceInfo, userCode) => pages.deviceConfirm(ctx, deviceFormToken(form), client, userCode),
        successSource: (ctx) => pages.deviceApproved(ctx),
      },
      // RFC 7591/7592: apps register themselves with an operator's initial access token (unless
      // OPEN_REGISTRATION), held to the policy in src/registration/ (its gate checks token and
      // metadata before oidc-provider does; its registrar writes the app like any other).
      registration: {
        enabled: true,
        initialAccessToken: !config.registration.open,
        idFactory: () => newClientId(),
        issueRegistrationAccessToken: true,
      },
      // Every update hands the app a new registration access token; the old one stops at once.
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => pages.logout(ctx, form),
        postLogoutSuccessSource: (ctx) => pages.loggedOut(ctx, deps.signedOut.signedOutOf(ctx)),
      },
      resourceIndicators: {
        enabled: true,
        // Apps that never send `resource` still get a JWT for the default API, when one is set
        // and the app is registered for some of its scopes; otherwise a userinfo-only token.
        async defaultResource(ctx, client, oneOf) {
          if (oneOf) return oneOf;
          // An automation client asking for the admin scope means the admin API.
          if (isAdminClient(client) && requestedScopes(ctx).includes(ADMIN_SCOPE)) return adminAud;
          const api = await resources.findDefault();
          const registered = apiScopesOf(client);
          const resolved = api && !api.disabledAt && api.scopes.some((scope) => registered.has(scope)) ? api.identifier : undefined;
          // A machine token that names no API carries nothing any API accepts: refuse to issue it.
          if (!resolved && isClientCredentials(ctx)) {
            throw new errors.InvalidScope('no API to issue these scopes for: name it with the resource parameter', requestedScopes(ctx).join(' '));
          }
          return resolved as string;
        },
        // The code and refresh token remember their API; the token request need not repeat it.
        useGrantedResource: () => true,
        async getResourceServerInfo(ctx, identifier, client) {
          if (identifier === adminAud) {
            // Not an API anyone registers: only admin clients, for themselves (client_credentials)
            // or for an admin who signs in through them (the code flow and its refresh tokens).
            // The admin API checks at every call that such a person is an admin, and, under
            // ADMIN_REQUIRE_SECOND_FACTOR, that they signed in with two factors: the sign-in asks
            // for them (src/factors/requirements.ts).
            const grantType = ctx.oidc.params?.grant_type;
            if (!isAdminClient(client) || !ADMIN_API_GRANTS.has(typeof grantType === 'string' ? grantType : 'authorization')) {
              throw new errors.InvalidTarget('the client may not use the admin API');
            }
            if (grantType === 'client_credentials') checkMachineScopes(ctx, [ADMIN_SCOPE], adminAud);
            else if (!(await adminPersonStands(users, ctx))) throw new errors.InvalidTarget('the admin API is for administrators');
            return {
              scope: ADMIN_SCOPE,
              audience: adminAud,
              accessTokenTTL: Math.min(ADMIN_ACCESS_TOKEN_TTL_SECONDS, config.ttl.clientCredentials),
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'ES256' } },
            };
          }
          const api = await resources.find(identifier);
          // A disabled API is as good as unknown: no new token names it. Unknown, disabled and
          // not this client's read alike, so the refusals list no operator's APIs.
          const refused = () => new errors.InvalidTarget(`this client may not use resource ${identifier}`);
          if (!api || api.disabledAt) throw refused();
          // An app gets only the API scopes it was registered for, and no token at all for an
          // API it has no scope of: an audience is a promise to that API (RFC 9700 §2.3).
          const registered = apiScopesOf(client);
          const scopes = api.scopes.filter((scope) => registered.has(scope));
          if (scopes.length === 0) throw refused();
          if (isClientCredentials(ctx)) checkMachineScopes(ctx, scopes, api.identifier);
          // OIDC scopes ride along on tokens for a person so the same JWT can call userinfo (see
          // the jwt customizer); a machine token has no person behind it.
          if (ctx.oidc.params?.grant_type !== 'client_credentials') scopes.push('openid', 'profile', 'email');
          return {
            scope: scopes.join(' '),
            audience: api.identifier,
            accessTokenTTL: api.accessTokenTtl ?? config.ttl.accessToken,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },

    formats: {
      customizers: {
        // RFC 9068 tokens carry the grant they came from (so the server can tell whether it still
        // stands), and name userinfo as an audience when they carry `openid`, so an app that never
        // heard of resource indicators can call userinfo with the token it got.
        async jwt(ctx, token, jwt) {
          const grantId = (token as { grantId?: string }).grantId;
          if (grantId) jwt.payload[GRANT_ID_CLAIM] = grantId;
          // A token made by token exchange names its actor chain and the app its grant was given to.
          Object.assign(jwt.payload, exchangeClaimsOf(token));
          // RFC 9068 §2.2.1: how and when the person signed in, from the code or refresh token the
          // access token is issued for (both carry the sign-in's acr, amr and auth_time).
          const source = signInBehind(ctx);
          if (grantId && source) {
            if (source.acr) jwt.payload.acr = source.acr;
            if (source.amr?.length) jwt.payload.amr = source.amr;
            if (source.authTime) jwt.payload.auth_time = source.authTime;
          }
          // A claims request for userinfo (OIDC Core §5.5) holds for the JWT as for an opaque token.
          const userinfoClaims = claimsRequestBehind(ctx)?.userinfo;
          if (grantId && userinfoClaims && Object.keys(userinfoClaims).length) jwt.payload[USERINFO_CLAIMS_CLAIM] = userinfoClaims;
          const scope = typeof jwt.payload.scope === 'string' ? jwt.payload.scope.split(' ') : [];
          if (scope.includes('openid') && typeof jwt.payload.aud === 'string') {
            jwt.payload.aud = [jwt.payload.aud, userinfoAud];
          }
        },
      },
    },

    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { Grant } = ctx.oidc.provider;
      const clientId = ctx.oidc.client!.clientId;
      if (clientId === ACCOUNT_CLIENT_ID) return accountPagesGrant(ctx);
      const fromResult = (ctx.oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId;
      // A device is approved only by consent given for it, now: a code someone else sent the
      // person (RFC 8628 §5.4, remote phishing) must never ride on consent remembered for the app.
      if (DEVICE_ROUTES.has(ctx.oidc.route)) {
        const grant = fromResult ? await Grant.find(fromResult) : undefined;
        return grant && grant.accountId === ctx.oidc.session!.accountId && grant.clientId === clientId ? grant : undefined;
      }
      const fromSession = sessionGrantIdFor(ctx.oidc.session!, clientId);
      const accountId = ctx.oidc.session!.accountId;
      const ownGrantId = fromResult ?? fromSession;
      if (ownGrantId) {
        const grant = await Grant.find(ownGrantId);
        // A grant is only reused for the same person and app it was given by.
        return grant && grant.accountId === accountId && grant.clientId === clientId ? grant : undefined;
      }
      if (!accountId) return undefined;
      // Consent given in another session is remembered, but this session gets a grant of its own
      // with the same scopes: signing out elsewhere revokes that session's grant, not this one.
      // The grant comes with its payload (one round trip, not an id and then Grant.find), built
      // as Grant.find builds what its adapter found (grantFromStored). Grant.find's own exp
      // check allows 15 s of clock tolerance, so it never refuses a row the query found unexpired.
      const stored = await deps.findLatestGrant(accountId, clientId);
      const remembered = stored ? grantFromStored(Grant, stored) : undefined;
      if (!remembered || remembered.accountId !== accountId || remembered.clientId !== clientId) return undefined;
      const copy = copyOfGrant(new Grant({ accountId, clientId }), remembered);
      // The copy ends when the consent it copies does: GRANT_TTL is how long consent is remembered
      // from when it was given. Saved with a fresh GRANT_TTL, consent given once lived for ever as
      // long as the person signed in from a new browser now and then.
      if (remembered.exp) copy.exp = remembered.exp;
      await copy.save(); // oidc-provider records the grant's id in the session right after this
      return copy;
    },

    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: signInPolicy({ adminSecondFactor: config.adminSecondFactor }),
    },

    // Revoking any token of a grant revokes the grant (RFC 7009 §2.1 allows it): oidc-provider's
    // default keeps the grant when an access token is revoked, which leaves the grant's other JWT
    // access tokens active while its refresh token dies. A token an API got by token exchange is
    // revoked alone: the API holding it may not end the person's grant to the app.
    revokeGrantPolicy: (ctx) => !isExchanged(accessTokenBeingRevoked(ctx)),

    // Refresh tokens rotate on every use; a reused one revokes the grant (oidc-provider's reuse
    // detection, made race-free by the adapter's atomic consume). A retry forgiven within the
    // window rotates nothing: it gets the successor it lost back (src/tokens/refresh-retry.ts).
    rotateRefreshToken: (ctx) => !isForgivenRetry(ctx),

    // Only allow CORS from origins an app registered as a redirect URI (browser apps calling the
    // token endpoint); never from anywhere else.
    clientBasedCORS(_ctx, origin, client) {
      return (client.redirectUris ?? []).some((uri) => {
        try {
          return new URL(uri).origin === origin;
        } catch {
          return false;
        }
      });
    },

    renderError: (ctx, out, error) => pages.oidcError(ctx, out, error),

    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.clientCredentials,
      AuthorizationCode: config.ttl.authorizationCode,
      // RFC 8628 §3.2's example: ten minutes to walk to another screen and type the code.
      DeviceCode: DEVICE_CODE_TTL_SECONDS,
      IdToken: config.ttl.idToken,
      Interaction: config.ttl.interaction,
      // SESSION_TTL from each use, but never past SESSION_MAX_LIFETIME from the first sign-in: a
      // session kept alive by use (a copied cookie's included) still ends. oidc-provider saves
      // the session, asking this again, at the end of every request that used it.
      Session: (_ctx, session) => deps.sessionTtl(session, config.ttl.session),
      Grant: config.ttl.grant,
      RefreshToken(ctx, _token, client) {
        // Public clients cannot keep a secret: their refresh tokens never outlive the first one
        // (rotation does not extend them), DPoP-bound or not, as README and SECURITY.md promise:
        // oidc-provider's default lets a bound one slide, and whoever can use the page's key (a
        // script injected into a browser app) would keep offline access for the grant's lifetime.
        // Confidential clients get a sliding lifetime.
        const rotated = rotatedRefreshToken(ctx);
        if (rotated && client.clientAuthMethod === 'none') {
          return rotated.remainingTTL;
        }
        return config.ttl.refreshToken;
      },
    },

    discovery: {
      claim_types_supported: ['normal'],
      // Introspection and revocation authenticate clients as the token endpoint does; RFC 8414 §2
      // reads a missing list as client_secret_basic alone, which would turn away every other app.
      introspection_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
      introspection_endpoint_auth_signing_alg_values_supported: [...CLIENT_AUTH_SIGNING_ALGS],
      revocation_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
      revocation_endpoint_auth_signing_alg_values_supported: [...CLIENT_AUTH_SIGNING_ALGS],
      // What the sign-in pages honour (OpenID Connect Prompt Create 1.0 §4.1 names the member);
      // select_account and create are refused as unsupported.
      prompt_values_supported: [...PROMPT_VALUES],
      ...(config.requirePar ? { require_pushed_authorization_requests: true } : {}),
      service_documentation: undefined,
      // The languages of the sign-in and consent pages, exactly the catalogs in locales/ (src/i18n/):
      // an app's ui_locales picks one of them.
      ui_locales_supported: [...LOCALES],
    },
  };
}
