// `npm run bench [-- --quick] [-- --instances N] [-- --workers N|auto] [-- --only keys] [-- --soak | --no-soak]`:
// Gatehouse under load on PostgreSQL, the bare oidc-provider ceiling, the crypto floor, CPU per
// request, a memory soak, and the report (docs/performance.md, bench/results/).
//
// BENCH_QUERY_LOG=1 also prints every statement each Gatehouse sent, with its count and mean time
// (instance.ts); BENCH_CHILD_EXEC_ARGV adds Node flags to every Gatehouse and ceiling process (GC
// settings, --cpu-prof ...).
//
// Everything runs on loopback. Gatehouse, the ceiling and the proxy each run in a process of their
// own (forked, one at a time where possible) so the load generator in this process does not share
// their event loop. Load is bounded: a fixed number of connections for a fixed number of seconds.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Browser } from './browser.js';
import { compileForBench, forkCompiled, nextMessage, stop } from './children.js';
import { CEILING_API, CEILING_SCOPE, type CeilingReady } from './ceiling.js';
import { residentBytes, startCpuWindow } from './cpu.js';
import { measureDatabaseFloor, measureFloor } from './floor.js';
import { summariseProfiles } from './profile.js';
import { evaluateTargets, writeReport, type RunRecord } from './report.js';
import * as flow from './flow.js';
import * as s from './scenarios.js';
import { APP_SCOPE, benchDatabase, freePort, gatehouseEnvironment, gatehouseTarget, seed, type BenchDatabase, type Seeded } from './setup.js';
import { soak, type MemoryReport, type SoakResult } from './soak.js';
import { crossInstanceWalk, type CrossInstanceWalk } from './walk.js';
import { alternate, type Side } from './alternate.js';
import { MIN_QUIET } from './verdict.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ---- flags ----
const argv = process.argv.slice(2);
const valueOf = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
const quick = argv.includes('--quick');
const instances = Number(valueOf('--instances') ?? 1);
if (!Number.isInteger(instances) || instances < 1 || instances > 8) throw new Error('--instances must be an integer from 1 to 8');
// --workers N: also measure one Gatehouse run as WORKERS=N (auto: one per core), beside the
// WORKERS=1 run every bench makes, on the same machine and database.
const workersFlag = valueOf('--workers') ?? '1';
const workers = workersFlag === 'auto' ? availableParallelism() : Number(workersFlag);
if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error('--workers must be an integer from 1 to 64, or auto');
const only = valueOf('--only')?.split(',');
// The soak is part of a full run; --quick leaves it out unless --soak asks for it.
const soakWanted = argv.includes('--soak') || (!quick && !argv.includes('--no-soak'));
const soakSeconds = Number(valueOf('--soak-seconds') ?? 300);
if (!(soakSeconds >= 10)) throw new Error('--soak-seconds must be at least 10');
// --profile: every Gatehouse and ceiling process writes a V8 CPU profile, summarised at the end.
const profileDir = argv.includes('--profile') ? path.join(tmpdir(), `gatehouse-bench-profiles-${process.pid}`) : undefined;
const load: s.LoadOptions = quick ? { seconds: 2, warmupSeconds: 1, connections: 16 } : { seconds: 8, warmupSeconds: 2, connections: 16 };
// Rounds of alternating windows per scenario (alternate.ts); a target needs MIN_QUIET quiet ones.
const pairs = Number(valueOf('--pairs') ?? MIN_QUIET);
if (!Number.isInteger(pairs) || pairs < MIN_QUIET || pairs > 20) throw new Error(`--pairs must be an integer from ${MIN_QUIET} to 20`);
const flowLoops = Math.max(4, 2 * availableParallelism());
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

// ---- child processes ----
// Compiled and forked by children.ts; with --profile, Gatehouse and the ceiling write V8 CPU profiles.
function forkTs(file: string, env: Record<string, string>, execArgv: string[] = []): ChildProcess {
  const profiling = profileDir && file !== 'proxy.ts' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  return forkCompiled(file, env, [...execArgv, ...profiling]);
}

// ---- Gatehouse ----
interface Cluster {
  base: string;
  children: ChildProcess[];
  /** The Gatehouse processes, in the order the proxy numbers them. */
  instances: ChildProcess[];
  proxy: ChildProcess | undefined;
  /** Queries and CPU over one measured window. */
  probe: s.Probe;
}

