// Writes a run's results: the whole record as JSON under bench/results/, and the tables in
// docs/performance.md between the generated-section markers (the prose around them is kept).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FloorResult } from './floor.js';
import type { ScenarioResult } from './scenarios.js';
import { FLAT_GROWTH, type SoakResult } from './soak.js';
import { cpuRatioAtMost, isQuiet, medianBelow, NOISY_OTHER_CORES, spreadOf, throughputRatioAbove, type Verdict, type WindowSample } from './verdict.js';
import type { CrossInstanceWalk } from './walk.js';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string;
}

export interface RunRecord {
  startedAt: string;
  mode: 'quick' | 'full';
  instances: number;
  /** --workers N ≥ 2: the run also measured one Gatehouse as WORKERS=N. */
  workers?: number;
  /** --only, when the run was partial. */
  only?: string[];
  /** The Gatehouse measured: its commit, and whether src/ or migrations/ had uncommitted changes. */
  source?: { commit: string; uncommittedChanges: boolean } | undefined;
  machine: Machine;
  /** 1, 5 and 15-minute load averages when the run started (before it added any load) and ended. */
  loadAverage?: { start: [number, number, number]; end: [number, number, number] };
  /** Gatehouse with one instance, the ceiling, (with --instances N) Gatehouse behind the proxy, and (with --workers N) Gatehouse as WORKERS=N. */
  results: Array<ScenarioResult & { instances?: number; workers?: number }>;
  floor: FloorResult;
  /** With --instances N ≥ 2: one flow whose steps are pinned to different instances (walk.ts). */
  crossInstance?: CrossInstanceWalk;
  /** In a full run, or with --soak (soak.ts). */
  soak?: SoakResult;
  targets: Array<{ target: string; met: boolean | null; detail: string }>;
}

/**
 * Published per-core figures of two peers, for the same kinds of request. Keycloak: "Concepts for
 * sizing CPU and memory resources" (vCPU of Keycloak pods; the database is sized separately).
 * Zitadel: its published v4 benchmark pages, per busy vCPU, as issue 6 cites them.
 */
const PEERS: Array<{ scenario: string; keycloak: number | null; zitadel: number | null }> = [
  { scenario: 'client_credentials', keycloak: 120, zitadel: 92 },
  { scenario: 'refresh_token', keycloak: 120, zitadel: null },
  { scenario: 'introspection (JWT', keycloak: null, zitadel: 155 },
  { scenario: 'introspection (refresh', keycloak: null, zitadel: 155 },
  { scenario: 'authorization-code flow', keycloak: 15, zitadel: null },
];
const ZITADEL_P99_MS = 466;

/** Load average over which a machine with this many cores is not quiet (the brief's 1.5 on 2). */
const QUIET_LOAD = 1.5;
/** Busy cores no measured process accounts for, over which a window was disturbed (verdict.ts). */
const DISTURBED_CORES = NOISY_OTHER_CORES;

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));
const rate = (n: number | null | undefined) => fmt(n, n !== null && n !== undefined && n < 100 ? 1 : 0);

/** The ceiling's row for a Gatehouse scenario: the same scenario, or what the ceiling measured in its place. */
type Result = RunRecord['results'][number];

/** Gatehouse as one process (one instance, WORKERS=1): what the targets and the ceiling compare against. */
const isSingleProcess = (r: Result) => r.target === 'gatehouse' && (r.instances ?? 1) === 1 && (r.workers ?? 1) === 1;

/** How a table names the server of a row: ceiling, Gatehouse, Gatehouse ×N (instances), Gatehouse WORKERS=N. */
function serverName(r: Result, proxied = ''): string {
  if (r.target === 'ceiling') return 'ceiling';
  return `Gatehouse${(r.instances ?? 1) > 1 ? ` ×${r.instances}${proxied}` : ''}${(r.workers ?? 1) > 1 ? ` WORKERS=${r.workers}` : ''}`;
}

