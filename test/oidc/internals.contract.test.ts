// The contract between Gatehouse and the oidc-provider it pins: one check per reliance in
// src/oidc/internals.ts, each against the installed oidc-provider — a real Provider, mounted as
// src/app.ts mounts it, over real HTTP, its storage a recording in-memory adapter so the order of
// its calls can be read. A failure names the reliance and the oidc-provider file it was read from:
// after an upgrade, re-read that file and change the export (see the top of internals.ts).
//
// Tests that pin the same reliances through Gatehouse as a whole stay where they are:
// test/oidc/refresh-rotation.test.ts (consume before save), test/oidc/token-errors.test.ts
// (unauthorized_client), test/security/attacks/path-spellings.test.ts (canonical paths),
// test/security/attacks/client-assertions.test.ts (replay detection),
// test/security/attacks/loopback-redirects.test.ts (redirect URI matching) and
// test/e2e/introspection.test.ts (JWT handles).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import Koa, { type Middleware } from 'koa';
import mount from 'koa-mount';
import { errors, Provider, type Adapter, type AdapterPayload, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTokenEndpointForm } from '../../src/http/provider-form.js';
import { proof, proofKey } from '../support/dpop.js';
import {
  accessTokenBeingRevoked, accessTokenFor, basicAuthorization, CODE_GRANT_ADAPTER_CALLS, codeExchangeRequest, bindToProofKey, dpopProofOf, requireProofIfRegistered, basicAuthorizationClientId, currentRequest, deviceFormToken, discoveryDocument, normalizeUserCode, DISCOVERY_PATHS, errorDetailOf, FIND_TOKEN_MODELS,
  GRANTABLE_MODELS, grantFromStored, INTERACTION_OWN_ID_FIELD, INTERACTION_SESSION_COOKIE_FIELD, isReuseDetail, isStructuredToken, JWT_HANDLE_PREFIX, JWT_REVOCATION_HANDLE_PREFIX, pageSession,
  PINNED_OIDC_PROVIDER_VERSION, presentedRefreshToken, PROVIDER_BODY_LIMIT, PROVIDER_BODY_LIMIT_BYTES, PROVIDER_ROUTES,
  PROVIDER_ROUTES_WITH_A_PARAMETER, providerContextOf, refreshGrantRequest, REFRESH_GRANT_ADAPTER_CALLS, SESSION_BINDING, SESSION_START_FIELD,
  readOnlyClientMetadata, rememberClientsByMetadata, replaceClientMethods, REPLAY_DETECTION_ADAPTER_CALLS, REPLAY_REFUSED_DETAIL, requestState, RESUME_PATH, rotatedRefreshToken,
  routerFold, sessionGrantIdFor, tokenSourceOf, UNREGISTERED_TYPE_ERROR, type StoredGrantPayload, type StoredSessionPayload,
} from '../../src/oidc/internals.js';

const ISSUER = 'http://op.example.test';
const REDIRECT_URI = 'https://app.example.test/callback';
const LOGOUT_URI = 'https://app.example.test/signed-out';
const SECRET = 'app-secret';
const COOKIE_KEYS = ['contract-test-cookie-key'];
/** RFC 6749 §2.3.1 form-urlencodes the id before base64: every character that changes shape there. */
const AWKWARD_CLIENT_ID = 'a b+c:d%';
/** A secret with what form-encoding changes and a colon, which only the first one splits from the id. */
const AWKWARD_SECRET = 'p q+r:s%t';

const providerRoot = createRequire(import.meta.url).resolve('oidc-provider/package.json').replace(/package\.json$/, '');
const providerSource = (file: string) => readFileSync(`${providerRoot}lib/${file}`, 'utf8');

// ---- storage that remembers every call, and the request it was made under ----

interface AdapterCall {
  model: string;
  method: 'find' | 'findByUid' | 'upsert' | 'consume' | 'destroy' | 'revokeByGrantId';
  id: string;
  request: KoaContextWithOIDC | undefined;
  /** What refreshGrantRequest() said during the call. */
  refreshGrant: boolean;
  /** What codeExchangeRequest() said during the call. */
  codeExchange: boolean;
}

const calls: AdapterCall[] = [];
const records = new Map<string, AdapterPayload>();
/** Models whose upsert fails as a database outage would (a server_error oidc-provider meets). */
const failingUpserts = new Set<string>();

class RecordingAdapter implements Adapter {
  constructor(private readonly model: string) {}

  #note(method: AdapterCall['method'], id: string): string {
    calls.push({ model: this.model, method, id, request: currentRequest(), refreshGrant: refreshGrantRequest() !== undefined, codeExchange: codeExchangeRequest() !== undefined });
    return `${this.model} ${id}`;
  }

  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    const key = this.#note('upsert', id);
    if (failingUpserts.has(this.model)) throw new Error('storage unavailable');
    records.set(key, structuredClone(payload));
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const found = records.get(this.#note('find', id));
    return found && structuredClone(found);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    this.#note('findByUid', uid);
    for (const [key, payload] of records) if (key.startsWith(`${this.model} `) && payload.uid === uid) return structuredClone(payload);
    return undefined;
  }

  async findByUserCode(): Promise<undefined> { return undefined; }

  async consume(id: string): Promise<void> {
    const found = records.get(this.#note('consume', id));
    if (found) found.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    records.delete(this.#note('destroy', id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.#note('revokeByGrantId', grantId);
    for (const [key, payload] of records) if (key.startsWith(`${this.model} `) && payload.grantId === grantId) records.delete(key);
  }
}

/** The calls made while `work` ran. */
async function callsDuring(work: () => Promise<unknown>): Promise<AdapterCall[]> {
  const from = calls.length;
  await work();
  return calls.slice(from);
}

// ---- a provider configured as Gatehouse configures the parts these checks touch ----

/** What the configuration's hooks saw of the request, by hook. */
const seen = {
  rotatedTtl: [] as Array<{ remainingTTL: number } | undefined>,
  rotatedId: [] as Array<string | undefined>,
  tokenSources: [] as Array<ReturnType<typeof tokenSourceOf>>,
  useCtx: [] as KoaContextWithOIDC[],
  revoking: [] as Array<ReturnType<typeof accessTokenBeingRevoked>>,
};

let signingJwk: Record<string, unknown>;
let assertionKey: CryptoKey;
let assertionJwk: Record<string, unknown>;

function clients(): ClientMetadata[] {
  const secretClient = (clientId: string, grantTypes: string[], responseTypes: string[] = [], secret = SECRET) => ({
    client_id: clientId, client_secret: secret, grant_types: grantTypes, response_types: responseTypes,
    redirect_uris: responseTypes.length ? [REDIRECT_URI] : [], post_logout_redirect_uris: responseTypes.length ? [LOGOUT_URI] : [],
  }) as ClientMetadata;
  return [
    secretClient('app', ['authorization_code', 'refresh_token'], ['code']),
    secretClient('machine', ['client_credentials']),
    secretClient(AWKWARD_CLIENT_ID, ['client_credentials']),
    secretClient('awkward-secret', ['client_credentials'], [], AWKWARD_SECRET),
    { client_id: 'signer', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [assertionJwk] }, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] } as unknown as ClientMetadata,
  ];
}

