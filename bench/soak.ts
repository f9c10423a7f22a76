// The soak: minutes of steady load on the hot paths against one Gatehouse process, watching its
// resident memory. Every connection cycles through
//
//   refresh (rotating, from the shared pool) → userinfo with the access token it just got →
//   introspection of the app's refresh token → client_credentials → introspection of that new JWT
//
// so the JWT caches keep seeing tokens they have never seen (they are bounded: this is what
// proves it), while one loop of real sign-ins (argon2id, sessions, codes, grants) runs alongside.
//
// The warm-up is long enough for every bounded structure to reach its steady size (the truth
// cache's entries live a minute), so "start" is the process at its working size, not at launch.
// Resident memory (VmRSS, /proc) is sampled every few seconds under load. A single sample lands
// anywhere on the garbage collector's saw-tooth (tens of MiB apart), so the RSS "at the start" is
// the median of the samples in the first tenth of the soak and "at the end" the median of the last
// tenth. The heap after a full collection (the process runs with --expose-gc) is taken just
// before the load starts and just after it ends. Flat means the end is within FLAT_GROWTH of the
// start.
import autocannon from 'autocannon';
import { residentBytes } from './cpu.js';
import * as flow from './flow.js';
import * as s from './scenarios.js';
import { median, percentiles, slope } from './stats.js';

/** The most RSS may grow from the start of the soak to its end and still count as flat. */
export const FLAT_GROWTH = 0.1;

export interface SoakSample {
  /** Seconds since the measured soak began. */
  t: number;
  rssMiB: number;
  heapUsedMiB: number | null;
  /** Requests completed per second since the previous sample. */
  perSecond: number;
}

export interface SoakResult {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  flowLoops: number;
  mix: string;
  completed: number;
  perSecond: number;
  errors: number;
  latencyMs: { p50: number; p95: number; p99: number };
  flows: number;
  flowErrors: number;
  /** start and end: medians of the samples in the first and the last tenth of the soak. */
  rssMiB: { atLaunch: number; start: number; end: number; min: number; max: number };
  growthPercent: number;
  /** Least-squares slope of RSS over the second half of the soak. */
  slopeMiBPerMinuteSecondHalf: number;
  heapAfterGcMiB: { start: number; end: number } | null;
  flat: boolean;
  cpu?: s.CpuSummary;
  samples: SoakSample[];
}

export interface MemoryReport {
  heapUsed: number;
  collected: boolean;
}

export interface SoakOptions {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  flowLoops: number;
  sampleSeconds: number;
  /** The Gatehouse process. */
  pid: number;
  /** Its heap figures over IPC; `collect` asks for a full collection first. */
  memory(collect: boolean): Promise<MemoryReport>;
  probe?: s.Probe;
  rssAtLaunch: number;
  log(line: string): void;
}

const MiB = 2 ** 20;

type Context = { accessToken?: string; jwt?: string };

function mixedRequests(target: s.Target, wrong: () => void): autocannon.Request[] {
  const pool = target.refreshTokens;
  return [
    {
      ...s.post('/token', target.app, { grant_type: 'refresh_token', refresh_token: 'placeholder' }),
      setupRequest(request) {
        request.body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: pool.shift() ?? 'pool-empty' }).toString();
        return request;
      },
      onResponse(status, body, context) {
        if (status !== 200) return;
        const answer = JSON.parse(body) as { refresh_token?: string };
        if (answer.refresh_token) pool.push(answer.refresh_token);
        const accessToken = s.accessTokenOf(body);
        if (accessToken) (context as Context).accessToken = accessToken;
        else wrong();
      },
    },
    {
      method: 'GET', path: '/me',
      setupRequest(request, context) {
        request.headers = { ...request.headers, authorization: `Bearer ${(context as Context).accessToken ?? 'none'}` };
        return request;
      },
    },
    { ...s.post('/token/introspection', target.app, { token: target.introspectedRefreshToken, token_type_hint: 'refresh_token' }), ...s.expectActive(wrong) },
    {
      ...s.post('/token', target.machine, { grant_type: 'client_credentials', scope: target.apiScope, resource: target.apiIdentifier }),
      onResponse(status, body, context) {
        if (status !== 200) return;
        const jwt = s.accessTokenOf(body);
        if (jwt) (context as Context).jwt = jwt;
        else wrong();
      },
    },
    {
      ...s.post('/token/introspection', target.api, { token: 'placeholder' }),
      setupRequest(request, context) {
        request.body = new URLSearchParams({ token: (context as Context).jwt ?? 'none' }).toString();
        return request;
      },
      ...s.expectActive(wrong),
    },
  ];
}

