// The CEILING: a bare oidc-provider with its in-memory adapter (no `adapter` configured) and the
// token settings Gatehouse uses (ES256 JWT access tokens for one API via resourceIndicators,
// client_credentials, introspection, rotating refresh tokens, a static client list). No Gatehouse
// code: what this serves per second is what oidc-provider itself allows on this machine.
//
// Forked by run.ts. It mints what the load needs (grants, refresh tokens, opaque access tokens for
// userinfo and for the API to introspect) through oidc-provider's own models, since it has no
// sign-in pages to drive, and sends them with its address in the 'ready' message.
//
// oidc-provider refuses to introspect a JWT access token, so the ceiling for "the API introspects
// an access token" is the one it can answer: the API, with its own client credentials, introspects
// an opaque access token from the in-memory store, issued to the app for the same person and API.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Provider, type Configuration } from 'oidc-provider';

export const CEILING_API = 'https://api.bench.test';
export const CEILING_SCOPE = 'bench:read';
const USER_SCOPE = 'openid profile email offline_access';

export interface CeilingReady {
  cmd: 'ready';
  address: string;
  app: { clientId: string; clientSecret: string };
  machine: { clientId: string; clientSecret: string };
  api: { clientId: string; clientSecret: string };
  refreshTokens: string[];
  /** For introspection by the owner app; never refreshed. */
  introspectedRefreshToken: string;
  /** Opaque, for userinfo (oidc-provider's userinfo does not take a JWT issued for an API). */
  userinfoAccessToken: string;
  /** Opaque, issued to the app for the API (`aud`), for introspection by the API. */
  apiAccessToken: string;
}

function privateJwk(type: 'ec' | 'rsa', alg: string) {
  const { privateKey } = type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg}-${randomBytes(4).toString('hex')}` };
}

/**
 * Gatehouse's rule (src/oidc/policies/introspection.ts, mirrored here, not imported: the ceiling runs no
 * Gatehouse code): an app may introspect its own tokens, the API those issued for it. oidc-provider's
 * default would let any confidential client see any token, and warns that it should be replaced.
 */
function mayIntrospect(apiClientId: string) {
  return async (_ctx: unknown, caller: { clientId: string }, token: { clientId?: string; aud?: string | string[] }) => {
    const audiences = Array.isArray(token.aud) ? token.aud : token.aud ? [token.aud] : [];
    return token.clientId === caller.clientId || (caller.clientId === apiClientId && audiences.includes(CEILING_API));
  };
}

function secret() {
  return randomBytes(32).toString('base64url');
}

async function startCeiling(port: number, refreshTokenCount: number): Promise<CeilingReady & { mint(count: number): Promise<string[]> }> {
  const issuer = `http://127.0.0.1:${port}`;
  const app = { clientId: 'bench-app', clientSecret: secret() };
  const machine = { clientId: 'bench-machine', clientSecret: secret() };
  const api = { clientId: 'bench-api', clientSecret: secret() };
  const configuration: Configuration = {
    clients: [
      { client_id: app.clientId, client_secret: app.clientSecret, redirect_uris: ['https://app.bench.test/callback'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: `${USER_SCOPE} ${CEILING_SCOPE}` },
      { client_id: machine.clientId, client_secret: machine.clientSecret, redirect_uris: [], grant_types: ['client_credentials'], response_types: [], scope: CEILING_SCOPE },
      { client_id: api.clientId, client_secret: api.clientSecret, redirect_uris: [], grant_types: [], response_types: [] },
    ],
    jwks: { keys: [privateJwk('rsa', 'RS256'), privateJwk('ec', 'ES256')] as never },
    async findAccount(_ctx, sub) {
      return { accountId: sub, async claims() { return { sub, name: 'Bench Person', email: 'bench@example.test', email_verified: true }; } };
    },
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'offline_access', 'profile', 'email', CEILING_SCOPE],
    cookies: { keys: [secret()] },
    pkce: { required: () => true },
    clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'RS256' } as never,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: mayIntrospect(api.clientId) },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => CEILING_API,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: CEILING_SCOPE, audience: CEILING_API, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
      },
    },
    rotateRefreshToken: true,
    ttl: { AccessToken: 600, ClientCredentials: 600, RefreshToken: 1_209_600, Grant: 31_536_000, IdToken: 3600, AuthorizationCode: 60, Session: 1_209_600, Interaction: 3600 },
  };
  const provider = new Provider(issuer, configuration);
  // oidc-provider's own Koa app, served directly: nothing in front of it.
  const server = provider.listen(port, '127.0.0.1') as unknown as import('node:http').Server;
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));

  const client = await provider.Client.find(app.clientId);
  const mintRefreshToken = async (accountId: string) => {
    const grant = new provider.Grant({ accountId, clientId: app.clientId });
    grant.addOIDCScope(USER_SCOPE);
    grant.addResourceScope(CEILING_API, CEILING_SCOPE);
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId, client, grantId, gty: 'authorization_code', scope: `${USER_SCOPE} ${CEILING_SCOPE}`,
      resource: CEILING_API, authTime: Math.floor(Date.now() / 1000), rotations: 0,
    } as never);
    return { grantId, value: await token.save() };
  };
  const refreshTokens: string[] = [];
  for (let i = 0; i < refreshTokenCount; i += 1) refreshTokens.push((await mintRefreshToken(`person-${i}`)).value);
  const introspected = await mintRefreshToken('person-introspected');
  const accessToken = (scope: string, aud?: string) => new provider.AccessToken({
    accountId: 'person-introspected', client, grantId: introspected.grantId, gty: 'authorization_code', scope, ...(aud ? { aud } : {}),
  } as never).save();
  const userinfoAccessToken = await accessToken('openid profile email');
  // No resourceServer on the model, so the format is opaque while `aud` still names the API.
  const apiAccessToken = await accessToken(CEILING_SCOPE, CEILING_API);

  const { port: bound } = server.address() as AddressInfo;
  // More for the pool when run.ts tops it up between windows (scenarios.ts, refreshPoolSize).
  let minted = refreshTokenCount;
  const mint = async (count: number) => {
    const more: string[] = [];
    for (let i = 0; i < count; i += 1, minted += 1) more.push((await mintRefreshToken(`person-${minted}`)).value);
    return more;
  };
  return { cmd: 'ready', address: `http://127.0.0.1:${bound}`, app, machine, api, refreshTokens, introspectedRefreshToken: introspected.value, userinfoAccessToken, apiAccessToken, mint };
}

// Forked by run.ts.
if (process.send && process.env.BENCH_CEILING_PORT) {
  const ready = await startCeiling(Number(process.env.BENCH_CEILING_PORT), Number(process.env.BENCH_CEILING_TOKENS ?? 64));
  process.on('disconnect', () => process.exit(0));
  // run.ts asks before it disconnects; exiting normally also lets --cpu-prof write its profile.
  const { mint, ...announced } = ready;
  process.on('message', (message: { cmd?: string; count?: number }) => {
    if (message.cmd === 'stop') process.exit(0);
    if (message.cmd === 'mint') void mint(message.count ?? 0).then((tokens) => process.send!({ cmd: 'minted', tokens }));
  });
  process.send(announced);
}