async function startGatehouseCluster(database: BenchDatabase, n: number, execArgv: string[] = [], workersEach = 1): Promise<Cluster> {
  const frontPort = await freePort();
  const base = `http://127.0.0.1:${frontPort}`;
  const shared = { ...gatehouseEnvironment(base, database.url), WORKERS: String(workersEach) };
  const children: ChildProcess[] = [];
  const addresses: string[] = [];
  /** Every process serving: each instance, or with WORKERS=N its primary and its workers. */
  const serving: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const port = n === 1 ? frontPort : await freePort();
    const child = forkTs('instance.ts', { BENCH_GATEHOUSE_ENV: JSON.stringify({ ...shared, PORT: String(port) }) }, execArgv);
    children.push(child);
    const ready = await nextMessage<{ address: string; pids: number[] }>(child, 'ready');
    addresses.push(ready.address);
    serving.push(...ready.pids);
  }
  const instancesOnly = [...children];
  let proxy: ChildProcess | undefined;
  if (n > 1) {
    proxy = forkTs('proxy.ts', { BENCH_PROXY_TARGETS: addresses.join(','), BENCH_PROXY_PORT: String(frontPort) });
    children.push(proxy);
    await nextMessage(proxy, 'ready');
  }
  const countQueries = async () => {
    let total = 0;
    for (const child of instancesOnly) {
      const answer = nextMessage<{ queries: number }>(child, 'count');
      child.send({ cmd: 'count' });
      total += (await answer).queries;
    }
    return total;
  };
  const probe: s.Probe = async () => {
    const before = await countQueries();
    const finish = await startCpuWindow({ server: serving, proxy: proxy ? [proxy.pid!] : [], postgres: database.backends });
    return async () => {
      const cpu = await finish();
      return { queries: (await countQueries()) - before, cpu };
    };
  };
  return { base, children, instances: instancesOnly, proxy, probe };
}

async function memoryOf(child: ChildProcess, collect: boolean): Promise<MemoryReport> {
  const answer = nextMessage<{ memory: MemoryReport }>(child, 'memory');
  child.send({ cmd: 'memory', collect });
  return (await answer).memory;
}

/** Real sign-ins over HTTP: consent given once per person (remembered for the flow scenario),
 *  then more consented flows in the same browser session for the refresh-token pool. */
async function signedInTarget(base: string, seeded: Seeded, poolSize: number): Promise<s.Target> {
  const target = gatehouseTarget(base, seeded);
  const scope = `${APP_SCOPE} ${seeded.apiScope}`;
  const signIns = async (count: number) => {
    const perPerson = Math.ceil(count / seeded.people.length);
    const tokens: Array<Record<string, unknown>> = [];
    await Promise.all(seeded.people.map(async (person) => {
      const browser = new Browser(base);
      for (let i = 0; i < perPerson; i += 1) {
        tokens.push((await flow.authorizationCodeFlow(target, person, { browser, scope, prompt: 'consent' })).tokens);
      }
    }));
    return tokens;
  };
  const [first, ...rest] = await signIns(poolSize + 1);
  target.introspectedRefreshToken = String(first!.refresh_token);
  target.jwtAccessToken = String(first!.access_token);
  target.userinfoAccessToken = String(first!.access_token);
  target.refreshTokens = rest.map((t) => String(t.refresh_token));
  target.mintRefreshTokens = async (count) => (await signIns(count)).map((t) => String(t.refresh_token));
  return target;
}

type Scenario = (target: s.Target, load: s.LoadOptions, probe?: s.Probe) => Promise<s.ScenarioResult>;
const REQUEST_SCENARIOS: Array<[string, Scenario]> = [
  ['client_credentials', s.clientCredentials],
  ['refresh', s.refresh],
  ['introspect_jwt', s.introspectJwt],
  ['introspect_refresh', s.introspectRefresh],
  ['userinfo', s.userinfo],
  ['jwks', s.jwks],
  ['discovery', s.discovery],
];
/** Where the bare provider cannot make Gatehouse's request, what it measures in its place. */
const CEILING_STAND_INS: Partial<Record<string, Scenario>> = {
  introspect_jwt: s.introspectOpaqueForJwt, // oidc-provider refuses to introspect a JWT
};
const wanted = (key: string) => !only || only.includes(key);
/** Scenarios that also measure, right after the saturated window, one paced at half its throughput (one Gatehouse process only). */
const PACED = ['introspect_jwt', 'introspect_refresh'];

