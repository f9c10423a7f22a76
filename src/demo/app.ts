// Development only: a small third-party app ("relying party") for trying Gatehouse's sign-in flow in
// a browser, in the spirit of `hydra perform authorization-code`. It talks to Gatehouse only over
// the public protocol, with openid-client, exactly as an outside app would.
//
// openid-client is a development dependency and is imported dynamically: production installs omit
// it, so the demo cannot run there even if something tried to start it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import Koa, { type Context, type Next } from 'koa';
import type * as OpenIdClient from 'openid-client';
import { contentSecurityPolicy, errorPage, homePage, tokensPage, type ErrorView, type TokensView } from './pages.js';

type OidcClient = typeof OpenIdClient;

export interface DemoAppOptions {
  issuer: string;
  clientId: string;
  redirectUri: string;
  port: number;
  host?: string;
  /** Where Gatehouse sends the browser after signing out; defaults to the redirect URI's origin. */
  postLogoutRedirectUri?: string;
  /** What the demo asks for; add an API scope to see it on the consent page and in the token. */
  scope?: string;
  /**
   * An API call to try with the access token (GET, Bearer): e.g. the example notes API's
   * sensitive http://localhost:4000/notes/export. When it answers RFC 9470's
   * insufficient_user_authentication, the demo signs in again with the acr_values or max_age it
   * names and calls again.
   */
  api?: string;
}

export interface DemoApp {
  url: string;
  close(): Promise<void>;
}

const DEFAULT_SCOPE = 'openid profile email offline_access';
/** Where Gatehouse POSTs logout tokens (the demo app's registered backchannel_logout_uri). */
export const DEMO_BACKCHANNEL_LOGOUT_PATH = '/backchannel-logout';
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token older than this is refused, and its jti need not be remembered longer. */
const LOGOUT_TOKEN_MAX_AGE_SECONDS = 300;
/** Logout tokens are small; anything much bigger is not one. */
const LOGOUT_BODY_LIMIT = 16 * 1024;
const SESSION_COOKIE = 'gatehouse_demo_session';
// Sessions live in memory (this is a dev tool); old ones are dropped so a long-running demo does not grow.
const SESSION_MAX_AGE_MS = 60 * 60 * 1000;

interface DemoSession {
  createdAt: number;
  /** The secrets of an authorization request in flight: used once, at the callback. */
  pending?: { codeVerifier: string; state: string; nonce: string; callApiAfter?: boolean };
  /**
   * What later requests need after sign-in: the tokens, the ID token as a logout hint, and whom and
   * which Gatehouse session it is (sub, sid), to end it when a logout token names them.
   */
  signedIn?: { idToken: string | undefined; refreshToken: string | undefined; accessToken?: string; sub: string; sid: string | undefined };
}

/** An error the demo itself detects, shown on the error page as is. */
class DemoError extends Error {
  constructor(readonly code: string, readonly description: string, readonly status = 400) {
    super(description);
  }
}

async function loadOpenIdClient(): Promise<OidcClient> {
  try {
    return await import('openid-client');
  } catch (error) {
    throw new Error(
      'The demo app needs the openid-client package, which is a development dependency. '
      + 'It is not installed (production installs omit it); run `npm install` in a development checkout to use the demo.',
      { cause: error },
    );
  }
}

