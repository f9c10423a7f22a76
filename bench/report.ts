// Writes a run's results: the whole record as JSON under bench/results/, and the tables in
// docs/performance.md between the generated-section markers (the prose around them is kept).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FloorResult } from './floor.js';
import type { ScenarioResult } from './scenarios.js';

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
  machine: Machine;
  /** Gatehouse with one instance, the ceiling, and (with --instances 2) Gatehouse behind the proxy. */
  results: Array<ScenarioResult & { instances?: number }>;
  floor: FloorResult;
  targets: Array<{ target: string; met: boolean | null; detail: string }>;
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));

/** The ceiling's row for a Gatehouse scenario, when the ceiling runs it. */
export function ceilingFor(results: ScenarioResult[], scenario: string): ScenarioResult | undefined {
  return results.find((r) => r.target === 'ceiling' && r.scenario === scenario);
}

export function evaluateTargets(results: RunRecord['results'], floor: FloorResult): RunRecord['targets'] {
  const gate = results.filter((r) => r.target === 'gatehouse' && (r.instances ?? 1) === 1);
  const find = (prefix: string) => gate.find((r) => r.scenario.startsWith(prefix));
  const targets: RunRecord['targets'] = [];
  for (const prefix of ['refresh_token', 'client_credentials', 'introspection (JWT']) {
    const g = find(prefix);
    const c = g && ceilingFor(results, g.scenario);
    if (!g) continue;
    targets.push(c
      ? { target: `${g.scenario} ≥ 50% of ceiling`, met: g.perSecond >= 0.5 * c.perSecond, detail: `${fmt((100 * g.perSecond) / c.perSecond)}% (${fmt(g.perSecond)} vs ${fmt(c.perSecond)} req/s)` }
      : { target: `${g.scenario} ≥ 50% of ceiling`, met: null, detail: 'n/a: the bare provider cannot introspect a JWT access token' });
  }
  for (const g of gate.filter((r) => r.scenario.startsWith('introspection'))) {
    targets.push({ target: `${g.scenario}: p99 < 10 ms at ${g.connections} connections`, met: g.latencyMs.p99 < 10, detail: `p99 ${fmt(g.latencyMs.p99, 1)} ms` });
  }
  const flow = find('authorization-code flow');
  if (flow) {
    const allowed = floor.argon2idHashPerSecAllCores;
    targets.push({ target: 'sign-in throughput ≥ 80% of argon2id alone', met: flow.perSecond >= 0.8 * allowed, detail: `${fmt(flow.perSecond, 1)} flows/s vs ${fmt(allowed, 1)} argon2id hashes/s on all cores (${fmt((100 * flow.perSecond) / allowed)}%)` });
  }
  const withErrors = results.filter((r) => r.errors > 0);
  targets.push({ target: 'zero errors', met: withErrors.length === 0, detail: withErrors.length ? withErrors.map((r) => `${r.target}/${r.scenario}: ${r.errors}`).join('; ') : 'none' });
  return targets;
}

function table(record: RunRecord): string {
  const m = record.machine;
  const lines = [
    `Last run: ${record.startedAt} (${record.mode}${record.instances > 1 ? `, --instances ${record.instances}` : ''}) · ${m.nproc} CPU (${m.cpuModel}) · ${m.memoryGiB} GiB · Node ${m.node} · ${m.postgres}`,
    '',
    '| Scenario | Server | req/s | p50 ms | p95 ms | p99 ms | errors | DB round trips/req | Gatehouse/ceiling |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const gate = record.results.filter((r) => r.target === 'gatehouse');
  for (const g of gate) {
    const c = (g.instances ?? 1) === 1 ? ceilingFor(record.results, g.scenario) : undefined;
    const rows = [g, ...(c ? [c] : [])];
    for (const r of rows) {
      const server = r.target === 'ceiling' ? 'ceiling' : `Gatehouse${(r.instances ?? 1) > 1 ? ` ×${r.instances} (proxy)` : ''}`;
      const ratio = r === g ? (c ? `${fmt((100 * g.perSecond) / c.perSecond)}%` : 'n/a') : '';
      lines.push(`| ${r.scenario} | ${server} | ${fmt(r.perSecond, r.perSecond < 100 ? 1 : 0)} | ${fmt(r.latencyMs.p50, 1)} | ${fmt(r.latencyMs.p95, 1)} | ${fmt(r.latencyMs.p99, 1)} | ${r.errors} | ${fmt(r.dbRoundTripsPerRequest, 2)} | ${ratio} |`);
    }
  }
  const notes = record.results.filter((r) => r.notes).map((r) => `- ${r.target}/${r.scenario}: ${r.notes}`);
  const f = record.floor;
  lines.push(
    '',
    `${record.results[0]?.connections ?? 16} connections per request scenario, ${record.results[0]?.seconds ?? '?'} s measured after a warm-up; latencies are over every response.`,
    ...(notes.length ? ['', ...notes] : []),
    '',
    '**Crypto floor** (in-process, one operation at a time):',
    '',
    '| Operation | ops/s |',
    '|---|---:|',
    `| ES256 sign | ${fmt(f.es256SignPerSec)} |`,
    `| ES256 verify | ${fmt(f.es256VerifyPerSec)} |`,
    `| RS256 sign (2048) | ${fmt(f.rs256SignPerSec)} |`,
    `| argon2id hash (m=${f.argon2Parameters.memoryCost}, t=${f.argon2Parameters.timeCost}, p=${f.argon2Parameters.parallelism}) | ${fmt(f.argon2idHashPerSec, 1)} |`,
    `| argon2id hash, ${m.nproc} in flight | ${fmt(f.argon2idHashPerSecAllCores, 1)} |`,
    '',
    '**Targets**',
    '',
    ...record.targets.map((t) => `- ${t.met === null ? '➖' : t.met ? '✅' : '❌'} ${t.target}: ${t.detail}`),
  );
  return lines.join('\n');
}

const PROSE = `# Performance

\`npm run bench\` measures Gatehouse under load on PostgreSQL and compares it with a ceiling: a bare
oidc-provider with its in-memory adapter and the same token settings. The section between the
markers below is rewritten by every run; the rest of this page is not.

`;

export function writeReport(record: RunRecord, root: string): { json: string; doc: string } {
  const resultsDir = path.join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = path.join(resultsDir, `${record.startedAt.replace(/:/g, '-')}-${record.mode}.json`);
  writeFileSync(json, `${JSON.stringify(record, null, 2)}\n`);

  const doc = path.join(root, 'docs', 'performance.md');
  mkdirSync(path.dirname(doc), { recursive: true });
  const current = existsSync(doc) ? readFileSync(doc, 'utf8') : `${PROSE}${START}\n${END}\n`;
  const generated = `${START}\n${table(record)}\n${END}`;
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  const next = start >= 0 && end > start
    ? `${current.slice(0, start)}${generated}${current.slice(end + END.length)}`
    : `${current.trimEnd()}\n\n${generated}\n`;
  writeFileSync(doc, next);
  return { json, doc };
}
