// A small notes API that accepts Gatehouse's access tokens: the reference for API authors.
//
//   GET    /notes      notebook:read   ordinary: the token is verified locally, no call to Gatehouse
//   POST   /notes      notebook:write  ordinary
//   DELETE /notes/:id  notebook:write  sensitive: verified locally, then introspected (RFC 7662)
//   POST   /security-events              Gatehouse pushes Security Event Tokens here (RFC 8935),
//                      unless the API polls for them instead (`pollEvents`, RFC 8936)
//   POST   /notes/:id/archive  notebook:write  calls another API (the archive) for the person: the
//                      caller's token is exchanged for one aimed at the archive (RFC 8693)
//   GET    /notes/export notebook:read  sensitive: the whole notebook at once
//
// With `stepUp` set, a sensitive call also needs a strong and recent enough sign-in behind the
// token (its `acr` and `auth_time`, RFC 9068 §2.2.1); a weaker or older one gets RFC 9470's
// challenge, `error="insufficient_user_authentication"` with the `acr_values` or `max_age` to ask
// Gatehouse for, and the app signs the person in again with those and retries.
//
// A DPoP-bound token (RFC 9449: `cnf.jkt` in the token) is only honoured as `Authorization: DPoP
// <token>` with a `DPoP` proof signed by that key, for this method and URL, made just now, naming
// this token (`ath`), and never seen before (`jti`): a stolen bound token is useless without the key.
//
// Local verification alone cannot see a revocation: a revoked token keeps working until it
// expires. Introspection sees it at once, at the price of a round trip to Gatehouse per call (or of
// up to `cacheSeconds` of staleness when answers are cached). With the events endpoint registered
// (`gatehouse resource update --identifier … --events-endpoint https://…/security-events`),
// Gatehouse pushes each revocation as it happens: the API denies the revoked grant's tokens and
// drops what it cached of them at once, so local verification is as fresh as introspection. An
// API that Gatehouse cannot reach registers `--events-endpoint urn:ietf:rfc:8936` and polls for
// the same events (`pollEvents`): a poll held open at Gatehouse answers as a revocation happens.
// README.md says when to choose which.
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify, type JWK, type JWTPayload } from 'jose';

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
  /**
   * Where callers reach this API, e.g. https://notes.example.com: DPoP proofs name it (`htu`). From
   * configuration, never from the request's Host, which the caller chooses. Default: `audience`.
   */
  url?: string;
  /** The clock, in milliseconds since the epoch (Date.now); injectable so tests need not sleep. */
  now?: () => number;
  /**
   * How long a pushed revocation is remembered, in seconds: at least the longest access-token
   * lifetime Gatehouse may give this API (ACCESS_TOKEN_TTL, or the API's own), after which every
   * token of the revoked grant has expired anyway. Default: one day, Gatehouse's upper bound.
   */
  revocationMemorySeconds?: number;
  /**
   * Another API this one calls for the person (POST /notes/:id/archive): its identifier, as
   * registered, and where it listens. The operator allows the call with
   * `gatehouse resource update --identifier <this API> --may-exchange-for <its identifier>`.
   */
  archive?: { identifier: string; url: string };
  /**
   * RFC 9470 step-up for sensitive calls: the token's `acr` must be one of `acrValues` (in order
   * of preference, as the challenge names them), and its `auth_time` no older than `maxAgeSeconds`.
   */
  stepUp?: { acrValues?: string[]; maxAgeSeconds?: number };
  /**
   * Ask Gatehouse for security events (RFC 8936, POST /ssf/poll with the introspection
   * credentials) instead of waiting for pushes: for an API Gatehouse cannot reach. Register
   * `--events-endpoint urn:ietf:rfc:8936` for it. Stop with `stopPollingEvents()`.
   */
  pollEvents?: boolean;
}

export interface Note { id: string; text: string; createdAt: string }

/** The API; with `pollEvents`, its poll for security events runs until stopPollingEvents(). */
export type ResourceServer = Koa & { stopPollingEvents(): Promise<void> };

