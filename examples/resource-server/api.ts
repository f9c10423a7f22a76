// A small notes API that accepts Gatehouse's access tokens: the reference for API authors.
//
//   GET    /notes      notebook:read   ordinary: the token is verified locally, no call to Gatehouse
//   POST   /notes      notebook:write  ordinary
//   DELETE /notes/:id  notebook:write  sensitive: verified locally, then introspected (RFC 7662)
//   GET    /notes/export notebook:read  sensitive: the whole notebook at once
//
// With `stepUp` set, a sensitive call also needs a strong and recent enough sign-in behind the
// token (its `acr` and `auth_time`, RFC 9068 §2.2.1); a weaker or older one gets RFC 9470's
// challenge, `error="insufficient_user_authentication"` with the `acr_values` or `max_age` to ask
// Gatehouse for, and the app signs the person in again with those and retries.
//
// Local verification cannot see a revocation: a revoked token keeps working until it expires.
// Introspection sees it at once, at the price of a round trip to Gatehouse per call (or of up to
// `cacheSeconds` of staleness when answers are cached). README.md says when to choose which.
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';

export interface ResourceServerOptions {
  /** Gatehouse's issuer identifier, exactly as it appears in `iss`, e.g. https://id.example.com */
  issuer: string;
  /** This API's identifier as registered with `gatehouse resource create --identifier`. */
  audience: string;
  /** The client_id and client_secret `gatehouse resource create` printed. */
  introspection: { clientId: string; clientSecret: string };
  /**
   * How long a positive introspection answer may be reused, in seconds. 0 (the default) asks
   * Gatehouse on every sensitive call; N means a revocation may go unnoticed for up to N seconds.
   */
  cacheSeconds?: number;
  /** The most answers kept; the oldest goes first. */
  cacheMaxEntries?: number;
  /** The clock, in milliseconds since the epoch (Date.now); injectable so tests need not sleep. */
  now?: () => number;
  /**
   * RFC 9470 step-up for sensitive calls: the token's `acr` must be one of `acrValues` (in order
   * of preference, as the challenge names them), and its `auth_time` no older than `maxAgeSeconds`.
   */
  stepUp?: { acrValues?: string[]; maxAgeSeconds?: number };
}

export interface Note { id: string; text: string; createdAt: string }

const DEFAULT_CACHE_MAX_ENTRIES = 10_000;
const INTROSPECTION_TIMEOUT_MS = 5_000;

/** RFC 6750 §2.1: `Bearer` followed by a b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** jose errors that mean "this token is no good", as opposed to "the keys could not be fetched". */
const TOKEN_ERRORS = [
  errors.JWTExpired,
  errors.JWTClaimValidationFailed,
  errors.JWTInvalid,
  errors.JWSInvalid,
  errors.JWSSignatureVerificationFailed,
  errors.JOSEAlgNotAllowed,
  errors.JOSENotSupported,
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
];

/** An RFC 6750 error: the status, the WWW-Authenticate challenge and a JSON body. */
class BearerError extends Error {
  constructor(
    readonly status: 400 | 401 | 403,
    readonly code: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication' | undefined,
    readonly description: string,
    readonly scope?: string,
    /** RFC 9470 §3: what sign-in would do. */
    readonly stepUp?: { acrValues?: string; maxAge?: number },
  ) {
    super(description);
  }
}

/** Gatehouse could not be asked (down, timed out, wrong credentials): the call fails closed. */
class UpstreamUnavailable extends Error {}