export async function soak(target: s.Target, options: SoakOptions): Promise<SoakResult> {
  const people = target.people!;
  let flows = 0;
  let flowErrors = 0;
  let flowsRunning = true;
  // One person per loop, signing in again and again with a fresh browser each time.
  const flowLoops = Promise.all(Array.from({ length: options.flowLoops }, async (_, i) => {
    while (flowsRunning) {
      try {
        await flow.authorizationCodeFlow(target, people[i % people.length]!, { scope: `openid profile email ${target.apiScope}` });
        flows += 1;
      } catch {
        flowErrors += 1;
      }
    }
  }));

  try {
    options.log(`soak: ${options.warmupSeconds} s warm-up`);
    await s.cannon(target.base, mixedRequests(target, () => {}), options.connections, options.warmupSeconds);
    flows = 0;
    flowErrors = 0;

    const rssNow = () => (residentBytes(options.pid) ?? NaN) / MiB;
    const startHeap = await options.memory(true);
    const samples: SoakSample[] = [];
    const latencies: number[] = [];
    let lastResponses = 0;
    let lastAt = performance.now();
    const started = lastAt;
    const sample = async () => {
      const now = performance.now();
      const rssMiB = rssNow();
      const heap = await options.memory(false).catch(() => undefined);
      samples.push({
        t: Math.round((now - started) / 100) / 10,
        rssMiB: Math.round(rssMiB * 10) / 10,
        heapUsedMiB: heap ? Math.round((heap.heapUsed / MiB) * 10) / 10 : null,
        perSecond: Math.round((latencies.length - lastResponses) / ((now - lastAt) / 1000)),
      });
      lastResponses = latencies.length;
      lastAt = now;
    };
    // Sampling, not waiting: the load runs for its fixed duration regardless of this timer.
    const timer = setInterval(() => { void sample(); }, options.sampleSeconds * 1000);
    let wrong = 0;
    const finish = options.probe ? await options.probe() : undefined;
    options.log(`soak: ${options.seconds} s measured, heap ${(startHeap.heapUsed / MiB).toFixed(1)} MiB after a full collection`);
    const { result } = await s.cannon(target.base, mixedRequests(target, () => { wrong += 1; }), options.connections, options.seconds, latencies);
    clearInterval(timer);
    const flowsDone = flows;
    const flowErrorsDone = flowErrors;
    const reading = finish ? await finish() : undefined;
    const endHeap = await options.memory(true);
    const tenth = Math.max(options.seconds / 10, 3 * options.sampleSeconds);
    const startRss = median(samples.filter((x) => x.t <= tenth).map((x) => x.rssMiB));
    const endRss = median(samples.filter((x) => x.t >= options.seconds - tenth).map((x) => x.rssMiB));

    const ok = result.requests.total - result.non2xx - wrong;
    const rss = samples.map((x) => x.rssMiB);
    const secondHalf = samples.filter((x) => x.t >= options.seconds / 2).map((x): [number, number] => [x.t / 60, x.rssMiB]);
    const growth = (endRss - startRss) / startRss;
    return {
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
      connections: options.connections,
      flowLoops: options.flowLoops,
      mix: 'refresh → userinfo → refresh-token introspection → client_credentials → JWT introspection, per connection; plus sign-in flows',
      completed: result.requests.total,
      perSecond: ok / options.seconds,
      errors: result.errors + result.timeouts + result.non2xx + wrong,
      latencyMs: percentiles(latencies),
      flows: flowsDone,
      flowErrors: flowErrorsDone,
      rssMiB: { atLaunch: options.rssAtLaunch, start: startRss, end: endRss, min: Math.min(...rss), max: Math.max(...rss) },
      growthPercent: 100 * growth,
      slopeMiBPerMinuteSecondHalf: slope(secondHalf),
      heapAfterGcMiB: startHeap.collected && endHeap.collected ? { start: startHeap.heapUsed / MiB, end: endHeap.heapUsed / MiB } : null,
      flat: growth <= FLAT_GROWTH,
      ...(reading?.cpu ? { cpu: s.summariseCpu(reading.cpu, ok) } : {}),
      samples,
    };
  } finally {
    flowsRunning = false;
    await flowLoops;
  }
}