const DEFAULT_CACHE_MAX_ENTRIES = 10_000;
const DEFAULT_REVOCATION_MEMORY_SECONDS = 86_400;
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
const ACCOUNT_PURGED = 'https://schemas.openid.net/secevent/risc/event-type/account-purged';
const INTROSPECTION_TIMEOUT_MS = 5_000;
/** How long one poll for security events may take: Gatehouse holds it open for up to 25 s. */
const POLL_TIMEOUT_MS = 35_000;

/** RFC 6750 §2.1: `Bearer` (or RFC 9449 §7.1: `DPoP`) followed by a b64token. */
const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** DPoP proof algorithms accepted: Gatehouse's dpop_signing_alg_values_supported. */
const DPOP_ALGORITHMS = ['ES256', 'PS256', 'Ed25519', 'EdDSA'];
/** How far a proof's iat may be from now; a proof's jti is remembered this long either way. */
const DPOP_WINDOW_SECONDS = 300;

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
    readonly code: 'invalid_request' | 'invalid_token' | 'invalid_dpop_proof' | 'insufficient_scope' | 'insufficient_user_authentication' | undefined,
    readonly description: string,
    readonly scope?: string,
    /** The challenge's scheme: DPoP when the token is DPoP-bound or was sent as one. */
    readonly scheme: 'Bearer' | 'DPoP' = 'Bearer',
    /** RFC 9470 §3: what sign-in would do. */
    readonly stepUp?: { acrValues?: string; maxAge?: number },
  ) {
    super(description);
  }
}

/** Gatehouse could not be asked (down, timed out, wrong credentials): the call fails closed. */
class UpstreamUnavailable extends Error {}