export function createResourceServer(options: ResourceServerOptions): Koa {
  const now = options.now ?? Date.now;
  const base = options.issuer.replace(/\/+$/, '');
  const jwks = createRemoteJWKSet(new URL(`${base}/jwks`));
  const introspector = new Introspector(options, now);
  const notes = new Map<string, Note & { owner: string }>();
  let nextId = 1;

  async function verifyLocally(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'at+jwt', // RFC 9068: an ID token signed by the same keys must not pass for an access token
        algorithms: ['ES256'],
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
        currentDate: new Date(now()),
      });
      return payload;
    } catch (error) {
      if (TOKEN_ERRORS.some((kind) => error instanceof kind)) {
        const description = error instanceof errors.JWTExpired ? 'the access token has expired' : 'the access token is not valid here';
        throw new BearerError(401, 'invalid_token', description);
      }
      // The key set could not be fetched: that says nothing about the token.
      throw new UpstreamUnavailable(`cannot fetch ${base}/jwks: ${String(error)}`);
    }
  }

  /** RFC 9470: refuses a sensitive call whose sign-in is weaker or older than `stepUp` allows. */
  function checkSignIn(claims: JWTPayload): void {
    const { acrValues, maxAgeSeconds } = options.stepUp ?? {};
    if (acrValues?.length && !(typeof claims.acr === 'string' && acrValues.includes(claims.acr))) {
      throw new BearerError(401, 'insufficient_user_authentication', 'a stronger sign-in is required for this call', undefined, { acrValues: acrValues.join(' ') });
    }
    if (maxAgeSeconds !== undefined) {
      const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : 0;
      if (now() / 1000 - authTime > maxAgeSeconds) {
        throw new BearerError(401, 'insufficient_user_authentication', 'a more recent sign-in is required for this call', undefined, { maxAge: maxAgeSeconds });
      }
    }
  }

  /** Authenticates the call; `introspect` also asks Gatehouse whether the token still stands. */
  function requireToken(scope: string, mode: { introspect: boolean; sensitive?: boolean }) {
    return async (ctx: Context, next: Next) => {
      const token = bearerToken(ctx.get('authorization'));
      const claims = await verifyLocally(token);
      const granted = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
      if (!granted.includes(scope)) throw new BearerError(403, 'insufficient_scope', `this call needs the ${scope} scope`, scope);
      if (mode.sensitive) checkSignIn(claims);
      // After the scope check, so a token that could never do this costs Gatehouse nothing.
      if (mode.introspect && !(await introspector.isActive(token, claims.exp!))) {
        throw new BearerError(401, 'invalid_token', 'the access token is no longer active');
      }
      ctx.state.owner = claims.sub!;
      await next();
    };
  }

  const router = new Router();
  router.get('/notes', requireToken('notebook:read', { introspect: false }), (ctx) => {
    ctx.body = { notes: [...notes.values()].filter((n) => n.owner === ctx.state.owner).map(publicNote) };
  });
  router.post('/notes', requireToken('notebook:write', { introspect: false }), bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' }), (ctx) => {
    const text = (ctx.request as { body?: { text?: unknown } }).body?.text;
    if (typeof text !== 'string' || text.length === 0 || text.length > 2000) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'send {"text": "…"} with 1 to 2000 characters' };
      return;
    }
    const note = { id: String(nextId++), text, createdAt: new Date(now()).toISOString(), owner: ctx.state.owner as string };
    notes.set(note.id, note);
    ctx.status = 201;
    ctx.body = publicNote(note);
  });
  router.get('/notes/export', requireToken('notebook:read', { introspect: true, sensitive: true }), (ctx) => {
    const mine = [...notes.values()].filter((n) => n.owner === ctx.state.owner).map(publicNote);
    ctx.body = { exportedAt: new Date(now()).toISOString(), notes: mine };
  });
  router.delete('/notes/:id', requireToken('notebook:write', { introspect: true, sensitive: true }), (ctx) => {
    const note = notes.get(ctx.params.id ?? '');
    // Someone else's note reads as missing: its existence is not this caller's business.
    if (!note || note.owner !== ctx.state.owner) {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
      return;
    }
    notes.delete(note.id);
    ctx.status = 204;
  });

  const app = new Koa();
  app.use(errorResponses);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

function bearerToken(header: string): string {
  // RFC 6750 §3.1: a request with no credentials gets a bare challenge, without an error code.
  if (!header || !/^Bearer(?: |$)/i.test(header)) throw new BearerError(401, undefined, 'send an access token: Authorization: Bearer <token>');
  const match = BEARER.exec(header);
  if (!match) throw new BearerError(400, 'invalid_request', 'the Authorization header is not a Bearer token');
  return match[1]!;
}

function publicNote({ id, text, createdAt }: Note): Note {
  return { id, text, createdAt };
}

async function errorResponses(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    if (error instanceof BearerError) {
      const params = [
        'realm="notes"',
        ...(error.code ? [`error="${error.code}"`, `error_description="${error.description}"`] : []),
        ...(error.scope ? [`scope="${error.scope}"`] : []),
        ...(error.stepUp?.acrValues ? [`acr_values="${error.stepUp.acrValues}"`] : []),
        ...(error.stepUp?.maxAge !== undefined ? [`max_age="${error.stepUp.maxAge}"`] : []),
      ];
      ctx.status = error.status;
      ctx.set('WWW-Authenticate', `Bearer ${params.join(', ')}`);
      ctx.body = { error: error.code ?? 'unauthorized', error_description: error.description };
    } else if (error instanceof UpstreamUnavailable) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { error: 'temporarily_unavailable' };
      ctx.app.emit('error', error, ctx);
    } else if (isClientError(error)) {
      // e.g. a body that is not JSON, or too large: the body parser's 4xx, as JSON.
      ctx.status = error.status;
      ctx.body = { error: 'invalid_request', error_description: error.message };
    } else {
      throw error;
    }
  }
}