export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const oidc = await loadOpenIdClient();
  const postLogoutRedirectUri = options.postLogoutRedirectUri ?? new URL('/', options.redirectUri).href;
  const sessions = new Map<string, DemoSession>();

  // Discovery runs on first use rather than at start, so the demo can start before Gatehouse does;
  // a failed attempt is forgotten so the next click tries again.
  let configuration: Promise<OpenIdClient.Configuration> | undefined;
  function discover(): Promise<OpenIdClient.Configuration> {
    configuration ??= oidc.discovery(new URL(options.issuer), options.clientId, undefined, oidc.None(), {
      // The development issuer is plain http://localhost; openid-client refuses http unless told.
      execute: options.issuer.startsWith('http:') ? [oidc.allowInsecureRequests] : [],
    }).catch((error: unknown) => {
      configuration = undefined;
      throw error;
    });
    return configuration;
  }

  function currentSession(ctx: Context): DemoSession | undefined {
    const id = ctx.cookies.get(SESSION_COOKIE);
    return id ? sessions.get(id) : undefined;
  }

  function newSession(ctx: Context): DemoSession {
    const now = Date.now();
    for (const [id, session] of sessions) if (now - session.createdAt > SESSION_MAX_AGE_MS) sessions.delete(id);
    const id = randomBytes(32).toString('base64url');
    const session: DemoSession = { createdAt: now };
    sessions.set(id, session);
    // Lax: the cookie comes back on Gatehouse's redirect to /callback (a top-level GET), but not on a
    // POST from another site, which is what keeps /refresh from being triggered cross-site.
    ctx.cookies.set(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'lax', path: '/', overwrite: true });
    return session;
  }

  function describeError(error: unknown): ErrorView & { status: number } {
    if (error instanceof DemoError) return { status: error.status, code: error.code, description: error.description };
    if (error instanceof oidc.AuthorizationResponseError) {
      return { status: 400, code: error.error, description: error.error_description ?? 'Gatehouse did not complete the sign-in.' };
    }
    if (error instanceof oidc.ResponseBodyError) {
      return { status: 502, code: error.error, description: error.error_description ?? `Gatehouse answered with HTTP ${error.status}.` };
    }
    if (error instanceof oidc.WWWAuthenticateChallengeError) {
      const challenge = error.cause[0]?.parameters;
      return { status: 502, code: challenge?.error ?? 'invalid_token', description: challenge?.error_description ?? 'Gatehouse rejected the access token.' };
    }
    if (error instanceof oidc.ClientError) {
      // openid-client's own message is generic ("invalid response encountered"); the cause says what.
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
      return { status: 400, code: error.code ?? 'client_error', description: `${error.message}${cause}` };
    }
    if (error instanceof TypeError && /fetch failed/.test(error.message)) {
      return { status: 502, code: 'gatehouse_unreachable', description: `Could not reach Gatehouse at ${options.issuer}. Is it running?` };
    }
    // Unexpected: the details go to the developer's terminal, never to the page.
    console.error('Gatehouse demo app error:', error);
    return { status: 500, code: 'server_error', description: 'Something went wrong in the demo app. See its terminal output.' };
  }

  const policy = contentSecurityPolicy(options.issuer);
  async function showErrors(ctx: Context, next: Next) {
    // Pages show tokens and personal data, and the callback address carries the code in its query:
    // never cache them, and never send them as a Referer to Gatehouse (e.g. on "Sign out").
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Content-Security-Policy', policy);
    ctx.set('X-Content-Type-Options', 'nosniff');
    try {
      await next();
    } catch (error) {
      const view = describeError(error);
      ctx.status = view.status;
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = errorPage(view);
    }
  }

  async function login(ctx: Context) {
    await authorize(ctx, newSession(ctx), {});
  }

  /** Sends the browser to Gatehouse; `extra` adds parameters (a step-up's acr_values or max_age). */
  async function authorize(ctx: Context, session: DemoSession, extra: Record<string, string>, callApiAfter = false) {
    const config = await discover();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const pending = { codeVerifier, state: oidc.randomState(), nonce: oidc.randomNonce(), ...(callApiAfter ? { callApiAfter } : {}) };
    session.pending = pending;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: options.redirectUri,
      scope: options.scope ?? DEFAULT_SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
      // oidc-provider issues a refresh token for offline_access only when consent is prompted for.
      prompt: 'consent',
      ...extra,
    });
    ctx.redirect(url.href);
  }

  /** GET the API with the access token; its status and JSON body, and the step-up it asks for, if any. */
  async function callApi(accessToken: string): Promise<{ status: number; body: unknown; stepUp?: Record<string, string> }> {
    const res = await fetch(options.api!, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      // An API answering something other than JSON is shown by its status alone.
    }
    const challenge = res.headers.get('www-authenticate') ?? '';
    if (res.status === 401 && /error="insufficient_user_authentication"/.test(challenge)) {
      const acr = /acr_values="([^"]*)"/.exec(challenge)?.[1];
      const maxAge = /max_age="?(\d+)"?/.exec(challenge)?.[1];
      return { status: res.status, body, stepUp: { ...(acr ? { acr_values: acr } : {}), ...(maxAge !== undefined ? { max_age: maxAge } : {}) } };
    }
    return { status: res.status, body };
  }

  async function callApiAction(ctx: Context) {
    const session = currentSession(ctx);
    const signedIn = session?.signedIn;
    if (!options.api) throw new DemoError('no_api', 'The demo was started without --api: there is no API to call.');
    if (!session || !signedIn?.accessToken) throw new DemoError('not_signed_in', 'Sign in first: there is no access token in this browser session.');
    const answer = await callApi(signedIn.accessToken);
    if (answer.stepUp) {
      // RFC 9470 §4: ask Gatehouse for the sign-in the API named, then call again.
      ctx.status = 303;
      return authorize(ctx, session, answer.stepUp, true);
    }
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = tokensPage({
      refreshed: false, idTokenClaims: signedIn.idToken ? decodeJwt(signedIn.idToken) as Record<string, unknown> : undefined,
      accessToken: decodeForDisplay(signedIn.accessToken), tokenResponse: { token_type: 'bearer' }, userinfo: undefined,
      refreshTokenIssued: signedIn.refreshToken !== undefined, api: options.api,
      apiAnswer: { url: options.api, status: answer.status, body: answer.body, steppedUp: false },
    });
  }

  async function callback(ctx: Context) {
    const session = currentSession(ctx);
    const pending = session?.pending;
    if (!session || !pending) {
      throw new DemoError('invalid_state', 'This sign-in was not started in this browser, or it was already completed. Start again.');
    }
    delete session.pending;
    const config = await discover();
    // The address Gatehouse redirected to, rebuilt from the registered redirect URI rather than the
    // Host header, so the redirect_uri sent to the token endpoint is exactly the registered one.
    const currentUrl = new URL(options.redirectUri);
    currentUrl.search = ctx.querystring;
    const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
    const idTokenClaims = tokens.claims()!;
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, idTokenClaims.sub);
    session.signedIn = {
      idToken: tokens.id_token, refreshToken: tokens.refresh_token, accessToken: tokens.access_token,
      sub: idTokenClaims.sub, sid: typeof idTokenClaims.sid === 'string' ? idTokenClaims.sid : undefined,
    };
    if (pending.callApiAfter && options.api) {
      const answer = await callApi(tokens.access_token);
      return render(ctx, tokens, { refreshed: false, userinfo, apiAnswer: { url: options.api, status: answer.status, body: answer.body, steppedUp: true } });
    }
    render(ctx, tokens, { refreshed: false, userinfo });
  }

  async function refresh(ctx: Context) {
    const signedIn = currentSession(ctx)?.signedIn;
    if (!signedIn?.refreshToken) {
      throw new DemoError('no_refresh_token', 'There is no refresh token in this browser session. Sign in again.');
    }
    const tokens = await oidc.refreshTokenGrant(await discover(), signedIn.refreshToken);
    // Gatehouse rotates refresh tokens: the one just used is spent, keep the new one.
    signedIn.refreshToken = tokens.refresh_token ?? signedIn.refreshToken;
    signedIn.idToken = tokens.id_token ?? signedIn.idToken;
    signedIn.accessToken = tokens.access_token;
    render(ctx, tokens, { refreshed: true, userinfo: undefined });
  }

  async function logout(ctx: Context) {
    const id = ctx.cookies.get(SESSION_COOKIE);
    const idToken = id ? sessions.get(id)?.signedIn?.idToken : undefined;
    if (id) sessions.delete(id);
    ctx.cookies.set(SESSION_COOKIE, null, { path: '/' });
    if (!idToken) return ctx.redirect('/');
    // RP-initiated logout: Gatehouse asks the person to confirm, ends its session, then sends them back.
    const url = oidc.buildEndSessionUrl(await discover(), {
      id_token_hint: idToken,
      post_logout_redirect_uri: postLogoutRedirectUri,
    });
    ctx.redirect(url.href);
  }

  // OpenID Connect Back-Channel Logout 1.0 (§2.6, §2.8): Gatehouse POSTs a logout token when the
  // person's sign-in ends there (they signed out, an administrator ended the session, the account
  // was disabled, …). The demo verifies it as any relying party must and ends the matching local
  // sessions; the browser finds itself signed out on its next request.
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  /** jti → when it may be forgotten (its token is too old to be accepted by then). */
  const seenLogoutTokens = new Map<string, number>();

  async function verifyLogoutToken(token: string): Promise<JWTPayload> {
    const config = await discover();
    jwks ??= createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(token, jwks, {
      issuer: config.serverMetadata().issuer,
      audience: options.clientId,
      typ: 'logout+jwt',
      // Signed as the demo's ID tokens are.
      algorithms: [String(config.clientMetadata().id_token_signed_response_alg ?? 'RS256')],
      requiredClaims: ['iat', 'jti', 'events'],
      maxTokenAge: LOGOUT_TOKEN_MAX_AGE_SECONDS,
    });
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events?.[BACKCHANNEL_LOGOUT_EVENT];
    if (!event || typeof event !== 'object') throw new DemoError('invalid_request', 'The token is not a logout token: its events claim lacks the back-channel logout event.');
    if ('nonce' in payload) throw new DemoError('invalid_request', 'A logout token must not carry a nonce.');
    if (typeof payload.sid !== 'string' && typeof payload.sub !== 'string') throw new DemoError('invalid_request', 'The logout token names neither a session (sid) nor a person (sub).');
    const now = Date.now();
    for (const [jti, forgetAt] of seenLogoutTokens) if (forgetAt <= now) seenLogoutTokens.delete(jti);
    if (seenLogoutTokens.has(payload.jti!)) throw new DemoError('invalid_request', 'This logout token was already used.');
    seenLogoutTokens.set(payload.jti!, now + LOGOUT_TOKEN_MAX_AGE_SECONDS * 2000);
    return payload;
  }

  async function backchannelLogout(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    try {
      const body = await readForm(ctx, LOGOUT_BODY_LIMIT);
      const token = body.get('logout_token');
      if (!token) throw new DemoError('invalid_request', 'logout_token is missing.');
      const claims = await verifyLogoutToken(token);
      // A sid names one sign-in; a sub alone, every sign-in of that person.
      for (const [id, session] of sessions) {
        const signedIn = session.signedIn;
        if (!signedIn) continue;
        const sameSession = typeof claims.sid === 'string' ? signedIn.sid === claims.sid : true;
        const samePerson = typeof claims.sub === 'string' ? signedIn.sub === claims.sub : true;
        if (sameSession && samePerson) sessions.delete(id);
      }
      ctx.status = 200;
      ctx.body = '';
    } catch (error) {
      ctx.status = 400;
      ctx.type = 'application/json';
      const description = error instanceof DemoError ? error.description : `The logout token did not verify: ${error instanceof Error ? error.message : 'unknown error'}`;
      ctx.body = { error: 'invalid_request', error_description: description };
    }
  }

  function render(
    ctx: Context,
    tokens: OpenIdClient.TokenEndpointResponse & OpenIdClient.TokenEndpointResponseHelpers,
    extra: Pick<TokensView, 'refreshed' | 'userinfo' | 'apiAnswer'>,
  ) {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = tokensPage({
      ...extra,
      idTokenClaims: tokens.claims() as Record<string, unknown> | undefined,
      accessToken: decodeForDisplay(tokens.access_token),
      tokenResponse: { token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope },
      refreshTokenIssued: typeof tokens.refresh_token === 'string',
      api: options.api,
    });
  }

  const router = new Router();
  router.get('/', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = homePage(options.issuer, currentSession(ctx)?.signedIn?.sub);
  });
  router.post(DEMO_BACKCHANNEL_LOGOUT_PATH, backchannelLogout);
  router.get('/login', login);
  router.get('/callback', callback);
  router.post('/refresh', refresh);
  router.post('/call-api', callApiAction);
  router.get('/logout', logout);

  const app = new Koa();
  app.silent = true;
  app.use(showErrors);
  app.use(router.routes());
  app.use(router.allowedMethods());

  const server = http.createServer(app.callback());
  const host = options.host ?? 'localhost';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/** A form body of at most `limit` bytes. */
async function readForm(ctx: Context, limit: number): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new DemoError('invalid_request', 'A logout token comes as a form (application/x-www-form-urlencoded).');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new DemoError('invalid_request', 'The request body is too large for a logout token.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Decoded only to show it: the demo is the token's client, not its audience, so it does not verify it. */
function decodeForDisplay(token: string): TokensView['accessToken'] {
  try {
    return { raw: token, header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    return { raw: token, opaque: true };
  }
}