export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const now = options.now ?? Date.now;
  const base = options.issuer.replace(/\/+$/, '');
  const jwks = createRemoteJWKSet(new URL(`${base}/jwks`));
  const gatehouse = new GatehouseClient(options);
  const introspector = new Introspector(gatehouse, options, now);
  const revoked = new Revocations(now, (options.revocationMemorySeconds ?? DEFAULT_REVOCATION_MEMORY_SECONDS) * 1000);
  const proofs = new ProofChecker(options.url ?? options.audience, now);
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
      throw new BearerError(401, 'insufficient_user_authentication', 'a stronger sign-in is required for this call', undefined, 'Bearer', { acrValues: acrValues.join(' ') });
    }
    if (maxAgeSeconds !== undefined) {
      const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : 0;
      if (now() / 1000 - authTime > maxAgeSeconds) {
        throw new BearerError(401, 'insufficient_user_authentication', 'a more recent sign-in is required for this call', undefined, 'Bearer', { maxAge: maxAgeSeconds });
      }
    }
  }

  /** Authenticates the call; `introspect` also asks Gatehouse whether the token still stands. */
  function requireToken(scope: string, mode: { introspect: boolean; sensitive?: boolean }) {
    return async (ctx: Context, next: Next) => {
      const { scheme, token } = credentials(ctx.get('authorization'));
      const claims = await verifyLocally(token);
      await proofs.check(ctx, scheme, token, claims);
      // Pushed by Gatehouse (POST /security-events): no call to anyone, and no waiting for exp.
      if (revoked.denies(claims)) throw new BearerError(401, 'invalid_token', 'the access token was revoked');
      const granted = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
      if (!granted.includes(scope)) throw new BearerError(403, 'insufficient_scope', `this call needs the ${scope} scope`, scope);
      if (mode.sensitive) checkSignIn(claims);
      // After the scope check, so a token that could never do this costs Gatehouse nothing.
      if (mode.introspect && !(await introspector.isActive(token, claims))) {
        throw new BearerError(401, 'invalid_token', 'the access token is no longer active');
      }
      ctx.state.owner = claims.sub!;
      ctx.state.token = token;
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

  /**
   * RFC 8935 push delivery: a SET is verified with Gatehouse's keys (its issuer, this API as the
   * audience, typ secevent+jwt), then acted on, then acknowledged with 202. A SET that fails
   * verification gets 400 and an RFC 8935 error, which Gatehouse logs and does not send again;
   * when the keys cannot be fetched the answer is 503, and Gatehouse retries.
   */
  const seen = new Map<string, number>();
  /**
   * Acts on one SET, pushed or polled: undefined once it verified (and was acted on, the first time
   * its jti is seen), else the RFC 8935 error code to refuse it with. Throws UpstreamUnavailable
   * when Gatehouse's keys cannot be fetched: then the SET is neither taken nor refused.
   */
  async function receive(text: string): Promise<string | undefined> {
    let set: JWTPayload;
    try {
      ({ payload: set } = await jwtVerify(text, jwks, { issuer: options.issuer, audience: options.audience, typ: 'secevent+jwt', algorithms: ['ES256', 'RS256'], requiredClaims: ['jti', 'iat'] }));
    } catch (error) {
      if (!TOKEN_ERRORS.some((kind) => error instanceof kind)) throw new UpstreamUnavailable(`cannot fetch ${base}/jwks: ${String(error)}`);
      const claim = (error as { claim?: unknown }).claim;
      return claim === 'iss' ? 'invalid_issuer' : claim === 'aud' ? 'invalid_audience' : 'invalid_key';
    }
    // Gatehouse may send a SET again if our 202 (or acknowledgement) was lost: the jti says it is the same one.
    if (!seen.has(set.jti!)) {
      seen.set(set.jti!, now());
      if (seen.size > DEFAULT_CACHE_MAX_ENTRIES) seen.delete(seen.keys().next().value!);
      const events = (set.events ?? {}) as Record<string, unknown>;
      const subject = set.sub_id as { sub?: string; user?: { sub?: string }; session?: { id?: string } } | undefined;
      if (events[SESSION_REVOKED] && subject?.session?.id) {
        revoked.grant(subject.session.id);
        introspector.forgetGrant(subject.session.id);
      }
      if ((events[ACCOUNT_DISABLED] || events[ACCOUNT_PURGED]) && subject?.sub) {
        revoked.person(subject.sub, set.iat!);
        introspector.forgetPerson(subject.sub);
      }
    }
    return undefined;
  }

  router.post('/security-events', async (ctx) => {
    if (ctx.request.type !== 'application/secevent+jwt') return setError(ctx, 'invalid_request', 'send a SET as application/secevent+jwt');
    const err = await receive(await readText(ctx));
    if (err) return setError(ctx, err, 'the SET did not verify');
    ctx.status = 202;
  });

  router.post('/notes/:id/archive', requireToken('notebook:write', { introspect: false }), async (ctx) => {
    const note = notes.get(ctx.params.id ?? '');
    if (!note || note.owner !== ctx.state.owner) {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
      return;
    }
    if (!options.archive) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no archive is configured' };
      return;
    }
    // Never forward the caller's token: it names this API as its audience, and the archive must
    // see who is calling. The exchanged one names the archive, the person (sub) and this API (act).
    const token = await gatehouse.exchange(ctx.state.token as string, options.archive.identifier);
    let res: Response;
    try {
      res = await fetch(new URL('/archive', options.archive.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: note.text }),
        signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS),
      });
    } catch (error) {
      throw new UpstreamUnavailable(`the archive cannot be reached: ${String(error)}`);
    }
    await res.body?.cancel();
    ctx.status = res.ok ? 202 : 502;
    ctx.body = res.ok ? { archived: note.id } : { error: 'archive_refused', error_description: `the archive answered ${res.status}` };
  });

  const app = new Koa();
  app.use(errorResponses);
  app.use(router.routes());
  app.use(router.allowedMethods());
  const stopPolling = options.pollEvents ? pollEvents(gatehouse, receive, (error) => app.emit('error', error)) : async () => {};
  return Object.assign(app, { stopPollingEvents: stopPolling });
}

