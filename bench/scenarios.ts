// The load: one function per request scenario, each against a Target (Gatehouse, or the ceiling),
// each returning the same measurements (ScenarioResult). They use autocannon over keep-alive
// connections (the introspection scenarios then again at half that throughput, evenly paced:
// pacer.ts). The authorization-code flow scenario is in flow.ts: each flow is a conversation
// (sign-in page, login, redirects, code exchange) rather than one request.
import autocannon from 'autocannon';
import type { CpuReading } from './cpu.js';
import { pacer } from './pacer.js';
import { percentiles, type Percentiles } from './stats.js';
import type { WindowSample } from './verdict.js';

export interface Credentials { clientId: string; clientSecret: string }

export interface Target {
  label: 'gatehouse' | 'ceiling';
  base: string;
  app: Credentials;
  machine: Credentials;
  api: Credentials;
  /** Consumed one per request; each rotation's new refresh token goes back into the pool. */
  refreshTokens: string[];
  /** More refresh tokens for the pool, minted as the pool's first ones were. */
  mintRefreshTokens?: (count: number) => Promise<string[]>;
  introspectedRefreshToken: string;
  /** A JWT access token issued for the API; undefined where the server cannot introspect one. */
  jwtAccessToken: string | undefined;
  /** Where it cannot (the ceiling): an opaque access token issued for the API, for the API to introspect. */
  opaqueApiAccessToken?: string;
  userinfoAccessToken: string;
  /** For the authorization-code flow: people who already consented to `app`. */
  people?: Array<{ email: string; password: string }>;
  redirectUri?: string;
  apiScope: string;
  /** The API's identifier, sent as `resource` (RFC 8707) so access tokens are JWTs for it. */
  apiIdentifier: string;
}

export interface LoadOptions {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  /** After the saturated window, measure a paced one at half its throughput (pacedWindow). */
  paced?: boolean;
}

/** The same requests over the same connections, sent at a fixed rate rather than as fast as answered. */
export interface PacedResult {
  /** Requests per second sent: half the saturated window's successful requests per second, rounded down. */
  offeredRate: number;
  /** Successful requests per second, from the window's start to its last answer. */
  requestsPerSecond: number;
  latency: Percentiles;
  errors: number;
  completed: number;
  /** Requests that found every connection busy when due, so went out late (latency counts from going out). */
  waitedForConnection: number;
  connections: number;
  seconds: number;
  /** What the paced window cost, as for the saturated one; otherCores says whether other work disturbed it. */
  cpu?: CpuSummary;
}

export interface ScenarioResult {
  scenario: string;
  target: Target['label'];
  /** Completed requests (or flows) in the measured window. */
  completed: number;
  perSecond: number;
  latencyMs: Percentiles;
  errors: number;
  /** With LoadOptions.paced: the window at half this one's throughput, right after it. */
  paced?: PacedResult;
  /** Database queries per completed request, counted on the Gatehouse side; null for the ceiling. */
  dbRoundTripsPerRequest: number | null;
  connections: number;
  seconds: number;
  /** Gatehouse processes behind the proxy (1: none). */
  instances?: number;
  /** What the measured window cost in CPU, per request and per core (bench/cpu.ts). */
  cpu?: CpuSummary;
  notes?: string;
  /**
   * Every window this scenario was measured in on this server, in the order run (alternating with
   * the other servers': run.ts). The row's own figures are those of one of them (verdict.ts:
   * representative); the targets are judged on all of them.
   */
  windows?: WindowSample[];
  /**
   * On a ceiling row that measures a different request from the Gatehouse scenario it is the
   * ceiling for: that scenario's name, and what the ceiling did instead, in words for the report.
   */
  standsInFor?: { scenario: string; as: string };
}

export interface CpuSummary extends CpuReading {
  /** Server CPU (all Gatehouse instances, or the ceiling) per successful request, in ms. */
  serverCpuMsPerRequest: number;
  /** The part of it on the main thread (event loop); the rest is argon2id, webcrypto, GC helpers. */
  serverMainThreadCpuMsPerRequest: number;
  /** The part of it in the kernel. */
  serverSystemCpuMsPerRequest: number;
  /** PostgreSQL backend CPU per successful request, in ms; null for the ceiling. */
  postgresCpuMsPerRequest: number | null;
  /** Successful requests per second of server CPU: what one fully busy core would serve. */
  perServerCpuSecond: number;
  /** The same, counting PostgreSQL's CPU too. */
  perCpuSecondWithPostgres: number | null;
}

/** What a measured window cost on the server side. */
export interface ProbeReading {
  /** Database queries sent by Gatehouse (summed over instances); null for the ceiling. */
  queries: number | null;
  cpu: CpuReading | undefined;
}

/** Called as the measured window opens; the function it returns is called as it closes. */
export type Probe = () => Promise<() => Promise<ProbeReading>>;