function configuration(): Configuration {
  return {
    adapter: RecordingAdapter,
    clients: clients(),
    jwks: { keys: [signingJwk] } as Configuration['jwks'],
    cookies: { keys: COOKIE_KEYS, long: { httpOnly: true, sameSite: 'lax', signed: true }, short: { httpOnly: true, sameSite: 'lax', signed: true } },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    scopes: ['openid', 'offline_access'],
    responseTypes: ['code', 'none'],
    pkce: { required: () => false },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: { clientAuthSigningAlgValues: ['ES256'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
    },
    rotateRefreshToken: true,
    // oidc-provider's default policy, recording what accessTokenBeingRevoked sees when it is asked.
    revokeGrantPolicy(ctx) {
      seen.revoking.push(accessTokenBeingRevoked(ctx));
      return !(ctx.oidc.route === 'revocation' && ctx.oidc.entities.AccessToken);
    },
    extraTokenClaims(ctx) {
      if (ctx) seen.tokenSources.push(tokenSourceOf(ctx));
      return undefined;
    },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
    ttl: {
      AccessToken: 600, AuthorizationCode: 60, ClientCredentials: 600, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600,
      RefreshToken(ctx) {
        if (ctx) {
          seen.rotatedTtl.push(rotatedRefreshToken(ctx));
          seen.rotatedId.push((rotatedRefreshToken(ctx) as { jti?: string } | undefined)?.jti);
        }
        return 3600;
      },
    },
  };
}

interface Running {
  provider: Provider;
  url: string;
  close(): Promise<void>;
}

/** The provider mounted as src/app.ts mounts it, with `around` in front of it. */
async function startProvider(options: { around?: Middleware[]; configure?: (provider: Provider) => void; overrides?: (base: Configuration) => Configuration } = {}): Promise<Running> {
  const provider = new Provider(ISSUER, options.overrides ? options.overrides(configuration()) : configuration());
  options.configure?.(provider);
  provider.use(async (ctx, next) => {
    seen.useCtx.push(ctx as unknown as KoaContextWithOIDC);
    await next();
  });
  // The 500s some checks provoke are the point; Koa need not print them.
  const app = new Koa({ keys: COOKIE_KEYS });
  app.silent = true;
  for (const middleware of options.around ?? []) app.use(middleware);
  app.use(mount(provider as unknown as Koa));
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    provider,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A provider session for a person, and the Cookie header that carries it, signed with the provider's cookie keys. */
async function signIn(): Promise<{ cookie: string; sessionId: string }> {
  const session = new running.provider.Session();
  session.loginAccount({ accountId: 'person' });
  await session.save(3600);
  around = async (ctx, next) => {
    if (ctx.path !== '/test-sign-in') return next();
    ctx.cookies.set(running.provider.cookieName('session'), session.jti, { signed: true, httpOnly: true });
    ctx.status = 204;
  };
  try {
    const res = await fetch(`${running.url}/test-sign-in`);
    return { cookie: res.headers.getSetCookie().map((header) => header.split(';')[0]).join('; '), sessionId: session.jti };
  } finally {
    around = undefined;
  }
}

function basic(clientId: string, secret = SECRET): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

async function post(target: Running, path: string, params: Record<string, string>, authorization?: string) {
  const res = await fetch(`${target.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    body: new URLSearchParams(params),
  });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as Record<string, unknown> };
}

/** A grant and a refresh token of it, saved through the provider's own models. */
async function seedRefreshToken(provider: Provider, claims?: Record<string, unknown>) {
  const client = (await provider.Client.find('app'))!;
  const grant = new provider.Grant({ accountId: 'person', clientId: 'app' });
  grant.addOIDCScope('openid offline_access');
  const grantId = await grant.save();
  const token = new provider.RefreshToken({ accountId: 'person', client, grantId, scope: 'openid offline_access', gty: 'authorization_code', ...(claims ? { claims } : {}) });
  return { grantId, value: await token.save() };
}

async function seedCode(provider: Provider, claims: Record<string, unknown>) {
  const client = (await provider.Client.find('app'))!;
  const grant = new provider.Grant({ accountId: 'person', clientId: 'app' });
  grant.addOIDCScope('openid');
  const grantId = await grant.save();
  const code = new provider.AuthorizationCode({ accountId: 'person', client, grantId, scope: 'openid', redirectUri: REDIRECT_URI, claims } as never);
  return code.save();
}

let running: Running;
let around: Middleware | undefined;
/** What middleware around the mounted provider saw after it answered, by request id. */
const afterward = new Map<string, { route?: string; clientId?: string; grantTypeAllowed?: boolean; state?: Record<string, unknown>; discovery?: Record<string, unknown> }>();

beforeAll(async () => {
  const signing = await generateKeyPair('RS256', { extractable: true });
  signingJwk = { ...(await exportJWK(signing.privateKey)), alg: 'RS256', use: 'sig', kid: 'contract' };
  const assertion = await generateKeyPair('ES256', { extractable: true });
  assertionKey = assertion.privateKey;
  assertionJwk = { ...(await exportJWK(assertion.publicKey)), alg: 'ES256', use: 'sig' };
  running = await startProvider({
    around: [async (ctx, next) => {
      const requestId = ctx.get('x-request-id');
      ctx.state.requestId = requestId;
      await (around ? around(ctx, next) : next());
      if (!requestId) return;
      const oidc = providerContextOf(ctx);
      afterward.set(requestId, {
        route: oidc?.route,
        clientId: oidc?.client?.clientId,
        grantTypeAllowed: oidc?.client && typeof oidc.params?.grant_type === 'string' ? oidc.client.grantTypeAllowed(oidc.params.grant_type) : undefined,
        state: requestState(ctx),
        discovery: DISCOVERY_PATHS.includes(ctx.path) ? discoveryDocument(ctx) : undefined,
      });
    }],
  });
});

afterAll(async () => {
  await running?.close();
});

describe('oidc-provider as pinned', () => {
  it('is the version src/oidc/internals.ts was checked against, and the one package.json pins', () => {
    const installed = JSON.parse(readFileSync(`${providerRoot}package.json`, 'utf8')) as { version: string };
    const pinned = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(pinned.dependencies['oidc-provider'], 'package.json must pin oidc-provider exactly, to the version internals.ts names').toBe(PINNED_OIDC_PROVIDER_VERSION);
    expect(installed.version, `node_modules has oidc-provider ${installed.version}: run this file's checks, then update PINNED_OIDC_PROVIDER_VERSION (top of src/oidc/internals.ts)`).toBe(PINNED_OIDC_PROVIDER_VERSION);
  });
});

