// Summarises V8 CPU profiles (`--profile`, or BENCH_CHILD_EXEC_ARGV="--cpu-prof ..."): where the
// busy time of each profiled process's main thread went —
//   by owner:    each sample charged to the nearest caller that is not Node itself, so a socket
//                write pg asked for counts as pg's, one the HTTP response asked for as koa's;
//   by package:  self time only (the time a function spent in its own code, not in callees);
//   by function: self time.
// Idle time is left out. V8 samples on the wall clock: a thread that was runnable but waiting for
// a core (common on a saturated 2-core machine, right after a write wakes PostgreSQL) is charged
// to whatever it was doing, typically `writev`. bench/cpu.ts's /proc figures are the CPU truth;
// this says where the main thread's time went in proportion.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  byOwner: Array<{ name: string; ms: number; share: number }>;
  byPackage: Array<{ name: string; ms: number; share: number }>;
  byFunction: Array<{ name: string; ms: number; share: number }>;
}

/** The bench runs Gatehouse compiled into node_modules/.cache (run.ts): its frames are Gatehouse's, not a package's. */
const COMPILED_PART = '/node_modules/.cache/gatehouse-bench';

/** Which package (or part of Gatehouse, or of Node) a frame belongs to. */
function packageOf(frame: ProfileNode['callFrame']): string {
  const { functionName } = frame;
  const url = frame.url.replace(COMPILED_PART, '');
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return `gatehouse ${url.slice(src + 1)}`;
  const bench = url.indexOf('/bench/');
  if (bench >= 0) return `bench ${url.slice(bench + 1)}`;
  return url;
}

function shortUrl(compiledUrl: string): string {
  const url = compiledUrl.replace(COMPILED_PART, '');
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const src = url.indexOf('/src/');
  return src >= 0 ? url.slice(src + 1) : url.replace(/^file:\/\//, '');
}

function summariseProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  /** The package of the nearest frame, from the sampled one up, that is neither Node's nor native. */
  const ownerCache = new Map<number, string>();
  const ownerOf = (id: number): string => {
    const cached = ownerCache.get(id);
    if (cached) return cached;
    let owner = packageOf(byId.get(id)!.callFrame);
    if (owner === 'node internals' || owner === '(native)') {
      const parent = parentOf.get(id);
      const above = parent === undefined ? undefined : ownerOf(parent);
      owner = above && above !== '(root)' ? above : `${owner} (no JS caller)`;
    }
    ownerCache.set(id, owner);
    return owner;
  };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const owners = new Map<string, number>();
  const packages = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    busy += us;
    const owner = ownerOf(id);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const pkg = packageOf(frame);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
    const name = frame.url ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : frame.functionName;
    functions.set(name, (functions.get(name) ?? 0) + us);
  }
  const rank = (map: Map<string, number>) => [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, ms: us / 1000, share: busy ? us / busy : 0 }));
  return { file, busyMs: busy / 1000, byOwner: rank(owners), byPackage: rank(packages), byFunction: rank(functions) };
}

function profilesIn(target: string): string[] {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target).filter((name) => name.endsWith('.cpuprofile')).sort().map((name) => path.join(target, name));
}

/** Printable lines, one block per profile. */
export function summariseProfiles(target: string, top = 15): string[] {
  const lines: string[] = [];
  for (const file of profilesIn(target)) {
    const summary = summariseProfile(file, top);
    lines.push(`profile ${file}: ${(summary.busyMs / 1000).toFixed(2)} s busy`);
    lines.push('  by owner (nearest non-Node caller):');
    for (const row of summary.byOwner) lines.push(`    ${(100 * row.share).toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`);
    lines.push('  by package (self time):');
    for (const row of summary.byPackage) lines.push(`    ${(100 * row.share).toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`);
    lines.push('  by function (self time):');
    for (const row of summary.byFunction) lines.push(`    ${(100 * row.share).toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`);
  }
  return lines;
}