export function summariseCpu(cpu: CpuReading | undefined, ok: number): CpuSummary | undefined {
  if (!cpu || ok <= 0) return undefined;
  const withPostgres = cpu.postgresCpuSeconds === null ? null : cpu.serverCpuSeconds + cpu.postgresCpuSeconds;
  return {
    ...cpu,
    serverCpuMsPerRequest: (1000 * cpu.serverCpuSeconds) / ok,
    serverMainThreadCpuMsPerRequest: (1000 * cpu.serverMainThreadCpuSeconds) / ok,
    serverSystemCpuMsPerRequest: (1000 * cpu.serverSystemCpuSeconds) / ok,
    postgresCpuMsPerRequest: cpu.postgresCpuSeconds === null ? null : (1000 * cpu.postgresCpuSeconds) / ok,
    perServerCpuSecond: cpu.serverCpuSeconds > 0 ? ok / cpu.serverCpuSeconds : NaN,
    perCpuSecondWithPostgres: withPostgres ? ok / withPostgres : null,
  };
}

export function basic({ clientId, clientSecret }: Credentials): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

const FORM = 'application/x-www-form-urlencoded';

type Request = autocannon.Request;

/** One autocannon run; latencies come from every response (autocannon's summary has no p95), into
 *  `latencies` as they arrive (the soak counts them while it runs), sorted at the end. */
export async function cannon(base: string, requests: Request[], connections: number, seconds: number, latencies: number[] = []) {
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: base, connections, duration: seconds, pipelining: 1, requests }, (error, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', (_client, _status, _bytes, responseTime) => { latencies.push(responseTime); });
  });
  latencies.sort((a, b) => a - b);
  return { result, latencies };
}


/** After a saturated window: the same requests at half its throughput, paced, with the same warm-up and length. */
async function pacedWindow(base: string, requests: (wrong: () => void) => Request[], load: LoadOptions, offeredRate: number, probe: Probe | undefined): Promise<PacedResult> {
  const connections = pacer(base, load.connections);
  try {
    if (load.warmupSeconds > 0) await connections.run(requests(() => {}), load.warmupSeconds, offeredRate);
    let wrong = 0;
    const finish = probe ? await probe() : undefined;
    const { latencies, failed, non2xx, waited, elapsed } = await connections.run(requests(() => { wrong += 1; }), load.seconds, offeredRate);
    const reading = finish ? await finish() : undefined;
    const ok = latencies.length - non2xx - wrong;
    return {
      offeredRate,
      requestsPerSecond: ok / elapsed,
      latency: percentiles(latencies),
      errors: failed + non2xx + wrong,
      completed: latencies.length,
      waitedForConnection: waited,
      connections: load.connections,
      seconds: load.seconds,
      ...(reading?.cpu ? { cpu: summariseCpu(reading.cpu, ok) } : {}),
    };
  } finally {
    connections.close();
  }
}

/**
 * Warm-up, then the measured run. `wrong` counts 2xx answers that are not what the scenario
 * expects (an introspection saying active: false is a 200, but not a success).
 */
async function measure(
  scenario: string,
  target: Target,
  load: LoadOptions,
  requests: (wrong: () => void) => Request[],
  probe: Probe | undefined,
  notes?: string,
): Promise<ScenarioResult> {
  if (load.warmupSeconds > 0) await cannon(target.base, requests(() => {}), load.connections, load.warmupSeconds);
  let wrong = 0;
  const finish = probe ? await probe() : undefined;
  const { result, latencies } = await cannon(target.base, requests(() => { wrong += 1; }), load.connections, load.seconds);
  const reading = finish ? await finish() : undefined;
  const completed = result.requests.total;
  const ok = completed - result.non2xx - wrong;
  const perSecond = ok / load.seconds;
  const offeredRate = Math.floor(perSecond / 2);
  const paced = load.paced && offeredRate >= 1 ? await pacedWindow(target.base, requests, load, offeredRate, probe) : undefined;
  return {
    scenario,
    target: target.label,
    completed,
    perSecond,
    latencyMs: percentiles(latencies),
    errors: result.errors + result.timeouts + result.non2xx + wrong,
    ...(paced ? { paced } : {}),
    dbRoundTripsPerRequest: reading?.queries != null && completed ? reading.queries / completed : null,
    connections: load.connections,
    seconds: load.seconds,
    ...(reading?.cpu ? { cpu: summariseCpu(reading.cpu, ok) } : {}),
    ...(notes ? { notes } : {}),
  };
}

export function post(path: string, auth: Credentials, body: Record<string, string>): Request {
  return { method: 'POST', path, headers: { 'content-type': FORM, authorization: basic(auth) }, body: new URLSearchParams(body).toString() };
}