function ceilingFor(results: ScenarioResult[], scenario: string): ScenarioResult | undefined {
  return results.find((r) => r.target === 'ceiling' && (r.scenario === scenario || r.standsInFor?.scenario === scenario));
}

/** The introspection latency target, judged on the paced windows at half the saturated throughput. */
const latencyTarget = (g: ScenarioResult) => `${g.scenario}: p99 < 10 ms at half load`;

/** CPU per request may be at most this many times the ceiling's (issue 18). */
const CPU_RATIO_LIMIT = 1.3;
/** A sign-in flow's server CPU besides the one argon2id hash it makes, in ms. */
const FLOW_CPU_LIMIT_MS = 8;

/**
 * A flow's server CPU besides its argon2id hash, window by window: its CPU less the floor's hash,
 * but never less than the CPU its main thread used, since argon2id runs on libuv's pool and never
 * there. A floor that reads high (measured at another moment, on a machine whose memory bandwidth
 * neighbours share) takes off more than the hash cost; this bound keeps it from taking a flow
 * below what its event loop alone used. (It cannot see work off the main thread besides the hash,
 * which a high floor can still hide.)
 */
function flowBesidesArgon2(windows: WindowSample[], hash: number): Verdict {
  let floorHigh = 0;
  let quiet = 0;
  const samples = windows.map((w) => {
    const besides = (w.cpuMsPerRequest ?? NaN) - hash;
    const main = w.mainThreadCpuMsPerRequest;
    if (isQuiet(w.otherCores)) {
      quiet += 1;
      if (typeof main === 'number' && main > besides) floorHigh += 1;
    }
    return { value: typeof main === 'number' ? Math.max(besides, main) : besides, otherCores: w.otherCores };
  });
  const verdict = medianBelow(samples, FLOW_CPU_LIMIT_MS, ' ms');
  const note = floorHigh
    ? `; in ${floorHigh} of ${quiet} quiet windows the hash's ${fmt(hash, 1)} ms was more than the flow's CPU off the main thread, so those count the main thread's CPU alone`
    : '';
  return { ...verdict, detail: `${verdict.detail} (each flow's CPU less ${fmt(hash, 1)} ms for its argon2id hash, and never less than its main thread's${note})` };
}

/**
 * Every target is judged on the alternating windows (verdict.ts): quiet windows only, medians with
 * their spread, and "inconclusive" (met: null) when too few windows were quiet. A run on a busy
 * machine can miss a target or leave it open; it cannot meet one it did not.
 */
