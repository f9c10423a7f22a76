// Alternating windows: each scenario is measured on every server in turn (Gatehouse, the ceiling,
// Gatehouse as WORKERS=N, then Gatehouse again …), `pairs` rounds, so that whatever else the
// machine is doing falls on all of them alike and no comparison rests on one lucky window. A window
// that other work disturbed (verdict.ts: isQuiet) is run again, up to ATTEMPTS times, before it is
// kept as noisy; a noisy window counts for no target.
import type { ScenarioResult } from './scenarios.js';
import { isQuiet, representative, type WindowSample } from './verdict.js';

/** Runs of one window before a noisy one is kept as it is. */
export const ATTEMPTS = 3;

/** One server the windows alternate between. */
export interface Side<T> {
  label: string;
  /** What its rows are tagged with in the record (instances, workers). */
  tag: Record<string, number>;
  /** Its handle for the measure function: the target and probe, for instance. */
  server: T;
}

export function sampleOf(r: ScenarioResult, attempts: number): WindowSample {
  return {
    perSecond: r.perSecond,
    p99Ms: r.latencyMs.p99,
    errors: r.errors,
    cpuMsPerRequest: r.cpu?.serverCpuMsPerRequest ?? null,
    mainThreadCpuMsPerRequest: r.cpu?.serverMainThreadCpuMsPerRequest ?? null,
    otherCores: r.cpu?.otherCores ?? null,
    attempts,
    ...(r.paced ? { paced: { p99Ms: r.paced.latency.p99, otherCores: r.paced.cpu?.otherCores ?? null, errors: r.paced.errors } } : {}),
  };
}

/** A window, run again while other work disturbed it (both the saturated and, where there is one, the paced part). */
async function quietWindow(measure: () => Promise<ScenarioResult>, log: (line: string) => void, label: string): Promise<{ result: ScenarioResult; attempts: number }> {
  for (let attempts = 1; ; attempts += 1) {
    const result = await measure();
    const quiet = isQuiet(result.cpu?.otherCores) && (!result.paced || isQuiet(result.paced.cpu?.otherCores));
    if (quiet || attempts >= ATTEMPTS) return { result, attempts };
    log(`  ${label}: other work used ${(result.cpu?.otherCores ?? NaN).toFixed(2)} cores meanwhile, measuring that window again`);
  }
}

/**
 * `pairs` rounds of one window on every side that measures this scenario (`measureOn` returns
 * undefined for a side that does not). Returns one row per side: the representative window's
 * figures, with every window's sample in `windows`. A window that failed outright counts as a
 * window with every request in error, so it can only count against the target.
 */
export async function alternate<T>(
  sides: Array<Side<T>>,
  pairs: number,
  measureOn: (side: Side<T>) => (() => Promise<ScenarioResult>) | undefined,
  log: (line: string) => void,
): Promise<Array<ScenarioResult & Record<string, unknown>>> {
  const active = sides.flatMap((side) => {
    const measure = measureOn(side);
    return measure ? [{ side, measure, rows: [] as Array<{ result: ScenarioResult; window: WindowSample }> }] : [];
  });
  for (let round = 1; round <= pairs; round += 1) {
    for (const entry of active) {
      const { result, attempts } = await quietWindow(entry.measure, log, `${entry.side.label} window ${round}`);
      entry.rows.push({ result, window: sampleOf(result, attempts) });
    }
  }
  return active.flatMap(({ side, rows }) => {
    const shown = representative(rows);
    return shown ? [{ ...shown.result, ...side.tag, windows: rows.map((r) => r.window) }] : [];
  });
}