const SIGN_IN_SCOPE = (seeded: Seeded) => `openid profile email offline_access ${seeded.apiScope}`;

/** --instances N: N Gatehouse processes behind the round-robin proxy, one window per scenario, and the cross-instance walk. */
async function runInstances(database: BenchDatabase, seeded: Seeded, n: number, keys: string[]) {
  const cluster = await startGatehouseCluster(database, n);
  const results: RunRecord['results'] = [];
  let walk: CrossInstanceWalk | undefined;
  try {
    const target = await signedInTarget(cluster.base, seeded, s.refreshPoolSize(load));
    if (wanted('walk')) {
      log(`gatehouse ×${n}: cross-instance walk`);
      walk = await crossInstanceWalk(target, n, seeded.people[0]!, SIGN_IN_SCOPE(seeded));
      for (const step of walk.steps) log(`  ${step.ok ? 'ok  ' : 'FAIL'} #${step.instance} ${step.step}: ${step.detail}`);
    }
    for (const [key, scenario] of REQUEST_SCENARIOS) {
      if (!keys.includes(key) || !wanted(key)) continue;
      log(`gatehouse ×${n}: ${key}`);
      results.push({ ...(await scenario(target, load, cluster.probe)), instances: n });
    }
    if (wanted('flow')) {
      log(`gatehouse ×${n}: authorization-code flow (${flowLoops} loops)`);
      results.push({ ...(await flow.authorizationCodeFlows(target, { ...load, loops: flowLoops }, cluster.probe)), instances: n });
    }
  } finally {
    for (const child of cluster.children.reverse()) await stop(child);
  }
  return { results, walk };
}

/** A fresh Gatehouse (collections can be forced: --expose-gc) under the soak's mixed load. */
async function runSoak(database: BenchDatabase, seeded: Seeded): Promise<SoakResult> {
  const cluster = await startGatehouseCluster(database, 1, ['--expose-gc']);
  const gatehouse = cluster.instances[0]!;
  try {
    const rssAtLaunch = (residentBytes(gatehouse.pid!) ?? NaN) / 2 ** 20;
    const target = await signedInTarget(cluster.base, seeded, s.refreshPoolSize(load));
    return await soak(target, {
      seconds: soakSeconds,
      // Long enough for the truth cache (entries live a minute) to reach its steady size.
      warmupSeconds: Math.max(5, Math.min(60, Math.round(soakSeconds / 5))),
      connections: load.connections,
      flowLoops: 1,
      sampleSeconds: Math.max(1, Math.round(soakSeconds / 60)),
      pid: gatehouse.pid!,
      memory: (collect) => memoryOf(gatehouse, collect),
      probe: cluster.probe,
      rssAtLaunch,
      log,
    });
  } finally {
    for (const child of cluster.children.reverse()) await stop(child);
  }
}