export function evaluateTargets(record: RunRecord): RunRecord['targets'] {
  const { results, floor } = record;
  const gate = results.filter(isSingleProcess);
  const find = (prefix: string) => gate.find((r) => r.scenario.startsWith(prefix));
  const targets: RunRecord['targets'] = [];
  for (const prefix of ['client_credentials', 'refresh_token', 'introspection (JWT']) {
    const g = find(prefix);
    if (!g) continue;
    const c = ceilingFor(results, g.scenario);
    const target = `${g.scenario}: CPU per request ≤ ${CPU_RATIO_LIMIT}× the ceiling's${c?.standsInFor ? ` (vs ${c.standsInFor.as})` : ''}`;
    targets.push(c?.windows && g.windows
      ? { target, ...cpuRatioAtMost(g.windows, c.windows, CPU_RATIO_LIMIT) }
      : { target, met: null, detail: 'n/a: no alternating windows against the ceiling in this run' });
  }
  for (const g of gate.filter((r) => r.scenario.startsWith('introspection'))) {
    const paced = (g.windows ?? []).flatMap((w) => (w.paced ? [{ value: w.paced.p99Ms, otherCores: w.paced.otherCores }] : []));
    targets.push({ target: latencyTarget(g), ...medianBelow(paced, 10, ' ms') });
  }
  const flow = find('authorization-code flow');
  if (flow) {
    const hash = floor.argon2idCpuMsPerHash;
    const target = `sign-in flow: server CPU besides argon2id < ${FLOW_CPU_LIMIT_MS} ms per flow`;
    targets.push(hash === undefined || !flow.windows
      ? { target, met: null, detail: 'n/a: the run measured no argon2id CPU per hash or no flow windows' }
      // Under contention for memory bandwidth a hash costs more CPU: a floor from a busy moment is no floor.
      : !isQuiet(floor.otherCores)
        ? { target, met: null, detail: `inconclusive: the argon2id floor was measured while other work used ${fmt(floor.otherCores, 2)} cores` }
        : { target, ...flowBesidesArgon2(flow.windows, hash) });
  }
  if ((record.workers ?? 1) > 1) {
    for (const prefix of ['client_credentials', 'refresh_token', 'introspection (JWT', 'introspection (refresh']) {
      const one = find(prefix);
      const many = results.find((r) => r.target === 'gatehouse' && (r.workers ?? 1) > 1 && r.scenario.startsWith(prefix));
      if (!one?.windows || !many?.windows) continue;
      targets.push({ target: `${one.scenario}: WORKERS=${record.workers} serves more than WORKERS=1`, ...throughputRatioAbove(many.windows, one.windows, 1) });
    }
  }
  const withErrors = results.filter((r) => r.errors > 0);
  const soakErrors = record.soak ? record.soak.errors + record.soak.flowErrors : 0;
  targets.push({
    target: 'zero errors',
    met: withErrors.length === 0 && soakErrors === 0,
    detail: [...withErrors.map((r) => `${r.target}/${r.scenario}: ${r.errors}`), ...(soakErrors ? [`soak: ${soakErrors}`] : [])].join('; ') || 'none',
  });
  if (record.soak) {
    const k = record.soak;
    targets.push({
      target: `resident memory flat over a ${fmt(k.seconds / 60, k.seconds % 60 ? 1 : 0)}-minute soak (RSS growth ≤ ${FLAT_GROWTH * 100}%)`,
      met: k.flat,
      detail: `RSS ${fmt(k.rssMiB.start, 1)} → ${fmt(k.rssMiB.end, 1)} MiB (${k.growthPercent >= 0 ? '+' : ''}${fmt(k.growthPercent, 1)}%)`,
    });
  }
  if (record.crossInstance) {
    const w = record.crossInstance;
    const failed = w.steps.filter((step) => !step.ok);
    targets.push({
      target: `every flow step correct across ${w.instances} instances`,
      met: w.pass,
      detail: w.pass ? `${w.steps.length} checks passed` : failed.map((step) => `#${step.instance} ${step.step}: ${step.detail}`).join('; '),
    });
  }
  return targets;
}

function quietness(record: RunRecord): string {
  const start = record.loadAverage?.start;
  const windows: Array<Pick<WindowSample, 'otherCores' | 'attempts'>> = record.results.flatMap((r): Array<Pick<WindowSample, 'otherCores' | 'attempts'>> => r.windows ?? (r.cpu ? [{ otherCores: r.cpu.otherCores, attempts: 1 }] : []));
  const disturbed = windows.filter((w) => !isQuiet(w.otherCores));
  const repeated = windows.reduce((n, w) => n + w.attempts - 1, 0);
  const worst = Math.max(0, ...windows.map((w) => w.otherCores ?? 0), record.soak?.cpu?.otherCores ?? 0);
  const loud = (start?.[0] ?? 0) >= QUIET_LOAD || disturbed.length > 0;
  return `Machine ${loud ? '**not quiet**' : 'quiet'}: load average ${start ? start.join(' / ') : 'n/a'} (1/5/15 min) before the run; ` +
    `busy cores no measured process accounts for (other work, PostgreSQL's background processes, the kernel) peaked at ${fmt(worst, 2)} in a measured window` +
    `${repeated ? `; ${repeated} disturbed windows were measured again` : ''}` +
    `${disturbed.length ? ` (still over ${DISTURBED_CORES} in ${disturbed.length} of ${windows.length} windows, which count for no target)` : ''}.`;
}