/** The longest pause between two polls after Gatehouse could not be asked. */
const MAX_POLL_BACKOFF_MS = 60_000;
/** The shortest time between two polls that brought nothing. */
const MIN_EMPTY_POLL_INTERVAL_MS = 1_000;

/**
 * RFC 8936: asks Gatehouse for this API's SETs, over and over, each poll held open at Gatehouse
 * until one is written; acknowledges what `receive` took and refuses what it refused in the next
 * poll. A SET whose keys could not be fetched is neither: Gatehouse hands it out again. Returns
 * what stops it.
 */
function pollEvents(gatehouse: GatehouseClient, receive: (set: string) => Promise<string | undefined>, report: (error: unknown) => void): () => Promise<void> {
  const stop = new AbortController();
  /** Waits `ms`, or less if stopped meanwhile. */
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const stopped = () => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(() => { stop.signal.removeEventListener('abort', stopped); resolve(); }, ms);
    stop.signal.addEventListener('abort', stopped, { once: true });
  });
  const loop = (async () => {
    let ack: string[] = [];
    let setErrs: Record<string, { err: string; description: string }> = {};
    let backoffMs = 1_000;
    while (!stop.signal.aborted) {
      const started = Date.now();
      try {
        const sets = await gatehouse.poll({ ack, setErrs }, stop.signal);
        ack = [];
        setErrs = {};
        for (const [jti, set] of Object.entries(sets)) {
          const err = await receive(set);
          if (err) setErrs[jti] = { err, description: 'the SET did not verify' };
          else ack.push(jti);
        }
        backoffMs = 1_000;
        // Nothing came, at once: Gatehouse is not holding polls open (stopping, or configured not
        // to). Asking again straight away would only spin; what was taken is acknowledged anyway.
        if (!Object.keys(sets).length && Date.now() - started < MIN_EMPTY_POLL_INTERVAL_MS) await pause(MIN_EMPTY_POLL_INTERVAL_MS);
      } catch (error) {
        if (stop.signal.aborted) break;
        report(error);
        await pause(backoffMs);
        backoffMs = Math.min(backoffMs * 2, MAX_POLL_BACKOFF_MS);
      }
    }
  })();
  return async () => {
    stop.abort();
    await loop;
  };
}

function credentials(header: string): { scheme: 'Bearer' | 'DPoP'; token: string } {
  // RFC 6750 §3.1: a request with no credentials gets a bare challenge, without an error code.
  if (!header || !/^(Bearer|DPoP)(?: |$)/i.test(header)) throw new BearerError(401, undefined, 'send an access token: Authorization: Bearer <token> (or DPoP <token> with a DPoP proof)');
  const match = CREDENTIALS.exec(header);
  if (!match) throw new BearerError(400, 'invalid_request', 'the Authorization header is not a Bearer or DPoP token');
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
}

/**
 * DPoP proofs (RFC 9449 §4.3, §7.1), checked only when a proof is sent or the token is bound, so a
 * plain bearer call costs nothing more. Used jtis are kept in this process's memory for as long as
 * their proof could pass the iat check: enough for one process. Several processes behind one URL
 * need a shared store for them (Redis, the database), or a proof replayed at another process passes.
 */
class ProofChecker {
  /** jti (with the key's thumbprint) → when it may be forgotten (ms). */
  readonly #seen = new Map<string, number>();

  constructor(
    private readonly url: string,
    private readonly now: () => number,
  ) {}