/** The bare oidc-provider, with what the load needs minted, and a probe of its CPU. */
async function startCeiling(): Promise<{ child: ChildProcess; target: s.Target; probe: s.Probe }> {
  const child = forkTs('ceiling.ts', { BENCH_CEILING_PORT: String(await freePort()), BENCH_CEILING_TOKENS: String(s.refreshPoolSize(load)) });
  const probe: s.Probe = async () => {
    const finish = await startCpuWindow({ server: [child.pid!] });
    return async () => ({ queries: null, cpu: await finish() });
  };
  try {
    const ready = await nextMessage<CeilingReady>(child, 'ready');
    const target: s.Target = {
      label: 'ceiling', base: ready.address, app: ready.app, machine: ready.machine, api: ready.api, apiScope: CEILING_SCOPE, apiIdentifier: CEILING_API,
      refreshTokens: ready.refreshTokens, introspectedRefreshToken: ready.introspectedRefreshToken,
      async mintRefreshTokens(count) {
        const minted = nextMessage<{ tokens: string[] }>(child, 'minted');
        child.send({ cmd: 'mint', count });
        return (await minted).tokens;
      },
      jwtAccessToken: undefined, opaqueApiAccessToken: ready.apiAccessToken, userinfoAccessToken: ready.userinfoAccessToken,
    };
    return { child, target, probe };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

interface Measured { target: s.Target; probe: s.Probe; kind: 'gatehouse' | 'ceiling' | 'workers' }

/**
 * Gatehouse as one process, the ceiling, and (--workers N) Gatehouse as WORKERS=N, all started
 * at once and measured in alternating windows, `pairs` rounds per scenario (alternate.ts), so
 * every comparison the targets make is between windows run moments apart.
 */
async function runAlternating(database: BenchDatabase, seeded: Seeded): Promise<RunRecord['results']> {
  const started: ChildProcess[] = [];
  const sides: Array<Side<Measured>> = [];
  const results: RunRecord['results'] = [];
  const requestKeys = REQUEST_SCENARIOS.map(([key]) => key).filter(wanted);
  try {
    const single = await startGatehouseCluster(database, 1);
    started.push(...single.children);
    sides.push({ label: 'gatehouse', tag: { instances: 1 }, server: { kind: 'gatehouse', probe: single.probe, target: await signedInTarget(single.base, seeded, s.refreshPoolSize(load)) } });
    if (requestKeys.length) {
      const ceiling = await startCeiling();
      started.push(ceiling.child);
      sides.push({ label: 'ceiling', tag: {}, server: { kind: 'ceiling', probe: ceiling.probe, target: ceiling.target } });
    }
    if (workers > 1) {
      const many = await startGatehouseCluster(database, 1, [], workers);
      started.push(...many.children);
      sides.push({ label: `gatehouse WORKERS=${workers}`, tag: { instances: 1, workers }, server: { kind: 'workers', probe: many.probe, target: await signedInTarget(many.base, seeded, s.refreshPoolSize(load)) } });
    }
    // Refresh last: the ceiling's in-memory adapter is an LRU of 1000 entries, and the thousands
    // of rotated tokens would evict the tokens the other scenarios reuse.
    const order = [...requestKeys.filter((key) => key !== 'refresh'), ...requestKeys.filter((key) => key === 'refresh')];
    for (const key of order) {
      const scenario = REQUEST_SCENARIOS.find(([k]) => k === key)![1];
      log(`${key}: ${pairs} rounds of ${sides.map((side) => side.label).join(', ')}`);
      results.push(...(await alternate(sides, pairs, ({ server }) => {
        const run = server.kind === 'ceiling' ? (CEILING_STAND_INS[key] ?? scenario) : scenario;
        return () => run(server.target, { ...load, paced: server.kind === 'gatehouse' && PACED.includes(key) }, server.probe);
      }, log)));
    }
    if (wanted('flow')) {
      log(`authorization-code flow (${flowLoops} loops): ${pairs} rounds`);
      results.push(...(await alternate(sides, pairs, ({ server }) => (server.kind === 'ceiling'
        ? undefined
        : () => flow.authorizationCodeFlows(server.target, { ...load, loops: flowLoops }, server.probe)), log)));
    }
  } finally {
    for (const child of started.reverse()) await stop(child);
  }
  return results;
}

/** Which Gatehouse was measured: the commit, and whether src/ or migrations/ differed from it. */
function source(): RunRecord['source'] {
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();
    return { commit: git('rev-parse', '--short', 'HEAD'), uncommittedChanges: git('status', '--porcelain', '--', 'src', 'migrations') !== '' };
  } catch {
    return undefined;
  }
}

function machine(postgres: string): RunRecord['machine'] {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres,
  };
}

const loadAverages = () => loadavg().map((x) => Math.round(x * 100) / 100) as [number, number, number];

