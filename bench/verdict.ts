// How a target is judged, so that a run on a busy machine can never claim one it did not meet.
//
// One window proves little on a shared machine: another job can take a core for a few seconds and
// halve a throughput, and a ceiling measured in a quiet moment beside a Gatehouse measured in a busy
// one makes any ratio up. So every scenario is measured in alternating windows (Gatehouse, ceiling,
// Gatehouse, …; run.ts), at least MIN_QUIET pairs, and judged here:
//   - a window is quiet when work no measured process accounts for used at most NOISY_OTHER_CORES
//     (cpu.ts: "others"); run.ts repeats a noisy window before giving up on it;
//   - the primary verdict is CPU per request (server CPU ÷ successful requests), compared pair by
//     pair: it holds on a shared machine where throughput does not, because a busy neighbour slows
//     a request down without making it cost more;
//   - only quiet windows count; with fewer than MIN_QUIET of them the target reads "inconclusive"
//     (met: null), whatever the numbers say;
//   - what is reported is the median with its spread (lowest–highest), never the best window.
import { median } from './stats.js';

/** Busy cores no measured process accounts for, above which a window is not evidence. */
export const NOISY_OTHER_CORES = 0.3;
/** Quiet windows (or pairs) a verdict needs. */
export const MIN_QUIET = 3;

/** One measured window of one scenario on one server, as the verdicts need it. */
export interface WindowSample {
  /** Successful requests (or flows) per second. */
  perSecond: number;
  p99Ms: number;
  errors: number;
  /** Server CPU per successful request, in ms; null where it was not measured. */
  cpuMsPerRequest: number | null;
  /** Its part on the server's main thread (the event loop), where measured: argon2id never runs there. */
  mainThreadCpuMsPerRequest?: number | null;
  /** Busy cores no measured process accounts for; null where not measured (never quiet then). */
  otherCores: number | null;
  /** How many times the window was run: more than 1 when a noisy one was repeated. */
  attempts: number;
  /** The paced window at half this one's throughput, where the scenario has one. */
  paced?: { p99Ms: number; otherCores: number | null; errors: number };
}

export interface Verdict {
  /** null: inconclusive (too few quiet windows), or nothing to judge. */
  met: boolean | null;
  detail: string;
}

export interface Spread { median: number; min: number; max: number; n: number }

export const isQuiet = (otherCores: number | null | undefined): boolean =>
  otherCores !== null && otherCores !== undefined && otherCores <= NOISY_OTHER_CORES;

/** Median, lowest and highest of the values; undefined for none. */
export function spreadOf(values: number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

const fmt = (n: number, digits: number) => n.toFixed(digits);

/** "1.42 (1.38–1.51, 3 quiet)": a median with its spread. */
export function describeSpread(s: Spread, digits = 2, unit = ''): string {
  return `${fmt(s.median, digits)}${unit} (${fmt(s.min, digits)}–${fmt(s.max, digits)}${unit}, ${s.n} quiet)`;
}

function inconclusive(quiet: number, total: number, what: string): Verdict {
  return {
    met: null,
    detail: `inconclusive: ${quiet} of ${total} ${what} quiet (other work used more than ${NOISY_OTHER_CORES} core in the rest); ${MIN_QUIET} are needed`,
  };
}

/**
 * Gatehouse's CPU per request against the ceiling's, window i against window i: met when the
 * median ratio over quiet pairs is at most `limit`.
 */
export function cpuRatioAtMost(gatehouse: WindowSample[], ceiling: WindowSample[], limit: number): Verdict {
  const pairs = gatehouse.slice(0, ceiling.length).map((g, i) => [g, ceiling[i]!] as const);
  const quiet = pairs.filter(([g, c]) => isQuiet(g.otherCores) && isQuiet(c.otherCores) && g.cpuMsPerRequest !== null && c.cpuMsPerRequest !== null && c.cpuMsPerRequest > 0);
  if (quiet.length < MIN_QUIET) return inconclusive(quiet.length, pairs.length, 'pairs');
  const ratios = spreadOf(quiet.map(([g, c]) => g.cpuMsPerRequest! / c.cpuMsPerRequest!))!;
  const ours = spreadOf(quiet.map(([g]) => g.cpuMsPerRequest!))!;
  const theirs = spreadOf(quiet.map(([, c]) => c.cpuMsPerRequest!))!;
  return {
    met: ratios.median <= limit,
    detail: `${describeSpread(ratios, 2, '×')}; Gatehouse ${describeSpread(ours, 3, ' ms')}, ceiling ${describeSpread(theirs, 3, ' ms')} per request`,
  };
}

/** A quantity measured once per window (only quiet windows count): met when its median is below `limit`. */
export function medianBelow(samples: Array<{ value: number; otherCores: number | null }>, limit: number, unit: string, digits = 1): Verdict {
  const quiet = samples.filter((s) => isQuiet(s.otherCores) && Number.isFinite(s.value));
  if (quiet.length < MIN_QUIET) return inconclusive(quiet.length, samples.length, 'windows');
  const s = spreadOf(quiet.map((q) => q.value))!;
  return { met: s.median < limit, detail: describeSpread(s, digits, unit) };
}

/**
 * Throughput of `many` against `one`, window i against window i (WORKERS=cores against WORKERS=1):
 * met when the median ratio over quiet pairs is above `limit`.
 */
export function throughputRatioAbove(many: WindowSample[], one: WindowSample[], limit: number): Verdict {
  const pairs = many.slice(0, one.length).map((m, i) => [m, one[i]!] as const);
  const quiet = pairs.filter(([m, o]) => isQuiet(m.otherCores) && isQuiet(o.otherCores) && o.perSecond > 0);
  if (quiet.length < MIN_QUIET) return inconclusive(quiet.length, pairs.length, 'pairs');
  const ratios = spreadOf(quiet.map(([m, o]) => m.perSecond / o.perSecond))!;
  return { met: ratios.median > limit, detail: `${describeSpread(ratios, 2, '×')} the throughput of WORKERS=1` };
}

/** The window a table shows for a scenario: the quiet one with the median CPU per request, else the median of all. */
export function representative<T extends { window: WindowSample }>(rows: T[]): T | undefined {
  const quiet = rows.filter((r) => isQuiet(r.window.otherCores));
  const pool = quiet.length ? quiet : rows;
  const key = (r: T) => r.window.cpuMsPerRequest ?? r.window.perSecond;
  const sorted = [...pool].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