/** "3/3": how many of a row's windows were quiet. */
function quietCount(r: Result): string {
  if (!r.windows) return 'n/a';
  return `${r.windows.filter((w) => isQuiet(w.otherCores)).length}/${r.windows.length}`;
}

/** A row's CPU per request over its quiet windows: median (lowest–highest). */
function cpuSpread(r: Result): string {
  const quiet = (r.windows ?? []).filter((w) => isQuiet(w.otherCores) && w.cpuMsPerRequest !== null).map((w) => w.cpuMsPerRequest!);
  const s = spreadOf(quiet);
  return s ? `${fmt(s.median, 3)} (${fmt(s.min, 3)}–${fmt(s.max, 3)})` : fmt(r.cpu?.serverCpuMsPerRequest, 3);
}

function mainTable(record: RunRecord): string[] {
  const lines = [
    '| Scenario | Server | quiet windows | req/s | p50 ms | p95 ms | p99 ms | errors | DB round trips/req | server CPU ms/req, median of quiet windows (spread) | Gatehouse/ceiling req/s |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const gate = record.results.filter((r) => r.target === 'gatehouse');
  for (const g of gate) {
    const c = isSingleProcess(g) ? ceilingFor(record.results, g.scenario) : undefined;
    for (const r of [g, ...(c ? [c] : [])]) {
      const server = serverName(r, ' (proxy)');
      const ratio = r === g ? (c ? `${fmt((100 * g.perSecond) / c.perSecond)}%` : 'n/a') : '';
      lines.push(`| ${r.scenario} | ${server} | ${quietCount(r)} | ${rate(r.perSecond)} | ${fmt(r.latencyMs.p50, 1)} | ${fmt(r.latencyMs.p95, 1)} | ${fmt(r.latencyMs.p99, 1)} | ${r.errors} | ${fmt(r.dbRoundTripsPerRequest, 2)} | ${cpuSpread(r)} | ${ratio} |`);
    }
  }
  return lines;
}

function perCoreTable(record: RunRecord): string[] {
  const gate = record.results.filter(isSingleProcess);
  const lines = [
    '| Scenario | Gatehouse req/s per busy core | per core, PostgreSQL included | ceiling req/s per busy core | Keycloak per vCPU | Zitadel per busy vCPU | Gatehouse ÷ Keycloak | Gatehouse ÷ Zitadel |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const peer of PEERS) {
    const g = gate.find((r) => r.scenario.startsWith(peer.scenario));
    if (!g) continue;
    const c = ceilingFor(record.results, g.scenario);
    const per = g.cpu?.perServerCpuSecond;
    const ratio = (theirs: number | null) => (theirs && per ? `${fmt(per / theirs, 1)}×` : 'n/a');
    lines.push(`| ${g.scenario} | ${rate(per)} | ${rate(g.cpu?.perCpuSecondWithPostgres)} | ${rate(c?.cpu?.perServerCpuSecond)} | ${peer.keycloak ?? 'n/a'} | ${peer.zitadel ?? 'n/a'} | ${ratio(peer.keycloak)} | ${ratio(peer.zitadel)} |`);
  }
  return lines;
}

function cpuTable(record: RunRecord): string[] {
  const lines = [
    '| Scenario | Server | load avg (1 min) | machine busy cores | server | PostgreSQL | load generator | proxy | others | server CPU ms/req: main thread + other threads (kernel part) | PostgreSQL CPU ms/req |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const cores = (cpuSeconds: number | null | undefined, wall: number) => (cpuSeconds === null || cpuSeconds === undefined ? 'n/a' : fmt(cpuSeconds / wall, 2));
  for (const r of record.results) {
    const c = r.cpu;
    if (!c) continue;
    const server = serverName(r);
    lines.push(`| ${r.scenario} | ${server} | ${fmt(c.loadAverage1m, 2)} | ${fmt(c.machineBusyCores, 2)} | ${cores(c.serverCpuSeconds, c.wallSeconds)} | ${cores(c.postgresCpuSeconds, c.wallSeconds)} | ${cores(c.loadGeneratorCpuSeconds, c.wallSeconds)} | ${(r.instances ?? 1) > 1 ? cores(c.proxyCpuSeconds, c.wallSeconds) : ''} | ${fmt(c.otherCores, 2)} | ${fmt(c.serverMainThreadCpuMsPerRequest, 3)} + ${fmt(c.serverCpuMsPerRequest - c.serverMainThreadCpuMsPerRequest, 3)} (${fmt(c.serverSystemCpuMsPerRequest, 3)}) | ${fmt(c.postgresCpuMsPerRequest, 3)} |`);
  }
  return lines;
}

function soakSection(k: SoakResult): string[] {
  const everyMinute = k.samples.filter((x, i) => i === 0 || i === k.samples.length - 1 || Math.floor(x.t / 60) !== Math.floor(k.samples[i - 1]!.t / 60));
  return [
    `**Soak** (${fmt(k.seconds / 60, k.seconds % 60 ? 1 : 0)} min after a ${k.warmupSeconds} s warm-up, ${k.connections} connections, one Gatehouse process; ${k.mix}, ${k.flowLoops} sign-in loop):`,
    '',
    `- ${rate(k.perSecond)} req/s, p50 ${fmt(k.latencyMs.p50, 1)} / p99 ${fmt(k.latencyMs.p99, 1)} ms, ${k.errors} errors; ${k.flows} sign-in flows alongside, ${k.flowErrors} errors` +
      `${k.cpu ? `; Gatehouse CPU ${fmt(k.cpu.serverCpuSeconds / k.cpu.wallSeconds, 2)} cores, PostgreSQL ${fmt((k.cpu.postgresCpuSeconds ?? NaN) / k.cpu.wallSeconds, 2)}, others ${fmt(k.cpu.otherCores, 2)}` : ''}`,
    `- RSS ${fmt(k.rssMiB.atLaunch, 1)} MiB at launch; **${fmt(k.rssMiB.start, 1)} MiB at the start → ${fmt(k.rssMiB.end, 1)} MiB at the end** (${k.growthPercent >= 0 ? '+' : ''}${fmt(k.growthPercent, 1)}%; min ${fmt(k.rssMiB.min, 1)}, max ${fmt(k.rssMiB.max, 1)}; slope over the second half ${fmt(k.slopeMiBPerMinuteSecondHalf, 2)} MiB/min): ${k.flat ? '✅ flat' : '❌ not flat'}`,
    `- Heap after a full collection: ${k.heapAfterGcMiB ? `${fmt(k.heapAfterGcMiB.start, 1)} MiB at the start → ${fmt(k.heapAfterGcMiB.end, 1)} MiB at the end` : 'n/a'}`,
    `- Over time (s: RSS MiB, req/s): ${everyMinute.map((x) => `${fmt(x.t)}: ${fmt(x.rssMiB, 1)}, ${x.perSecond}`).join(' · ')}`,
  ];
}

/** --workers N: each scenario as one process beside the same scenario as WORKERS=N, on the same machine. */
function workersSection(record: RunRecord): string[] {
  const many = record.results.filter((r) => r.target === 'gatehouse' && (r.workers ?? 1) > 1);
  if (!many.length) return [];
  const n = many[0]!.workers!;
  const busy = (r: Result | undefined) => (r?.cpu ? fmt(r.cpu.serverCpuSeconds / r.cpu.wallSeconds, 2) : 'n/a');
  return [
    `**Every core** (WORKERS=1 against WORKERS=${n} on ${record.machine.nproc} CPU; server cores busy include the primary, which hands out connections):`,
    '',
    `| Scenario | WORKERS=1 req/s | WORKERS=${n} req/s | ratio | p99 ms, 1 → ${n} | server cores busy, 1 → ${n} |`,
    '|---|---:|---:|---:|---:|---:|',
    ...many.map((w) => {
      const one = record.results.find((r) => isSingleProcess(r) && r.scenario === w.scenario);
      return `| ${w.scenario} | ${rate(one?.perSecond)} | ${rate(w.perSecond)} | ${one ? `${fmt(w.perSecond / one.perSecond, 2)}×` : 'n/a'} | ${fmt(one?.latencyMs.p99, 1)} → ${fmt(w.latencyMs.p99, 1)} | ${busy(one)} → ${busy(w)} |`;
    }),
  ];
}

function walkSection(w: CrossInstanceWalk): string[] {
  return [
    `**Across instances** (${w.instances} Gatehouse processes; each step pinned to one of them through the proxy): ${w.pass ? '✅ pass' : '❌ FAIL'}`,
    '',
    '| Step | Instance | Result |',
    '|---|---:|---|',
    ...w.steps.map((step) => `| ${step.step} | ${step.instance} | ${step.ok ? '✅' : '❌'} ${step.detail} |`),
  ];
}

/** A target's line, and under a latency target what the same requests took at half the load. */
function targetLines(record: RunRecord, t: RunRecord['targets'][number]): string[] {
  const paced = record.results.find((r) => isSingleProcess(r) && r.paced && latencyTarget(r) === t.target)?.paced;
  return [
    `- ${t.met === null ? '➖' : t.met ? '✅' : '❌'} ${t.target}: ${t.detail}`,
    ...(paced ? [`  - the window shown in the table, at half its load (${paced.offeredRate} req/s offered over ${paced.connections} connections, evenly spaced; ${rate(paced.requestsPerSecond)} req/s answered): ` +
      `p50 ${fmt(paced.latency.p50, 1)} / p95 ${fmt(paced.latency.p95, 1)} / p99 ${fmt(paced.latency.p99, 1)} ms, ${paced.errors} errors${paced.waitedForConnection ? `; ${paced.waitedForConnection} requests waited for a free connection` : ''}` +
      `${!isQuiet(paced.cpu?.otherCores) ? `; other work used ${fmt(paced.cpu?.otherCores, 2)} cores meanwhile, so these read high` : ''}`] : []),
  ];
}

function table(record: RunRecord): string {
  const m = record.machine;
  const f = record.floor;
  const lines = [
    `Last run: ${record.startedAt} (${record.mode}${record.instances > 1 ? `, --instances ${record.instances}` : ''}${(record.workers ?? 1) > 1 ? `, --workers ${record.workers}` : ''}) · Gatehouse ${record.source ? `${record.source.commit}${record.source.uncommittedChanges ? ' with uncommitted changes' : ''}` : 'n/a'} · ${m.nproc} CPU (${m.cpuModel}) · ${m.memoryGiB} GiB · Node ${m.node} · ${m.postgres}`,
    '',
    quietness(record),
    '',
    ...mainTable(record),
    '',
    `${record.results[0]?.connections ?? 16} connections per request scenario, ${record.results[0]?.seconds ?? '?'} s measured after a warm-up, in ${record.results[0]?.windows?.length ?? 1} windows per server alternating with the other servers'; a row's req/s and latencies are those of its window with the median CPU per request, and a window where other work used more than ${DISTURBED_CORES} core (measured again up to twice) counts for no target. Latencies are over every response. Server CPU is the Gatehouse process(es) or the ceiling, all threads.`,
    ...(record.results.some((r) => r.notes) ? ['', ...record.results.filter((r) => r.notes).map((r) => `- ${r.target}${(r.instances ?? 1) > 1 ? ` ×${r.instances}` : ''}${(r.workers ?? 1) > 1 ? ` WORKERS=${r.workers}` : ''}/${r.scenario}: ${r.notes}`)] : []),
    '',
    '**Per core, side by side** (successful requests per second of CPU the server itself used; peers\' published figures, see below for what differs):',
    '',
    ...perCoreTable(record),
    '',
    `Zitadel's published p99 for these is ${ZITADEL_P99_MS} ms; Gatehouse's p99 is in the table above.`,
    '',
    '**Where the CPU went** during each measured window, in cores (of ' + m.nproc + '):',
    '',
    ...cpuTable(record),
    ...(record.crossInstance ? ['', ...walkSection(record.crossInstance)] : []),
    ...((record.workers ?? 1) > 1 ? ['', ...workersSection(record)] : []),
    ...(record.soak ? ['', ...soakSection(record.soak)] : []),
    '',
    `**Crypto floor** (in-process, one operation at a time${f.otherCores === undefined ? '' : `; other work on the machine meanwhile: ${fmt(f.otherCores, 2)} cores${f.otherCores > DISTURBED_CORES ? ', so these read low' : ''}`}):`,
    '',
    '| Operation | ops/s |',
    '|---|---:|',
    `| ES256 sign | ${fmt(f.es256SignPerSec)} |`,
    `| ES256 verify | ${fmt(f.es256VerifyPerSec)} |`,
    `| RS256 sign (2048) | ${fmt(f.rs256SignPerSec)} |`,
    `| argon2id hash (m=${f.argon2Parameters.memoryCost}, t=${f.argon2Parameters.timeCost}, p=${f.argon2Parameters.parallelism}) | ${fmt(f.argon2idHashPerSec, 1)} |`,
    `| argon2id hash, ${m.nproc} in flight | ${fmt(f.argon2idHashPerSecAllCores, 1)} |`,
    ...(f.database ? [
      '',
      '**Database floor** (one round trip at a time on one connection; CPU per round trip on each side):',
      '',
      '| Round trip | per s | ms each | client CPU ms | PostgreSQL CPU ms |',
      '|---|---:|---:|---:|---:|',
      ...([
        ['primary-key select through knex (as Gatehouse sends it)', f.database.primaryKeySelectKnex],
        ['the same select, prepared, straight through pg', f.database.primaryKeySelectPrepared],
        ['one-row UPDATE, committed (waits for the WAL flush)', f.database.commit],
      ] as const).map(([name, r]) => `| ${name} | ${fmt(r.perSec)} | ${fmt(1000 / r.perSec, 3)} | ${fmt(r.clientCpuMs, 3)} | ${fmt(r.postgresCpuMs, 3)} |`),
    ] : []),
    '',
    '**Targets**',
    '',
    ...record.targets.flatMap((t) => targetLines(record, t)),
  ];
  return lines.join('\n');
}

export function writeReport(record: RunRecord, root: string, options: { updateDoc: boolean }): { json: string; doc: string | undefined } {
  const resultsDir = path.join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const suffix = `${record.mode}${record.instances > 1 ? `-x${record.instances}` : ''}${(record.workers ?? 1) > 1 ? `-w${record.workers}` : ''}${record.only ? '-partial' : ''}`;
  const json = path.join(resultsDir, `${record.startedAt.replace(/:/g, '-')}-${suffix}.json`);
  writeFileSync(json, `${JSON.stringify(record, null, 2)}\n`);
  return { json, doc: options.updateDoc ? writeDoc(record, root) : undefined };
}

/** Rewrites the generated section of docs/performance.md from a run's record; the prose around it stays. */
function writeDoc(record: RunRecord, root: string): string {
  const doc = path.join(root, 'docs', 'performance.md');
  const current = readFileSync(doc, 'utf8');
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${doc} has lost its ${START} … ${END} markers: put them back where the generated section goes`);
  writeFileSync(doc, `${current.slice(0, start)}${START}\n${table(record)}\n${END}${current.slice(end + END.length)}`);
  return doc;
}