/** A token response must carry a JWT access token (header.payload.signature), or it counts as an error. */
export function accessTokenOf(body: string): string | undefined {
  try {
    const token = (JSON.parse(body) as { access_token?: unknown }).access_token;
    return typeof token === 'string' && token.split('.').length === 3 ? token : undefined;
  } catch {
    return undefined;
  }
}

export function clientCredentials(target: Target, load: LoadOptions, probe?: Probe) {
  return measure('client_credentials', target, load, (wrong) => [{
    ...post('/token', target.machine, { grant_type: 'client_credentials', scope: target.apiScope, resource: target.apiIdentifier }),
    onResponse(status, body) {
      if (status === 200 && !accessTokenOf(body)) wrong();
    },
  }], probe);
}

/**
 * The refresh tokens a window needs: one per connection at a time, plus slack, plus what its load
 * runs lose. A run (the warm-up, the measured one, and the paced pair) ends with up to one request
 * per connection in flight, whose rotated token never comes back: the server consumed the token,
 * and its successor is dropped with the connection. With alternating windows a scenario makes
 * several runs per server, so the pool is topped up before each window, or a later one starts dry.
 */
export function refreshPoolSize(load: LoadOptions): number {
  const runs = load.paced ? 4 : 2;
  return load.connections * (2 + runs) + 8;
}

export async function refresh(target: Target, load: LoadOptions, probe?: Probe) {
  const pool = target.refreshTokens;
  const short = refreshPoolSize(load) - pool.length;
  if (short > 0 && target.mintRefreshTokens) pool.push(...(await target.mintRefreshTokens(short)));
  let starved = 0;
  return measure('refresh_token (rotating)', target, load, (wrong) => [{
    ...post('/token', target.app, { grant_type: 'refresh_token', refresh_token: 'placeholder' }),
    setupRequest(request) {
      const token = pool.shift();
      if (!token) starved += 1;
      request.body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token ?? 'pool-empty' }).toString();
      return request;
    },
    onResponse(status, body) {
      if (status !== 200) return;
      if (!accessTokenOf(body)) wrong();
      const next = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
      if (next) pool.push(next);
    },
  }], probe).then((result) => (starved ? { ...result, notes: `refresh-token pool ran dry ${starved} times` } : result));
}

/** An introspection answered 200 must also say the token is active, or it counts as an error. */
export function expectActive(wrong: () => void): Pick<Request, 'onResponse'> {
  return {
    onResponse(status, body) {
      if (status === 200 && !body.includes('"active":true')) wrong();
    },
  };
}

/** The API, with its own client credentials and no hint, asks whether an access token issued for it stands. */
function introspectByApi(scenario: string, token: string, target: Target, load: LoadOptions, probe?: Probe, notes?: string) {
  return measure(scenario, target, load, (wrong) => [
    { ...post('/token/introspection', target.api, { token }), ...expectActive(wrong) },
  ], probe, notes);
}

const INTROSPECT_JWT = 'introspection (JWT access token, by the API)';

export function introspectJwt(target: Target, load: LoadOptions, probe?: Probe) {
  return introspectByApi(INTROSPECT_JWT, target.jwtAccessToken!, target, load, probe);
}

/**
 * The ceiling for introspectJwt: oidc-provider refuses to introspect a JWT access token, so the
 * bare provider introspects the access token it can, an opaque one from its in-memory store,
 * issued for the same person, app and API, asked by the API just as in introspectJwt.
 */
export async function introspectOpaqueForJwt(target: Target, load: LoadOptions, probe?: Probe): Promise<ScenarioResult> {
  const as = 'the bare provider introspecting an opaque access token from memory';
  const result = await introspectByApi('introspection (opaque access token from memory, by the API)', target.opaqueApiAccessToken!, target, load, probe,
    `the ceiling for "${INTROSPECT_JWT}": ${as} (oidc-provider refuses to introspect a JWT access token), issued to the same app for the same person and API`);
  return { ...result, standsInFor: { scenario: INTROSPECT_JWT, as } };
}

export function introspectRefresh(target: Target, load: LoadOptions, probe?: Probe) {
  return measure('introspection (refresh token, by its app)', target, load, (wrong) => [
    { ...post('/token/introspection', target.app, { token: target.introspectedRefreshToken, token_type_hint: 'refresh_token' }), ...expectActive(wrong) },
  ], probe);
}

export function userinfo(target: Target, load: LoadOptions, probe?: Probe) {
  return measure('userinfo', target, load, () => [
    { method: 'GET', path: '/me', headers: { authorization: `Bearer ${target.userinfoAccessToken}` } },
  ], probe);
}

export function jwks(target: Target, load: LoadOptions, probe?: Probe) {
  return measure('jwks', target, load, () => [{ method: 'GET', path: '/jwks' }], probe);
}

export function discovery(target: Target, load: LoadOptions, probe?: Probe) {
  return measure('discovery', target, load, () => [{ method: 'GET', path: '/.well-known/openid-configuration' }], probe);
}