async function main() {
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const started = performance.now();
  const loadAtStart = loadAverages();
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  compileForBench();
  const database = await benchDatabase();
  try {
    log(`database ${new URL(database.url).pathname.slice(1)}; ${quick ? 'quick' : 'full'} mode, ${load.seconds} s per scenario${soakWanted && wanted('soak') ? `, ${soakSeconds} s soak` : ''}; load average ${loadAtStart.join(' ')}`);
    const seeded = await seed(database.url, flowLoops);
    const allKeys = REQUEST_SCENARIOS.map(([key]) => key);
    const results: RunRecord['results'] = [];
    if (allKeys.some(wanted) || wanted('flow')) results.push(...(await runAlternating(database, seeded)));
    let crossInstance: CrossInstanceWalk | undefined;
    if (instances > 1 && ['client_credentials', 'refresh', 'introspect_jwt', 'introspect_refresh', 'userinfo', 'flow', 'walk'].some(wanted)) {
      const multi = await runInstances(database, seeded, instances, ['client_credentials', 'refresh', 'introspect_jwt', 'introspect_refresh', 'userinfo']);
      results.push(...multi.results);
      crossInstance = multi.walk;
    }
    let soaked: SoakResult | undefined;
    if (soakWanted && wanted('soak')) soaked = await runSoak(database, seeded);
    log('crypto floor');
    // The floor is what the machine allows with nothing else running: say when something was.
    const floorWindow = await startCpuWindow({ server: [] });
    const { helperCpuSeconds, ...floor } = await measureFloor(quick ? 500 : 2000);
    const floorCpu = await floorWindow();
    floor.otherCores = Math.max(0, floorCpu.otherCores - helperCpuSeconds / floorCpu.wallSeconds);
    floor.database = await measureDatabaseFloor(database.url, quick ? 500 : 2000);
    const record: RunRecord = {
      startedAt, mode: quick ? 'quick' : 'full', instances, ...(workers > 1 ? { workers } : {}), source: source(), machine: machine(seeded.postgres),
      ...(only ? { only } : {}),
      loadAverage: { start: loadAtStart, end: loadAverages() },
      results, floor,
      ...(crossInstance ? { crossInstance } : {}),
      ...(soaked ? { soak: soaked } : {}),
      targets: [],
    };
    record.targets = evaluateTargets(record);
    // A partial run (--only) keeps its JSON but leaves the page showing the last whole run.
    const written = writeReport(record, ROOT, { updateDoc: !only });
    for (const r of results) {
      log(`${r.target}${(r.instances ?? 1) > 1 ? `×${r.instances}` : ''}${(r.workers ?? 1) > 1 ? ` WORKERS=${r.workers}` : ''} ${r.scenario}: ${r.perSecond.toFixed(1)}/s p50 ${r.latencyMs.p50.toFixed(1)} p99 ${r.latencyMs.p99.toFixed(1)} ms, errors ${r.errors}, db/req ${r.dbRoundTripsPerRequest?.toFixed(2) ?? 'n/a'}${r.cpu ? `, CPU ${r.cpu.serverCpuMsPerRequest.toFixed(3)} ms/req (main thread ${r.cpu.serverMainThreadCpuMsPerRequest.toFixed(3)}, kernel ${r.cpu.serverSystemCpuMsPerRequest.toFixed(3)}; ${r.cpu.perServerCpuSecond.toFixed(0)}/core-s)${r.cpu.postgresCpuMsPerRequest !== null ? ` + PG ${r.cpu.postgresCpuMsPerRequest.toFixed(3)} ms` : ''}, others ${r.cpu.otherCores.toFixed(2)} cores` : ''}`);
      const p = r.paced;
      if (p) log(`  paced at ${p.offeredRate}/s offered (half): ${p.requestsPerSecond.toFixed(1)}/s p50 ${p.latency.p50.toFixed(1)} p95 ${p.latency.p95.toFixed(1)} p99 ${p.latency.p99.toFixed(1)} ms, errors ${p.errors}, waited for a connection ${p.waitedForConnection}${p.cpu ? `, server CPU ${p.cpu.serverCpuMsPerRequest.toFixed(3)} ms/req, others ${p.cpu.otherCores.toFixed(2)} cores` : ''}`);
    }
    if (soaked) log(`soak: ${soaked.perSecond.toFixed(0)}/s, errors ${soaked.errors}, RSS ${soaked.rssMiB.start.toFixed(1)} → ${soaked.rssMiB.end.toFixed(1)} MiB (${soaked.growthPercent.toFixed(1)}%), ${soaked.flat ? 'flat' : 'NOT flat'}`);
    for (const t of record.targets) log(`${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'} ${t.target}: ${t.detail}`);
    log(`wrote ${path.relative(ROOT, written.json)}${written.doc ? ` and ${path.relative(ROOT, written.doc)}` : ' (docs/performance.md untouched: partial run)'} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (profileDir) for (const line of summariseProfiles(profileDir)) log(line);
  } finally {
    await database.drop();
  }
}

await main();