describe('the request being answered (internals/requests.ts)', () => {
  it('currentRequest: Provider.ctx is, inside a storage call, the very ctx provider.use middleware gets', async () => {
    const during = await callsDuring(() => post(running, '/token', { grant_type: 'client_credentials' }, basic('machine')));
    const saved = during.find((call) => call.model === 'ClientCredentials' && call.method === 'upsert');
    expect(saved?.request, 'Provider.ctx (lib/helpers/als.js, entered by ensureOIDC in initialize_app.js) is no longer the request under an adapter call').toBeDefined();
    expect(seen.useCtx, 'Provider.ctx is no longer the ctx object provider.use middleware and hooks are given (refresh-retry.ts keys a WeakMap by it)').toContain(saved!.request);
    expect(currentRequest(), 'Provider.ctx answers outside any request').toBeUndefined();
  });

  it('refreshGrantRequest and presentedRefreshToken, and the refresh grant\'s adapter calls: find, consume, then upsert of the successor, in one request', async () => {
    const { grantId, value } = await seedRefreshToken(running.provider);
    let answer: Awaited<ReturnType<typeof post>> | undefined;
    const during = await callsDuring(async () => { answer = await post(running, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic('app')); });
    expect(answer?.status, `the refresh_token grant failed: ${JSON.stringify(answer?.body)}`).toBe(200);
    const refreshCalls = during.filter((call) => call.model === 'RefreshToken' || call.method === 'upsert' || call.method === 'consume' || call.method === 'destroy');
    expect(refreshCalls.map((call) => [call.model, call.method]), 'lib/actions/grants/refresh_token.js no longer finds, consumes, then saves the successor, then the access token, writing nothing else (src/oidc/models/refresh-token.ts)').toEqual(REFRESH_GRANT_ADAPTER_CALLS.map((call) => [...call]));
    const [found, consumed, saved, accessToken] = refreshCalls as [AdapterCall, AdapterCall, AdapterCall, AdapterCall];
    expect([found.id, consumed.id], 'the grant consumes another token than it found').toEqual([value, value]);
    expect(saved.id).toBe(answer!.body.refresh_token);
    expect(accessToken.id, 'the access token saved is not the one answered').toBe(answer!.body.access_token);
    expect(new Set(refreshCalls.map((call) => call.request)).size, 'the calls are no longer under one request').toBe(1);
    expect(seen.useCtx, 'the request is no longer the ctx provider.use middleware gets (held-issuance.ts writes the held rotation there)').toContain(consumed.request);
    expect(refreshCalls.map((call) => call.refreshGrant), 'refreshGrantRequest() (route token, grant_type refresh_token) no longer names this request').toEqual([true, true, true, true]);
    expect(seen.rotatedId.at(-1), 'rotatedRefreshToken: entities.RotatedRefreshToken is not the presented token when the successor\'s TTL is asked for').toBe(value);
    expect(typeof seen.rotatedTtl.at(-1)?.remainingTTL, 'rotatedRefreshToken: RotatedRefreshToken has no remainingTTL').toBe('number');
    expect(records.get(`RefreshToken ${saved.id}`)?.grantId, 'the successor belongs to another grant').toBe(grantId);
  });

  it('codeExchangeRequest, and the code grant\'s writes: consume the code, save the access token, save the refresh token, and nothing after', async () => {
    const client = (await running.provider.Client.find('app'))!;
    const grant = new running.provider.Grant({ accountId: 'person', clientId: 'app' });
    grant.addOIDCScope('openid offline_access');
    const grantId = await grant.save();
    const code = await new running.provider.AuthorizationCode({ accountId: 'person', client, grantId, scope: 'openid offline_access', redirectUri: REDIRECT_URI } as never).save();
    let answer: Awaited<ReturnType<typeof post>> | undefined;
    const during = await callsDuring(async () => { answer = await post(running, '/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, basic('app')); });
    expect(answer?.status, `the authorization_code grant failed: ${JSON.stringify(answer?.body)}`).toBe(200);
    const codeAndWrites = during.filter((call) => call.model === 'AuthorizationCode' || call.method === 'upsert' || call.method === 'consume' || call.method === 'destroy');
    expect(codeAndWrites.map((call) => [call.model, call.method]), 'lib/actions/grants/authorization_code.js and lib/helpers/grant_common.js (issueTokens) no longer find and consume the code, then save the access token, then the refresh token, writing nothing else (src/oidc/models/code-redemption.ts)').toEqual(CODE_GRANT_ADAPTER_CALLS.map((call) => [...call]));
    const [found, consumed, accessToken, refreshToken] = codeAndWrites as [AdapterCall, AdapterCall, AdapterCall, AdapterCall];
    expect([found.id, consumed.id], 'the grant consumes another code than it found').toEqual([code, code]);
    expect(records.get(`AccessToken ${accessToken.id}`)?.grantId, 'the access token saved belongs to another grant').toBe(grantId);
    expect(refreshToken.id).toBe(answer!.body.refresh_token);
    expect(new Set(codeAndWrites.map((call) => call.request)).size, 'the calls are no longer under one request').toBe(1);
    expect(seen.useCtx, 'the request is no longer the ctx provider.use middleware gets (code-redemption.ts writes what is held there)').toContain(consumed.request);
    expect(codeAndWrites.map((call) => call.codeExchange), 'codeExchangeRequest() (route token, grant_type authorization_code) no longer names this request').toEqual([true, true, true, true]);
    expect(during.filter((call) => call.refreshGrant), 'refreshGrantRequest() names a code exchange').toEqual([]);
  });

  it('presentedRefreshToken: the refresh grant names the presented token before it consumes it', async () => {
    const { grantId, value } = await seedRefreshToken(running.provider);
    let atConsume: { grantId?: string; jti?: string } | undefined;
    const original = RecordingAdapter.prototype.consume;
    RecordingAdapter.prototype.consume = async function consume(this: RecordingAdapter, id: string) {
      const request = refreshGrantRequest();
      if (request) atConsume = presentedRefreshToken(request) as { grantId?: string; jti?: string } | undefined;
      return original.call(this, id);
    };
    try {
      await post(running, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic('app'));
    } finally {
      RecordingAdapter.prototype.consume = original;
    }
    expect(atConsume, 'refreshGrantRequest() does not see the refresh grant at consume(), or entities.RefreshToken is not set yet (lib/actions/grants/refresh_token.js)').toBeDefined();
    expect(atConsume, 'entities.RefreshToken is not the presented token when the refresh grant consumes it').toMatchObject({ grantId, jti: value });
  });

  it('accessTokenBeingRevoked: the revocation endpoint names the access token it found before it asks revokeGrantPolicy', async () => {
    const client = (await running.provider.Client.find('app'))!;
    const grant = new running.provider.Grant({ accountId: 'person', clientId: 'app' });
    grant.addOIDCScope('openid');
    const grantId = await grant.save();
    const value = await new running.provider.AccessToken({ accountId: 'person', client, grantId, gty: 'authorization_code', scope: 'openid' }).save();
    const from = seen.revoking.length;
    const answer = await post(running, '/token/revocation', { token: value }, basic('app'));
    expect(answer.status).toBe(200);
    expect(seen.revoking.slice(from).map((token) => (token as { jti?: string } | undefined)?.jti), 'entities.AccessToken is not the revoked token when revokeGrantPolicy is asked (lib/actions/revocation.js, lib/helpers/revoke.js)').toEqual([value]);
  });

  it('accessTokenFor: Provider#ResourceServer on an AccessToken gives it the audience and the JWT format, and nothing is stored', async () => {
    const client = (await running.provider.Client.find('machine'))!;
    const token = accessTokenFor(running.provider, { client, accountId: 'person', grantId: 'grant', gty: 'urn:example:grant' }, 'https://api.example.test', {
      scope: 'read', audience: 'https://api.example.test', accessTokenTTL: 60, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
    });
    token.scope = 'read';
    let value = '';
    const during = await callsDuring(async () => { value = await token.save(); });
    expect(during.filter((call) => call.model === 'AccessToken'), 'a JWT access token is stored by its adapter (lib/models/base_model.js, save)').toEqual([]);
    const [header, payload] = value.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
    expect(header, 'accessTokenFormat jwt no longer makes an RFC 9068 JWT (lib/models/formats/index.js, jwt.js)').toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(payload, 'the resourceServer setter no longer sets the audience (lib/models/base_token.js)').toMatchObject({ aud: 'https://api.example.test', sub: 'person', client_id: 'machine', scope: 'read' });
    expect((token as unknown as { resourceServer?: { accessTokenTTL?: number } }).resourceServer?.accessTokenTTL, 'Provider#ResourceServer no longer keeps accessTokenTTL, which ttl.AccessToken reads (src/oidc/configuration.ts)').toBe(60);
  });

  it('SESSION_BINDING: a code that ends with its session stores these fields, and its exchange reads the session by uid after the code, before the grant', async () => {
    const { provider } = running;
    const client = (await provider.Client.find('app'))!;
    const grant = new provider.Grant({ accountId: 'person', clientId: 'app' });
    grant.addOIDCScope('openid');
    const grantId = await grant.save();
    const session = Object.assign(new provider.Session(), { accountId: 'person' });
    session.grantIdFor('app', grantId);
    await (session.save as unknown as (this: typeof session, ttl: number) => Promise<string>).call(session, 600);
    const code = await new provider.AuthorizationCode({
      accountId: 'person', client, grantId, scope: 'openid', redirectUri: REDIRECT_URI,
      [SESSION_BINDING.bound]: true, [SESSION_BINDING.sessionUid]: session.uid,
    } as never).save();
    expect(records.get(`AuthorizationCode ${code}`), 'lib/models/authorization_code.js no longer stores the session binding under these names (src/records/statements.ts, TOKEN_LOOKUP)').toMatchObject({ [SESSION_BINDING.bound]: true, [SESSION_BINDING.sessionUid]: session.uid });

    const during = await callsDuring(async () => {
      const redeemed = await post(running, '/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, basic('app'));
      expect(redeemed.status, JSON.stringify(redeemed.body)).toBe(200);
    });
    const reads = during.filter((call) => call.method === 'find' || call.method === 'findByUid').map((call) => `${call.model}.${call.method} ${call.id}`);
    expect(reads, 'the code exchange no longer reads the code, its session by uid, then its grant (src/oidc/models/authorization-code.ts answers the latter two from the code\'s lookup)').toEqual([
      `AuthorizationCode.find ${code}`, `Session.findByUid ${session.uid}`, `Grant.find ${grantId}`,
    ]);
  });

  it('tokenSourceOf: the redeemed code, or the rotated refresh token, with its claims request, while the access token is built', async () => {
    const claims = { userinfo: { email: null } };
    const code = await seedCode(running.provider, claims);
    const redeemed = await post(running, '/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, basic('app'));
    expect(redeemed.status, JSON.stringify(redeemed.body)).toBe(200);
    expect(seen.tokenSources.at(-1)?.claims, 'entities.AuthorizationCode (lib/actions/grants/authorization_code.js) no longer carries the claims request when the access token is built').toEqual(claims);

    const { value } = await seedRefreshToken(running.provider, claims);
    const refreshed = await post(running, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic('app'));
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(seen.tokenSources.at(-1)?.claims, 'entities.RotatedRefreshToken/RefreshToken no longer carry the claims request when the access token is built').toEqual(claims);
  });

  it('providerContextOf and requestState: ctx.oidc stays on our request after the mounted provider answered, and its events get our ctx', async () => {
    const requestId = randomUUID();
    const res = await fetch(`${running.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('machine'), 'x-request-id': requestId },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(res.status).toBe(200);
    expect(afterward.get(requestId), 'ctx.oidc (defined by ensureOIDC, lib/helpers/initialize_app.js) is gone from the request once the provider answered').toMatchObject({ route: 'token', clientId: 'machine' });

    const failedId = randomUUID();
    let eventState: Record<string, unknown> | undefined;
    const listener = (ctx: KoaContextWithOIDC) => { eventState = requestState(ctx as unknown as { state?: Record<string, unknown> }); };
    running.provider.on('server_error', listener);
    failingUpserts.add('ClientCredentials');
    try {
      const failed = await fetch(`${running.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('machine'), 'x-request-id': failedId },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      expect(failed.status).toBe(500);
    } finally {
      failingUpserts.delete('ClientCredentials');
      running.provider.off('server_error', listener);
    }
    expect(eventState?.requestId, 'the server_error event no longer gets our request\'s ctx (its state)').toBe(failedId);
    expect(afterward.get(failedId)?.state, 'the state the event saw is not our request\'s').toBe(eventState);
  });

  it('sessionGrantIdFor: Session#grantIdFor reads back the grant a session holds for an app', () => {
    const session = new running.provider.Session();
    session.grantIdFor('app', 'grant-1');
    expect(sessionGrantIdFor(session, 'app'), 'Session#grantIdFor (lib/models/session.js) no longer reads back what it set').toBe('grant-1');
    expect(sessionGrantIdFor(session, 'machine')).toBeUndefined();
  });

  it('grantFromStored: new Grant(payload) is the Grant that Grant.find builds from the same stored payload', async () => {
    const grant = new running.provider.Grant({ accountId: 'person', clientId: 'app' });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope('https://api.example.test', 'read');
    const grantId = await grant.save();
    const stored = records.get(`Grant ${grantId}`)!;
    const found = (await running.provider.Grant.find(grantId))!;
    const built = grantFromStored(running.provider.Grant, structuredClone(stored));
    const facts = (g: typeof found) => ({ jti: g.jti, accountId: g.accountId, clientId: g.clientId, oidc: g.getOIDCScope(), api: g.getResourceScope('https://api.example.test'), exp: g.exp });
    expect(facts(built), 'Grant.find no longer builds its Grant as new Grant(payload) (lib/models/base_model.js)').toEqual(facts(found));
  });

  it('pageSession: Session.get reads the session cookie on a request outside the provider\'s routes', async () => {
    const { cookie } = await signIn();
    around = async (ctx, next) => {
      if (ctx.path !== '/page') return next();
      const session = await pageSession(running.provider, ctx);
      ctx.body = { accountId: session.accountId ?? null, uid: typeof session.uid === 'string', loginTs: typeof session.loginTs === 'number' };
    };
    try {
      expect(await (await fetch(`${running.url}/page`)).json()).toEqual({ accountId: null, uid: true, loginTs: false });
      expect(await (await fetch(`${running.url}/page`, { headers: { cookie } })).json(), 'Session.get (lib/models/session.js) no longer finds the session by its cookie outside the provider\'s routes, with its sign-in time').toEqual({ accountId: 'person', uid: true, loginTs: true });
    } finally {
      around = undefined;
    }
  });
});

describe('how the provider reads requests and shapes answers (internals/wire.ts)', () => {
  it('PROVIDER_ROUTES: every route oidc-provider registers is listed, by name, or shares a listed path', () => {
    const source = providerSource('helpers/initialize_app.js');
    const registered = new Set([...source.matchAll(/\b(?:get|post|put|del|options)\('([a-z_.]+)'/g)].map((match) => match[1]!));
    expect(registered.size, 'no routes found in lib/helpers/initialize_app.js: read how it registers them now').toBeGreaterThan(10);
    const listed = new Set([...PROVIDER_ROUTES, ...PROVIDER_ROUTES_WITH_A_PARAMETER.map(([name]) => name)]);
    // cors.* share their route's path; client_update and client_delete share `client`'s; discovery
    // is DISCOVERY_PATHS; the dev interactions are off in Gatehouse, as is the credential issuer
    // metadata (a .well-known path of the off-by-default web credentials feature).
    const accounted = (name: string) => listed.has(name) || name.startsWith('cors.') || ['client_update', 'client_delete', 'discovery', 'interaction', 'submit', 'abort', 'openid_credential_issuer'].includes(name);
    expect([...registered].filter((name) => !accounted(name)), 'oidc-provider registers routes PROVIDER_ROUTES does not list: their other spellings get past src/http/canonical-paths.ts').toEqual([]);
    expect([...listed].filter((name) => !registered.has(name)), 'PROVIDER_ROUTES lists routes oidc-provider no longer registers').toEqual([]);
    for (const path of DISCOVERY_PATHS) expect(source, `oidc-provider no longer serves discovery at ${path}`).toContain(`'${path}'`);
  });

  it('routerFold: the router matches fixed segments in any ASCII case, with or without one trailing slash', async () => {
    for (const path of [...DISCOVERY_PATHS, ...DISCOVERY_PATHS.map((p) => `${p.toUpperCase()}/`)]) {
      const res = await fetch(`${running.url}${path}`);
      expect(res.status, `GET ${path} no longer reaches discovery (lib/helpers/router.js)`).toBe(200);
    }
    const variant = await post(running, '/TOKEN/', { grant_type: 'client_credentials' }, basic('machine'));
    expect(variant.status, 'POST /TOKEN/ no longer reaches the token endpoint').toBe(200);
    expect(routerFold('/Token/Introspection')).toBe(routerFold('/token/INTROSPECTION'));
  });

  it('basicAuthorizationClientId: decodes a Basic header\'s client id as oidc-provider does', async () => {
    const header = basic(AWKWARD_CLIENT_ID);
    expect(basicAuthorizationClientId(header)).toBe(AWKWARD_CLIENT_ID);
    const answer = await post(running, '/token', { grant_type: 'client_credentials' }, header);
    expect(answer.status, `oidc-provider (lib/shared/client_auth.js) no longer decodes this id as ${JSON.stringify(AWKWARD_CLIENT_ID)}: ${JSON.stringify(answer.body)}`).toBe(200);
    expect(basicAuthorizationClientId('Bearer abc')).toBeUndefined();
    expect(basicAuthorizationClientId(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toBeUndefined();
  });

  it('basicAuthorization: decodes a Basic header\'s secret as oidc-provider does (the poll endpoint authenticates with it)', async () => {
    const header = basic('awkward-secret', AWKWARD_SECRET);
    expect(basicAuthorization(header)).toEqual({ clientId: 'awkward-secret', secret: AWKWARD_SECRET });
    const answer = await post(running, '/token', { grant_type: 'client_credentials' }, header);
    expect(answer.status, `oidc-provider (lib/shared/client_auth.js) no longer decodes this secret as ${JSON.stringify(AWKWARD_SECRET)}: ${JSON.stringify(answer.body)}`).toBe(200);
    expect((await post(running, '/token', { grant_type: 'client_credentials' }, basic('awkward-secret', 'p q r:s%t'))).status, 'a secret differing only where the real one has a "+" is refused').toBe(401);
  });

  it('bodyProviderReads and PROVIDER_BODY_LIMIT: a body parsed in front of the provider is what it reads, within its own limit', async () => {
    around = async (ctx, next) => {
      if (ctx.path === '/token' && ctx.get('x-pre-parse')) {
        const body = await readTokenEndpointForm(ctx);
        if (body) body.grant_type = 'client_credentials';
      }
      return next();
    };
    try {
      const rewritten = await fetch(`${running.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('machine'), 'x-pre-parse': '1' },
        body: 'grant_type=not_a_grant',
      });
      expect(rewritten.status, 'oidc-provider no longer reads ctx.request.body when the stream was consumed (lib/shared/selective_body.js)').toBe(200);
    } finally {
      around = undefined;
    }
    expect(PROVIDER_BODY_LIMIT).toBe('56kb');
    const limit = 56 * 1024;
    expect(PROVIDER_BODY_LIMIT_BYTES).toBe(limit);
    const sized = (length: number) => {
      const start = 'grant_type=client_credentials&padding=';
      return start + 'x'.repeat(length - start.length);
    };
    const at = await fetch(`${running.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('machine') }, body: sized(limit) });
    expect(at.status, 'oidc-provider refuses a body of exactly 56 KiB').toBe(200);
    const over = await fetch(`${running.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('machine') }, body: sized(limit + 1) });
    expect(over.status, 'oidc-provider\'s body limit is no longer 56 KiB (lib/shared/selective_body.js, LIMIT)').toBe(400);
  });

  it('isStructuredToken and the JWT handle prefixes: a JWT is refused at introspection and revocation, a handle is looked up as it is', async () => {
    const jwt = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(assertionKey);
    expect(isStructuredToken(jwt)).toBe(true);
    for (const [path, prefix] of [['/token/introspection', JWT_HANDLE_PREFIX], ['/token/revocation', JWT_REVOCATION_HANDLE_PREFIX]] as const) {
      const refused = await post(running, path, { token: jwt }, basic('app'));
      expect(refused.body.error, `${path} no longer refuses a JWT as structured (lib/shared/reject_structured_tokens.js)`).toBe('unsupported_token_type');
      const handle = `${prefix}${jwt}`;
      expect(isStructuredToken(handle), `${prefix} no longer keeps a JWT from parsing as one`).toBe(false);
      const during = await callsDuring(() => post(running, path, { token: handle }, basic('app')));
      expect(during.filter((call) => call.method === 'find' && call.id === handle).map((call) => call.model).sort(), `${path} no longer hands the handle to the token models as it is`).toEqual([...FIND_TOKEN_MODELS].sort());
    }
  });

  it('FIND_TOKEN_MODELS: findToken asks these models, and only these, for a presented value, with or without a hint', async () => {
    for (const hint of [undefined, 'access_token', 'refresh_token']) {
      const value = randomUUID();
      const during = await callsDuring(() => post(running, '/token/introspection', { token: value, ...(hint ? { token_type_hint: hint } : {}) }, basic('app')));
      const asked = during.filter((call) => call.method === 'find' && call.id === value).map((call) => call.model).sort();
      expect(asked, `lib/helpers/token_find.js asks other models (hint ${hint ?? 'none'}): src/oidc/models/token-lookup.ts answers only FIND_TOKEN_MODELS`).toEqual([...FIND_TOKEN_MODELS].sort());
    }
  });

  it('UNREGISTERED_TYPE_ERROR: a grant type the client is not registered for is answered with it, and ctx.oidc still says so afterwards', async () => {
    const requestId = randomUUID();
    const res = await fetch(`${running.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('machine'), 'x-request-id': requestId },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error?: string }).error, 'lib/actions/token.js answers an unregistered grant type with another code: policies/grant-type-errors.ts no longer corrects it').toBe(UNREGISTERED_TYPE_ERROR);
    expect(afterward.get(requestId), 'the client and its grant types are no longer readable from ctx.oidc after the answer').toMatchObject({ clientId: 'machine', grantTypeAllowed: false });

    const pushed = await post(running, '/request', { response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI }, basic('machine'));
    expect(pushed.body.error, 'a pushed authorization request for an unregistered response type is answered with another code (lib/actions/authorization/response_parameters.js)').toBe(UNREGISTERED_TYPE_ERROR);
  });

  it('deviceFormToken and normalizeUserCode: the device form carries its CSRF token as xsrf, and typed codes are normalized as we do', async () => {
    const form = (await import(`${providerRoot}lib/helpers/user_code_form.js`)) as { input(action: string, token: string, code?: string, charset?: string): string; confirm(action: string, token: string, code: string): string };
    expect(deviceFormToken(form.input('/device', 'abc123', undefined, 'base-20'))).toBe('abc123');
    expect(deviceFormToken(form.confirm('/device', 'def456', 'BCDF-GHJK'))).toBe('def456');
    const codes = (await import(`${providerRoot}lib/helpers/user_codes.js`)) as { normalize(input: string): string };
    for (const typed of ['bcdf-ghjk', 'BCDF GHJK', ' b.c.d.f-g_h ', 'bcdfghjk']) expect(normalizeUserCode(typed), typed).toBe(codes.normalize(typed));
    expect(providerSource('helpers/re_render_errors.js')).toMatch(/class NotFoundError[\s\S]*class ExpiredError[\s\S]*class AbortedError[\s\S]*class AlreadyUsedError[\s\S]*class NoCodeError/);
  });

  it('RESUME_PATH: the resume route is there, and a failed resume naming a client in its query is still a 500 (src/http/resume-guard.ts)', async () => {
    expect(running.provider.pathFor('resume', { uid: 'abc' }), 'the resume route moved (lib/helpers/initialize_app.js)').toMatch(RESUME_PATH);
    const res = await fetch(`${running.url}/auth/no-such-interaction?client_id=app`, { redirect: 'manual' });
    expect(res.status, 'oidc-provider answers a failed resume naming a client without a 500 now (lib/shared/authorization_error_handler.js): src/http/resume-guard.ts can go').toBe(500);
  });

  it('builds the URLs it emits from the request\'s href, which src/http/issuer-origin.ts pins to ISSUER', async () => {
    const { port } = new URL(running.url);
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: DISCOVERY_PATHS[0], headers: { host: 'elsewhere.example.test' } }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    const document = JSON.parse(body) as { token_endpoint?: string; issuer?: string };
    expect(document.issuer).toBe(ISSUER);
    expect(document.token_endpoint, 'oidc-provider no longer builds endpoint URLs from ctx.href (lib/helpers/oidc_context.js, urlFor): re-read issuer-origin.ts').toBe('http://elsewhere.example.test/token');
  });

  it('discoveryDocument: the discovery document is an object in ctx.body, edited after the provider answered', async () => {
    for (const path of DISCOVERY_PATHS) {
      const requestId = randomUUID();
      const res = await fetch(`${running.url}${path}`, { headers: { 'x-request-id': requestId } });
      const served = (await res.json()) as { response_types_supported?: string[] };
      const document = afterward.get(requestId)?.discovery;
      expect(document, `${path}: lib/actions/discovery.js no longer leaves the document as an object in ctx.body`).toBeDefined();
      expect(document?.response_types_supported, `${path} no longer lists response_types_supported as computed from responseTypes`).toEqual(['code', 'none']);
      expect(served.response_types_supported).toEqual(['code', 'none']);
      expect(afterward.get(requestId)?.route, 'the route name of discovery changed (http/metadata-caching.ts)').toBe('discovery');
    }
    const requestId = randomUUID();
    await fetch(`${running.url}/jwks`, { headers: { 'x-request-id': requestId } });
    expect(afterward.get(requestId)?.route, 'the route name of the JWKS changed (http/metadata-caching.ts)').toBe('jwks');
  });
});

describe('the provider\'s models (internals/models.ts)', () => {
  it('replaceClientMethods: compareClientSecret, redirectUriAllowed and postLogoutRedirectUriAllowed are what the endpoints consult', async () => {
    const replaced = await startProvider({
      configure: (provider) => replaceClientMethods(provider, {
        async compareClientSecret(actual) { return actual === 'the-replacement-accepts-this'; },
        redirectUriAllowed: () => false,
        postLogoutRedirectUriAllowed: () => false,
      }),
    });
    try {
      expect((await post(replaced, '/token', { grant_type: 'client_credentials' }, basic('machine'))).status, 'compareClientSecret is no longer what client_secret_basic consults (lib/shared/client_auth.js)').toBe(401);
      expect((await post(replaced, '/token', { grant_type: 'client_credentials' }, basic('machine', 'the-replacement-accepts-this'))).status).toBe(200);
      const authorize = await fetch(`${replaced.url}/auth?${new URLSearchParams({ client_id: 'app', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI })}`, { redirect: 'manual' });
      expect(authorize.status, 'redirectUriAllowed is no longer what /auth consults (lib/actions/authorization/response_parameters.js)').toBe(400);
      const signOut = await fetch(`${replaced.url}/session/end?${new URLSearchParams({ client_id: 'app', post_logout_redirect_uri: LOGOUT_URI })}`, { redirect: 'manual' });
      expect(signOut.status, 'postLogoutRedirectUriAllowed is no longer what /session/end consults (lib/actions/end_session.js)').toBe(400);
    } finally {
      await replaced.close();
    }
    // The same requests pass on a provider with the methods as they come.
    const authorize = await fetch(`${running.url}/auth?${new URLSearchParams({ client_id: 'app', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI })}`, { redirect: 'manual' });
    expect(authorize.status).not.toBe(400);
    expect(() => replaceClientMethods(running.provider, { noSuchMethod: () => true } as never), 'replacing a method oidc-provider does not have must fail loudly').toThrow(TypeError);
  });

  it('readOnlyClientMetadata: Client.find builds a client from frozen metadata without writing to it, and the same client for the same metadata', async () => {
    const metadata = readOnlyClientMetadata({
      client_id: 'frozen-app', client_secret: 'a-secret-of-forty-three-characters-or-more-x', redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid',
    });
    const before = JSON.stringify(metadata);
    const frozenClients = new Provider('http://127.0.0.1/frozen', {
      adapter: class { async find(id: string) { return id === 'frozen-app' ? metadata : undefined; } } as never,
    });
    const client = await frozenClients.Client.find('frozen-app');
    expect(client?.clientId, 'Client.find (lib/models/client.js) no longer builds a client from metadata it may not write to').toBe('frozen-app');
    expect(JSON.stringify(metadata)).toBe(before);
    expect(await frozenClients.Client.find('frozen-app'), 'the same metadata no longer finds the same Client').toBe(client);
  });

  it('rememberClientsByMetadata: the Client built from cached metadata is found again without Client.find, and a change builds a new one', async () => {
    const metadataFor = (secret: string) => readOnlyClientMetadata({
      client_id: 'remembered-app', client_secret: secret, redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'],
      response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid',
    });
    let current = metadataFor('first-secret');
    let adapterFinds = 0;
    const provider = new Provider('http://127.0.0.1/remembered', {
      adapter: class { async find(id: string) { adapterFinds += 1; return id === 'remembered-app' ? current : undefined; } } as never,
    });
    rememberClientsByMetadata(provider, (id) => (id === 'remembered-app' ? current : undefined));
    const first = await provider.Client.find('remembered-app');
    expect(first?.clientSecret).toBe('first-secret');
    const findsAfterFirst = adapterFinds;
    expect(await provider.Client.find('remembered-app')).toBe(first);
    expect(adapterFinds, 'a remembered client must not be looked up through the adapter again').toBe(findsAfterFirst);
    current = metadataFor('second-secret');
    const changed = await provider.Client.find('remembered-app');
    expect(changed, 'changed metadata must build a new Client').not.toBe(first);
    expect(changed?.clientSecret).toBe('second-secret');
    expect(await provider.Client.find('unknown-app')).toBeUndefined();
  });

  it('isReuseDetail: a code or refresh token presented again is refused with the words it matches', async () => {
    const details: string[] = [];
    const listener = (_ctx: unknown, error: unknown) => { details.push(errorDetailOf(error)); };
    running.provider.on('grant.error', listener);
    try {
      const code = await seedCode(running.provider, {});
      await post(running, '/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, basic('app'));
      const reusedCode = await post(running, '/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, basic('app'));
      expect(reusedCode.body.error).toBe('invalid_grant');
      expect(isReuseDetail(details.at(-1)!), `a reused code's error_detail ${JSON.stringify(details.at(-1))} (lib/helpers/grant_source.js) is no longer recognised as reuse`).toBe(true);

      const { value } = await seedRefreshToken(running.provider);
      await post(running, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic('app'));
      const reusedToken = await post(running, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic('app'));
      expect(reusedToken.body.error).toBe('invalid_grant');
      expect(isReuseDetail(details.at(-1)!), `a reused refresh token's error_detail ${JSON.stringify(details.at(-1))} (lib/actions/grants/refresh_token.js) is no longer recognised as reuse`).toBe(true);

      await post(running, '/token', { grant_type: 'refresh_token', refresh_token: randomUUID() }, basic('app'));
      expect(isReuseDetail(details.at(-1)!), `an unknown token (${JSON.stringify(details.at(-1))}) must not read as reuse`).toBe(false);
    } finally {
      running.provider.off('grant.error', listener);
    }
    expect(errorDetailOf(new errors.InvalidGrant(REPLAY_REFUSED_DETAIL)), 'an OIDCProviderError no longer keeps its detail in error_detail (lib/helpers/errors.js)').toBe(REPLAY_REFUSED_DETAIL);
    expect(isReuseDetail(REPLAY_REFUSED_DETAIL)).toBe(true);
  });

  it('INTERACTION_OWN_ID_FIELD and INTERACTION_SESSION_COOKIE_FIELD: an Interaction stores its own id and the session cookie where the adapter looks', async () => {
    const { cookie, sessionId } = await signIn();
    const during = await callsDuring(() => fetch(`${running.url}/auth?${new URLSearchParams({ client_id: 'app', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI })}`, { redirect: 'manual', headers: { cookie } }));
    const saved = during.find((call) => call.model === 'Interaction' && call.method === 'upsert');
    expect(saved, 'no Interaction was saved for a consent prompt').toBeDefined();
    const payload = records.get(`Interaction ${saved!.id}`) as Record<string, unknown>;
    expect(String(payload[INTERACTION_OWN_ID_FIELD]), `an Interaction's ${INTERACTION_OWN_ID_FIELD} no longer embeds its id (lib/actions/authorization/interactions.js)`).toContain(`/${saved!.id}`);
    const [outer, inner] = INTERACTION_SESSION_COOKIE_FIELD;
    expect((payload[outer] as Record<string, unknown> | undefined)?.[inner], `an Interaction's ${outer}.${inner} is no longer the session's id (lib/models/interaction.js)`).toBe(sessionId);
  });

  it('StoredGrantPayload and StoredSessionPayload: where a stored grant keeps its consent and a session its grants', async () => {
    const grant = new running.provider.Grant({ accountId: 'person', clientId: 'app' });
    grant.addOIDCScope('openid offline_access');
    grant.addOIDCClaims(['email']);
    grant.addResourceScope('https://api.example.test', 'read write');
    const grantId = await grant.save();
    const storedGrant = records.get(`Grant ${grantId}`) as StoredGrantPayload;
    expect(storedGrant.openid?.scope, 'a stored Grant keeps its OIDC scopes elsewhere (lib/models/grant.js): src/grants/ read openid.scope').toBe('openid offline_access');
    expect(storedGrant.openid?.claims, 'a stored Grant keeps the claims asked for one by one elsewhere (lib/models/grant.js): src/security-events/ read openid.claims').toEqual(['email']);
    expect(storedGrant.resources, 'a stored Grant keeps its API scopes elsewhere (lib/models/grant.js): src/grants/ read resources[indicator]').toEqual({ 'https://api.example.test': 'read write' });

    const session = new running.provider.Session();
    session.loginAccount({ accountId: 'person' });
    session.grantIdFor('app', grantId);
    await session.save(3600);
    const storedSession = records.get(`Session ${session.jti}`) as StoredSessionPayload;
    expect(storedSession.authorizations?.app?.grantId, 'a stored Session keeps its grants elsewhere (lib/models/session.js): src/sessions/store.ts reads authorizations[clientId].grantId').toBe(grantId);
  });

  it('SESSION_START_FIELD: a session\'s first save stamps it, later saves keep it (a new id after a sign-in within the session too), and one set before a save is stored', async () => {
    const session = new running.provider.Session();
    session.loginAccount({ accountId: 'person' });
    await session.save(3600);
    const stamped = records.get(`Session ${session.jti}`)?.[SESSION_START_FIELD];
    expect(typeof stamped, 'a session\'s first save stamps its start (lib/models/formats/opaque.js): SESSION_MAX_LIFETIME counts from it').toBe('number');
    // Stored as from long ago, so a re-stamp at the next save cannot pass for keeping it.
    const start = (stamped as number) - 86_400;
    records.get(`Session ${session.jti}`)![SESSION_START_FIELD] = start;

    const loaded = (await running.provider.Session.find(session.jti))!;
    loaded.loginAccount({ accountId: 'person' });
    loaded.resetIdentifier();
    await loaded.save(3600);
    expect(loaded.jti).not.toBe(session.jti);
    expect(records.get(`Session ${loaded.jti}`)?.[SESSION_START_FIELD], 'a sign-in within the session keeps its start (lib/actions/authorization/resume.js, lib/models/formats/opaque.js): a re-authentication must not lengthen SESSION_MAX_LIFETIME').toBe(start);

    (loaded as unknown as Record<string, unknown>)[SESSION_START_FIELD] = start + 60;
    await loaded.save(3600);
    expect(records.get(`Session ${loaded.jti}`)?.[SESSION_START_FIELD], 'a start set before a save is stored: src/records/index.ts sessionTtl restarts a session nobody is signed in to').toBe(start + 60);
  });

  it('includeSid, backchannelLogout and the stored sid: ID tokens carry the sid the session stores for the app, and /session/end hands it to backchannelLogout before the session goes', async () => {
    const told: Array<{ clientId: string; sub: string; sid: string | undefined; sessionStored: boolean }> = [];
    let sessionKey = '';
    let cookieToSet: { name: string; value: string } | undefined;
    const logoutApp = {
      client_id: 'logout-app', client_secret: SECRET, grant_types: ['authorization_code'], response_types: ['code'],
      redirect_uris: [REDIRECT_URI], backchannel_logout_uri: 'https://app.example.test/backchannel-logout',
    } as ClientMetadata;
    const target = await startProvider({
      overrides: (base) => ({ ...base, clients: [...(base.clients ?? []), logoutApp], features: { ...base.features, backchannelLogout: { enabled: true }, rpInitiatedLogout: { enabled: true } } }),
      around: [async (ctx, next) => {
        if (ctx.path !== '/test-sign-in' || !cookieToSet) return next();
        ctx.cookies.set(cookieToSet.name, cookieToSet.value, { signed: true, httpOnly: true });
        ctx.status = 204;
      }],
      configure: (provider) => replaceClientMethods(provider, {
        includeSid: () => true,
        async backchannelLogout(sub, sid) {
          told.push({ clientId: this.clientId, sub, sid, sessionStored: records.has(sessionKey) });
        },
      }),
    });
    try {
      const { provider } = target;
      const grant = new provider.Grant({ accountId: 'person', clientId: 'logout-app' });
      grant.addOIDCScope('openid');
      const grantId = await grant.save();
      const session = new provider.Session();
      session.loginAccount({ accountId: 'person' });
      session.grantIdFor('logout-app', grantId);
      await session.save(3600);
      sessionKey = `Session ${session.jti}`;
      cookieToSet = { name: provider.cookieName('session'), value: session.jti };
      const signedIn = await fetch(`${target.url}/test-sign-in`);
      const cookie = signedIn.headers.getSetCookie().map((header) => header.split(';')[0]).join('; ');

      // Signed in, with a grant covering openid: /auth answers with a code at once.
      const authorize = await fetch(`${target.url}/auth?${new URLSearchParams({ client_id: 'logout-app', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI })}`, { redirect: 'manual', headers: { cookie } });
      const code = new URL(authorize.headers.get('location') ?? '', ISSUER).searchParams.get('code');
      expect(code, `no code from /auth (${authorize.status} ${authorize.headers.get('location')})`).toBeTruthy();
      const tokens = await post(target, '/token', { grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT_URI }, basic('logout-app'));
      const idToken = decodeJwt(String(tokens.body.id_token));
      const stored = records.get(sessionKey) as StoredSessionPayload;
      const storedSid = stored.authorizations?.['logout-app']?.sid;
      expect(typeof storedSid, 'a stored Session keeps the app\'s sid elsewhere (lib/models/session.js, sidFor): src/records/sessions.ts reads authorizations[clientId].sid').toBe('string');
      expect(idToken.sid, 'includeSid is no longer what decides sid in the ID token (lib/helpers/process_response_types.js), or the ID token\'s sid is not the stored one').toBe(storedSid);

      // RP-initiated logout, confirmed: backchannelLogout(sub, sid) for the app, while the session is still stored.
      const confirmPage = await fetch(`${target.url}/session/end?client_id=logout-app`, { headers: { cookie } });
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(await confirmPage.text())?.[1];
      expect(xsrf, 'the end-session page no longer carries its xsrf value this way (lib/actions/end_session.js)').toBeDefined();
      const confirmed = await fetch(`${target.url}/session/end/confirm`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf: xsrf!, logout: 'yes' }) });
      expect(confirmed.status).toBe(303);
      expect(told, 'end_session (lib/actions/end_session.js) no longer calls Client#backchannelLogout(sub, sid) for each app of the session before destroying it: src/logout/ is not told of RP-initiated logout').toEqual([
        { clientId: 'logout-app', sub: 'person', sid: storedSid, sessionStored: true },
      ]);
      expect(records.has(sessionKey)).toBe(false);
    } finally {
      await target.close();
    }
  });

  it('GRANTABLE_MODELS: the models oidc-provider revokes by grant, and its own adapter keys by grant', async () => {
    const memoryAdapter = providerSource('adapters/memory_adapter.js');
    const grantable = /const grantable = new Set\(\[([^\]]*)\]\)/.exec(memoryAdapter)?.[1];
    expect(grantable, 'lib/adapters/memory_adapter.js no longer lists its grantable models this way: read it again').toBeDefined();
    expect([...grantable!.matchAll(/'(\w+)'/g)].map((match) => match[1]).sort(), 'oidc-provider\'s grant-bound models changed: src/records/revocation.ts deletes only GRANTABLE_MODELS').toEqual([...GRANTABLE_MODELS].sort());

    const { value } = await seedRefreshToken(running.provider);
    await post(running, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic('app'));
    const during = await callsDuring(() => post(running, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic('app')));
    const revoked = during.filter((call) => call.method === 'revokeByGrantId').map((call) => call.model);
    expect(revoked.length, 'a replay no longer revokes by grant id (lib/helpers/revoke.js)').toBeGreaterThan(0);
    expect(revoked.filter((model) => !(GRANTABLE_MODELS as readonly string[]).includes(model)), 'lib/helpers/revoke.js revokes models GRANTABLE_MODELS does not list').toEqual([]);
  });

  it('REPLAY_DETECTION_ADAPTER_CALLS: ReplayDetection.unique finds, then saves through upsert, for each client assertion', async () => {
    const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer('signer').setSubject('signer')
      .setAudience(ISSUER).setJti(randomUUID()).setIssuedAt().setExpirationTime('1m').sign(assertionKey);
    const params = { grant_type: 'client_credentials', client_id: 'signer', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    let first: Awaited<ReturnType<typeof post>> | undefined;
    const during = await callsDuring(async () => { first = await post(running, '/token', params); });
    expect(first?.status, JSON.stringify(first?.body)).toBe(200);
    expect(during.filter((call) => call.model === 'ReplayDetection').map((call) => call.method), 'ReplayDetection.unique (lib/models/replay_detection.js) no longer calls find() then upsert(): src/oidc/models/replay-detection.ts\'s atomic check is bypassed').toEqual([...REPLAY_DETECTION_ADAPTER_CALLS]);
    expect((await post(running, '/token', params)).status, 'an assertion found by find() is no longer refused').toBe(401);
  });
});

describe('DPoP for a grant Gatehouse registers (internals/sender-constraints.ts)', () => {
  const GRANT = 'urn:example:params:oauth:grant-type:contract';
  let target: Running;
  const ask = async (headers: Record<string, string>, clientId = 'dpop-machine') => {
    const res = await fetch(`${target.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId), ...headers },
      body: new URLSearchParams({ grant_type: GRANT }),
    });
    return { status: res.status, nonce: res.headers.get('dpop-nonce'), body: (await res.json()) as Record<string, unknown> };
  };
  const htu = () => `${target.url}/token`;

  beforeAll(async () => {
    const machine = (clientId: string, extra: Record<string, unknown> = {}) => ({
      client_id: clientId, client_secret: SECRET, grant_types: [GRANT], response_types: [], redirect_uris: [], ...extra,
    }) as unknown as ClientMetadata;
    target = await startProvider({
      overrides: (base) => ({
        ...base,
        clients: [...(base.clients ?? []), machine('dpop-machine'), machine('dpop-required', { dpop_bound_access_tokens: true })],
        enabledJWA: { ...base.enabledJWA, dPoPSigningAlgValues: ['ES256'] },
        features: {
          ...base.features,
          dPoP: { enabled: true, nonceSecret: Buffer.alloc(32, 7), requireNonce: (ctx: KoaContextWithOIDC) => ctx.get('x-require-nonce') === 'yes', allowReplay: false },
        },
      }),
      // The grant as src/oidc/grants/token-exchange.ts uses these exports, reduced to them.
      configure: (provider) => provider.registerGrantType(GRANT, async (ctx) => {
        const dPoP = await dpopProofOf(provider, ctx);
        requireProofIfRegistered(provider, ctx, dPoP, errors.InvalidRequest);
        const token = accessTokenFor(provider, { client: ctx.oidc.client!, accountId: 'person', grantId: 'grant', gty: GRANT }, 'https://api.example.test', {
          scope: 'read', audience: 'https://api.example.test', accessTokenTTL: 60, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
        });
        token.scope = 'read';
        await bindToProofKey(provider, ctx, dPoP, token, errors.InvalidDpopProof);
        ctx.body = { access_token: await token.save(), token_type: token.tokenType };
      }),
    });
  });
  afterAll(async () => { await target?.close(); });

  it('dpopProofOf and bindToProofKey: a valid proof binds the access token to its key (cnf.jkt, token_type DPoP) and records its jti once', async () => {
    const key = await proofKey();
    const sent = await proof(key, { htm: 'POST', htu: htu() });
    let answer: Awaited<ReturnType<typeof ask>> | undefined;
    const during = await callsDuring(async () => { answer = await ask({ dpop: sent }); });
    expect(answer?.status, `validateDpop (lib/helpers/validate_dpop.js) refused a valid proof: ${JSON.stringify(answer?.body)}`).toBe(200);
    expect(answer!.body.token_type, 'AccessToken#tokenType no longer says DPoP for a token with jkt (lib/models/access_token.js)').toBe('DPoP');
    expect(decodeJwt(String(answer!.body.access_token)).cnf, 'setThumbprint(\'jkt\') no longer ends up as the JWT\'s cnf.jkt (lib/models/token_helpers.js, formats/jwt.js), or validateDpop no longer answers the key\'s thumbprint').toEqual({ jkt: key.thumbprint });
    expect(during.filter((call) => call.model === 'ReplayDetection').map((call) => call.method), 'checkDpopReplay no longer records the proof\'s jti through ReplayDetection.unique (src/oidc/models/replay-detection.ts)').toEqual([...REPLAY_DETECTION_ADAPTER_CALLS]);
    expect(await ask({ dpop: sent }), 'checkDpopReplay no longer refuses a proof seen before with the error class it is given').toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
  });

  it('dpopProofOf: no proof is no binding; a proof failing the token endpoint\'s checks is invalid_dpop_proof; nonces as configured', async () => {
    const none = await ask({});
    expect(none.status, JSON.stringify(none.body)).toBe(200);
    expect(none.body.token_type).toBe('Bearer');
    expect(decodeJwt(String(none.body.access_token)).cnf).toBeUndefined();

    const key = await proofKey();
    const now = Math.floor(Date.now() / 1000);
    const refused = {
      htu: await proof(key, { htm: 'POST', htu: `${target.url}/me` }),
      htm: await proof(key, { htm: 'PUT', htu: htu() }),
      signature: await proof(key, { htm: 'POST', htu: htu(), headerJwk: (await proofKey()).jwk }),
      'alg allow-list': await proof(await proofKey('ES384'), { htm: 'POST', htu: htu(), alg: 'ES384' }),
      malformed: 'not-a-proof',
    };
    for (const [check, dpop] of Object.entries(refused)) {
      expect(await ask({ dpop }), `validateDpop no longer checks the proof's ${check}`).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    }
    // The iat window: outside it, with nonces configured, the answer is a nonce to use.
    const stale = await ask({ dpop: await proof(key, { htm: 'POST', htu: htu(), iat: now - 3600 }) });
    expect(stale, 'validateDpop no longer checks iat against its window').toMatchObject({ status: 400, body: { error: 'use_dpop_nonce' } });
    expect(stale.nonce).toBeTruthy();
    const required = await ask({ dpop: await proof(key, { htm: 'POST', htu: htu() }), 'x-require-nonce': 'yes' });
    expect(required, 'validateDpop no longer asks features.dPoP.requireNonce').toMatchObject({ status: 400, body: { error: 'use_dpop_nonce' } });
    const withNonce = await ask({ dpop: await proof(key, { htm: 'POST', htu: htu(), nonce: required.nonce! }), 'x-require-nonce': 'yes' });
    expect(withNonce.status, `validateDpop refused its own nonce: ${JSON.stringify(withNonce.body)}`).toBe(200);
  });

  it('requireProofIfRegistered: a client registered with dpop_bound_access_tokens gets the given error without a proof', async () => {
    expect(await ask({}, 'dpop-required'), 'checkDpopRequired (lib/helpers/sender_constraints.js) no longer reads dpopBoundAccessTokens, or no longer throws the error class it is given').toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const bound = await ask({ dpop: await proof(await proofKey(), { htm: 'POST', htu: htu() }) }, 'dpop-required');
    expect(bound.body.token_type).toBe('DPoP');
  });
});