  async check(ctx: Context, scheme: 'Bearer' | 'DPoP', token: string, claims: JWTPayload): Promise<void> {
    const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt;
    const proof = ctx.get('dpop');
    if (typeof jkt !== 'string') {
      if (scheme === 'DPoP' || proof) throw new BearerError(401, 'invalid_token', 'the access token is not DPoP-bound: send it as Bearer, without a DPoP proof');
      return;
    }
    const refuse = (description: string) => new BearerError(401, 'invalid_dpop_proof', description, undefined, 'DPoP');
    if (scheme !== 'DPoP') throw new BearerError(401, 'invalid_token', 'the access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof', undefined, 'DPoP');
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(proof)) throw refuse('send exactly one DPoP proof in the DPoP header');
    let jwk: JWK;
    let payload: JWTPayload;
    try {
      jwk = decodeProtectedHeader(proof).jwk as JWK;
      if (!jwk || 'd' in jwk) throw new Error('the proof must name a public key');
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGORITHMS }));
    } catch {
      throw refuse('the DPoP proof is not a dpop+jwt signed by the key in its header');
    }
    const nowSeconds = Math.floor(this.now() / 1000);
    const expected = new URL(ctx.path, this.url.replace(/\/*$/, '/')).href;
    if (payload.htm !== ctx.method) throw refuse('the DPoP proof is for another method');
    if (typeof payload.htu !== 'string' || withoutQuery(payload.htu) !== expected) throw refuse('the DPoP proof is for another URL');
    if (typeof payload.iat !== 'number' || Math.abs(nowSeconds - payload.iat) > DPOP_WINDOW_SECONDS) throw refuse('the DPoP proof was not made just now');
    if (payload.ath !== createHash('sha256').update(token).digest('base64url')) throw refuse('the DPoP proof is for another access token');
    if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw refuse('the DPoP proof has no jti');
    const thumbprint = await calculateJwkThumbprint(jwk);
    // The token is bound to one key: a proof by any other, however valid, is someone else's.
    if (thumbprint !== jkt) throw new BearerError(401, 'invalid_token', 'the DPoP proof is signed by another key than the token is bound to', undefined, 'DPoP');
    this.#remember(`${thumbprint} ${payload.jti}`, refuse);
  }

  #remember(id: string, refuse: (description: string) => BearerError): void {
    const now = this.now();
    for (const [seen, until] of this.#seen) {
      if (until > now) break; // inserted in time order: the rest are younger
      this.#seen.delete(seen);
    }
    if (this.#seen.has(id)) throw refuse('the DPoP proof was used before: make a new one for every request');
    this.#seen.set(id, now + 2 * DPOP_WINDOW_SECONDS * 1000);
  }
}

function withoutQuery(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    parsed.search = '';
    parsed.hash = '';
    return parsed.href;
  } catch {
    return undefined;
  }
}

/** RFC 8935 §2.3: a SET refused for good, with one of its error codes. */
function setError(ctx: Context, err: string, description: string): void {
  ctx.status = 400;
  ctx.body = { err, description };
}

async function readText(ctx: Context): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw Object.assign(new Error('the SET is too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * What Gatehouse pushed: grants revoked (their tokens carry the grant id in `grant_id`), and people
 * disabled (tokens issued to them up to then). Kept as long as any token they cover may live.
 */
class Revocations {
  /** grant id → until when it is remembered (ms). */
  readonly #grants = new Map<string, number>();
  /** sub → the iat (s) of the SET that disabled them, and until when it is remembered (ms). */
  readonly #people = new Map<string, { at: number; until: number }>();

  constructor(private readonly now: () => number, private readonly memoryMs: number) {}

  grant(grantId: string): void {
    this.#sweep();
    this.#grants.set(grantId, this.now() + this.memoryMs);
  }

  person(sub: string, at: number): void {
    this.#sweep();
    this.#people.set(sub, { at, until: this.now() + this.memoryMs });
  }

  denies(claims: JWTPayload): boolean {
    if (typeof claims.grant_id === 'string' && this.#grants.has(claims.grant_id)) return true;
    const disabled = claims.sub ? this.#people.get(claims.sub) : undefined;
    return disabled !== undefined && (claims.iat ?? 0) <= disabled.at;
  }

  #sweep(): void {
    const now = this.now();
    for (const [grantId, until] of this.#grants) if (until <= now) this.#grants.delete(grantId);
    for (const [sub, { until }] of this.#people) if (until <= now) this.#people.delete(sub);
  }
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
      const algs = error.scheme === 'DPoP' ? [`algs="${DPOP_ALGORITHMS.join(' ')}"`] : [];
      ctx.set('WWW-Authenticate', `${error.scheme} ${[...params, ...algs].join(', ')}`);
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
  /** SHA-256 of the token → when the positive answer stops being usable (ms), and whose it is. */
  readonly #fresh = new Map<string, { until: number; grantId: unknown; sub: unknown }>();

  constructor(
    private readonly gatehouse: GatehouseClient,
    options: ResourceServerOptions,
    private readonly now: () => number,
  ) {
    this.#cacheMs = Math.max(0, options.cacheSeconds ?? 0) * 1000;
    this.#maxEntries = options.cacheMaxEntries ?? DEFAULT_CACHE_MAX_ENTRIES;
  }

  /** Drops the cached answers about a revoked grant's tokens: the next sensitive call asks again. */
  forgetGrant(grantId: string): void {
    for (const [key, entry] of this.#fresh) if (entry.grantId === grantId) this.#fresh.delete(key);
  }

  forgetPerson(sub: string): void {
    for (const [key, entry] of this.#fresh) if (entry.sub === sub) this.#fresh.delete(key);
  }

  async isActive(token: string, claims: JWTPayload): Promise<boolean> {
    const exp = claims.exp!;
    // Keyed by digest so the cache does not hand out bearer tokens to whoever reads the heap.
    const key = createHash('sha256').update(token).digest('base64url');
    const asked = this.now();
    const freshUntil = this.#fresh.get(key)?.until;
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
        this.#fresh.set(key, { until, grantId: claims.grant_id, sub: claims.sub });
      }
    }
    return true;
  }

  async #introspect(token: string): Promise<{ active: boolean; exp?: number }> {
    const res = await this.gatehouse.post('introspection_endpoint', { token, token_type_hint: 'access_token' });
    // 401 here means our own credentials are wrong: an operator's problem, not the caller's.
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new UpstreamUnavailable(`introspection answered ${res.status}`);
    }
    const body = (await res.json().catch(() => undefined)) as { active?: unknown; exp?: unknown } | undefined;
    if (typeof body !== 'object' || body === null) throw new UpstreamUnavailable('introspection answered something other than JSON');
    return body.active === true ? { active: true, ...(typeof body.exp === 'number' ? { exp: body.exp } : {}) } : { active: false };
  }
}

/**
 * This API's calls to Gatehouse, with the credentials `gatehouse resource create` printed
 * (client_secret_basic): introspection, and token exchange. The endpoints come from discovery.
 */
class GatehouseClient {
  readonly #authorization: string;
  #metadata: Promise<Record<string, unknown>> | undefined;

  constructor(private readonly options: ResourceServerOptions) {
    // RFC 6749 §2.3.1: both halves are form-encoded before base64.
    const { clientId, clientSecret } = options.introspection;
    const userPass = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
    this.#authorization = `Basic ${Buffer.from(userPass).toString('base64')}`;
  }

  /** A form POST to one of Gatehouse's endpoints, authenticated as this API; unreachable is UpstreamUnavailable. */
  async post(endpoint: 'introspection_endpoint' | 'token_endpoint', form: Record<string, string>): Promise<Response> {
    const url = await this.#endpoint(endpoint);
    try {
      return await fetch(url, {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(form),
        redirect: 'error',
        signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS),
      });
    } catch (error) {
      throw new UpstreamUnavailable(`${endpoint} failed: ${String(error)}`);
    }
  }

  /**
   * RFC 8693: the person's token this API was sent, exchanged for one aimed at `audience`. A revoked
   * token is the caller's 401; another refusal (this API may not call it, the person allowed the app
   * nothing there) the caller's 403; anything else means Gatehouse cannot be asked.
   */
  async exchange(subjectToken: string, audience: string): Promise<string> {
    const res = await this.post('token_endpoint', {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      resource: audience,
    });
    const body = (await res.json().catch(() => undefined)) as { access_token?: unknown; error?: unknown; error_description?: unknown } | undefined;
    // The token verified here but Gatehouse no longer stands by it (revoked, its grant gone).
    if (res.status === 400 && body?.error === 'invalid_grant') throw new BearerError(401, 'invalid_token', 'the access token is no longer active');
    if (res.status === 400 && typeof body?.error === 'string') {
      throw new BearerError(403, 'insufficient_scope', `this call cannot be made for you (${body.error})`);
    }
    if (res.status !== 200 || typeof body?.access_token !== 'string') throw new UpstreamUnavailable(`token exchange answered ${res.status}`);
    return body.access_token;
  }

  /**
   * One poll for this API's security events (RFC 8936), held open at Gatehouse until one is
   * written (at most SECURITY_EVENTS_POLL_WAIT); the SETs by jti.
   */
  async poll(request: { ack: string[]; setErrs: Record<string, { err: string; description: string }> }, stop: AbortSignal): Promise<Record<string, string>> {
    let res: Response;
    try {
      res = await fetch(`${this.options.issuer.replace(/\/+$/, '')}/ssf/poll`, {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ ...request, maxEvents: 50 }),
        redirect: 'error',
        // Longer than Gatehouse holds a poll (25 s at most).
        signal: AbortSignal.any([stop, AbortSignal.timeout(POLL_TIMEOUT_MS)]),
      });
    } catch (error) {
      throw new UpstreamUnavailable(`polling for security events failed: ${String(error)}`);
    }
    const body = (await res.json().catch(() => undefined)) as { sets?: unknown; err?: unknown } | undefined;
    if (res.status !== 200 || !body?.sets || typeof body.sets !== 'object') throw new UpstreamUnavailable(`polling for security events answered ${res.status}${typeof body?.err === 'string' ? ` ${body.err}` : ''}`);
    return body.sets as Record<string, string>;
  }

  async #endpoint(name: string): Promise<URL> {
    const metadata = await this.#discover();
    if (typeof metadata[name] !== 'string') throw new UpstreamUnavailable(`discovery names no ${name}`);
    return new URL(metadata[name] as string);
  }

  /** Discovery, once; a failed attempt is forgotten so the next call retries. */
  #discover(): Promise<Record<string, unknown>> {
    this.#metadata ??= (async () => {
      const url = `${this.options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      try {
        const res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS) });
        if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
        const metadata = (await res.json()) as Record<string, unknown>;
        // OpenID Connect Discovery §4.3: metadata for another issuer is not to be trusted with our secret.
        if (metadata.issuer !== this.options.issuer) throw new Error(`${url} describes issuer ${String(metadata.issuer)}`);
        return metadata;
      } catch (error) {
        this.#metadata = undefined;
        throw new UpstreamUnavailable(`discovery failed: ${String(error)}`);
      }
    })();
    return this.#metadata;
  }
}

function main(): void {
  const missing = ['ISSUER', 'AUDIENCE', 'INTROSPECTION_CLIENT_ID', 'INTROSPECTION_CLIENT_SECRET'].filter((name) => !process.env[name]);
  if (!!process.env.ARCHIVE_IDENTIFIER !== !!process.env.ARCHIVE_URL) missing.push('both ARCHIVE_IDENTIFIER and ARCHIVE_URL, or neither');
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
    ...(env.ARCHIVE_IDENTIFIER ? { archive: { identifier: env.ARCHIVE_IDENTIFIER, url: env.ARCHIVE_URL! } } : {}),
    ...(env.URL ? { url: env.URL } : {}),
    ...(acrValues.length || maxAge !== undefined ? { stepUp: { ...(acrValues.length ? { acrValues } : {}), ...(maxAge !== undefined ? { maxAgeSeconds: maxAge } : {}) } } : {}),
    pollEvents: env.POLL_EVENTS === 'true',
  });
  app.on('error', (error: unknown) => process.stderr.write(`${String(error)}\n`));
  app.listen(port, () => process.stdout.write(`Notes API for ${env.AUDIENCE} listening on http://localhost:${port}\n`));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