function isClientError(error: unknown): error is { status: number; message: string } {
  const status = (error as { status?: unknown })?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * RFC 7662 introspection with client_secret_basic, and a cache of positive answers whose
 * staleness is bounded: an answer is reused for at most `cacheSeconds`, never past the token's
 * `exp`. Negative answers are not cached: a dead token never comes back to life, and a caller
 * who replays one gains nothing from its rejection being fast.
 */
class Introspector {
  readonly #cacheMs: number;
  readonly #maxEntries: number;
  readonly #authorization: string;
  /** SHA-256 of the token → when the positive answer stops being usable (ms). */
  readonly #fresh = new Map<string, number>();
  #endpoint: Promise<URL> | undefined;

  constructor(
    private readonly options: ResourceServerOptions,
    private readonly now: () => number,
  ) {
    this.#cacheMs = Math.max(0, options.cacheSeconds ?? 0) * 1000;
    this.#maxEntries = options.cacheMaxEntries ?? DEFAULT_CACHE_MAX_ENTRIES;
    // RFC 6749 §2.3.1: both halves are form-encoded before base64.
    const { clientId, clientSecret } = options.introspection;
    const userPass = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
    this.#authorization = `Basic ${Buffer.from(userPass).toString('base64')}`;
  }

  async isActive(token: string, exp: number): Promise<boolean> {
    // Keyed by digest so the cache does not hand out bearer tokens to whoever reads the heap.
    const key = createHash('sha256').update(token).digest('base64url');
    const asked = this.now();
    const freshUntil = this.#fresh.get(key);
    if (freshUntil !== undefined) {
      if (asked < freshUntil) return true;
      this.#fresh.delete(key);
    }
    const answer = await this.#introspect(token);
    if (!answer.active) return false;
    if (this.#cacheMs > 0) {
      // Counted from before the request: Gatehouse's answer can be no older than that.
      const until = Math.min(asked + this.#cacheMs, exp * 1000, (answer.exp ?? Infinity) * 1000);
      if (until > this.now()) {
        if (this.#fresh.size >= this.#maxEntries) this.#fresh.delete(this.#fresh.keys().next().value!);
        this.#fresh.set(key, until);
      }
    }
    return true;
  }

  async #introspect(token: string): Promise<{ active: boolean; exp?: number }> {
    const endpoint = await this.#discover();
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        redirect: 'error',
        signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS),
      });
    } catch (error) {
      throw new UpstreamUnavailable(`introspection failed: ${String(error)}`);
    }
    // 401 here means our own credentials are wrong: an operator's problem, not the caller's.
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new UpstreamUnavailable(`introspection answered ${res.status}`);
    }
    const body = (await res.json().catch(() => undefined)) as { active?: unknown; exp?: unknown } | undefined;
    if (typeof body !== 'object' || body === null) throw new UpstreamUnavailable('introspection answered something other than JSON');
    return body.active === true ? { active: true, ...(typeof body.exp === 'number' ? { exp: body.exp } : {}) } : { active: false };
  }

  /** The endpoint comes from discovery, once; a failed attempt is forgotten so the next call retries. */
  #discover(): Promise<URL> {
    this.#endpoint ??= (async () => {
      const url = `${this.options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      try {
        const res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS) });
        if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
        const metadata = (await res.json()) as { issuer?: unknown; introspection_endpoint?: unknown };
        // OpenID Connect Discovery §4.3: metadata for another issuer is not to be trusted with our secret.
        if (metadata.issuer !== this.options.issuer) throw new Error(`${url} describes issuer ${String(metadata.issuer)}`);
        if (typeof metadata.introspection_endpoint !== 'string') throw new Error(`${url} names no introspection_endpoint`);
        return new URL(metadata.introspection_endpoint);
      } catch (error) {
        this.#endpoint = undefined;
        throw new UpstreamUnavailable(`discovery failed: ${String(error)}`);
      }
    })();
    return this.#endpoint;
  }
}

function main(): void {
  const missing = ['ISSUER', 'AUDIENCE', 'INTROSPECTION_CLIENT_ID', 'INTROSPECTION_CLIENT_SECRET'].filter((name) => !process.env[name]);
  if (missing.length > 0) {
    process.stderr.write(`Set ${missing.join(', ')} (see examples/resource-server/README.md).\n`);
    process.exit(78);
  }
  const env = process.env as Record<string, string>;
  const port = Number(env.PORT ?? 4000);
  const cacheSeconds = Number(env.CACHE_SECONDS ?? 0);
  const maxAge = env.STEP_UP_MAX_AGE === undefined ? undefined : Number(env.STEP_UP_MAX_AGE);
  if (!Number.isInteger(port) || !Number.isInteger(cacheSeconds) || cacheSeconds < 0 || (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge < 0))) {
    process.stderr.write('PORT, CACHE_SECONDS and STEP_UP_MAX_AGE must be whole numbers.\n');
    process.exit(78);
  }
  const acrValues = (env.STEP_UP_ACR_VALUES ?? '').split(' ').filter(Boolean);
  const app = createResourceServer({
    issuer: env.ISSUER!,
    audience: env.AUDIENCE!,
    introspection: { clientId: env.INTROSPECTION_CLIENT_ID!, clientSecret: env.INTROSPECTION_CLIENT_SECRET! },
    cacheSeconds,
    ...(acrValues.length || maxAge !== undefined ? { stepUp: { ...(acrValues.length ? { acrValues } : {}), ...(maxAge !== undefined ? { maxAgeSeconds: maxAge } : {}) } } : {}),
  });
  app.on('error', (error: unknown) => process.stderr.write(`${String(error)}\n`));
  app.listen(port, () => process.stdout.write(`Notes API for ${env.AUDIENCE} listening on http://localhost:${port}\n`));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
