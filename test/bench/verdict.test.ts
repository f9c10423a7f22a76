// The benchmark's verdicts (bench/verdict.ts, bench/report.ts): a target is met only on quiet
// windows, and a run on a busy machine leaves it inconclusive instead of claiming it.
import { describe, expect, it } from 'vitest';
import { evaluateTargets, type RunRecord } from '../../bench/report.js';
import { cpuRatioAtMost, medianBelow, throughputRatioAbove, type WindowSample } from '../../bench/verdict.js';

const window = (cpuMsPerRequest: number, otherCores: number, extra: Partial<WindowSample> = {}): WindowSample => ({
  perSecond: 1000 / cpuMsPerRequest, p99Ms: 5, errors: 0, cpuMsPerRequest, otherCores, attempts: 1, ...extra,
});

describe('CPU per request against the ceiling', () => {
  it('is met on three quiet pairs whose median ratio is within the limit, and says the spread', () => {
    const verdict = cpuRatioAtMost([window(1.2, 0.1), window(1.25, 0.05), window(1.4, 0.2)], [window(1, 0.1), window(1, 0.1), window(1, 0.1)], 1.3);
    expect(verdict.met).toBe(true);
    expect(verdict.detail).toContain('1.25× (1.20–1.40×, 3 quiet)');
  });

  it('is missed when the median of quiet pairs is over the limit', () => {
    expect(cpuRatioAtMost([window(1.6, 0), window(1.7, 0), window(1.65, 0)], [window(1, 0), window(1, 0), window(1, 0)], 1.3).met).toBe(false);
  });

  it('is inconclusive when other work disturbed a window, however good the numbers', () => {
    const verdict = cpuRatioAtMost([window(0.5, 0.1), window(0.5, 0.9), window(0.5, 0.1)], [window(1, 0.1), window(1, 0.1), window(1, 0.1)], 1.3);
    expect(verdict.met).toBeNull();
    expect(verdict.detail).toMatch(/^inconclusive: 2 of 3 pairs quiet/);
  });

  it('counts a disturbed ceiling window against the pair too, and an unmeasured one as never quiet', () => {
    expect(cpuRatioAtMost([window(1, 0), window(1, 0), window(1, 0)], [window(1, 0), window(1, 0.31), window(1, 0)], 1.3).met).toBeNull();
    expect(cpuRatioAtMost([window(1, 0), window(1, 0), window(1, 0)], [window(1, 0), { ...window(1, 0), otherCores: null }, window(1, 0)], 1.3).met).toBeNull();
  });
});

describe('medians and throughput ratios', () => {
  it('judges a median over quiet windows only, and needs three of them', () => {
    expect(medianBelow([{ value: 4, otherCores: 0 }, { value: 30, otherCores: 1.2 }, { value: 5, otherCores: 0 }, { value: 6, otherCores: 0.2 }], 8, ' ms').met).toBe(true);
    expect(medianBelow([{ value: 4, otherCores: 0 }, { value: 5, otherCores: 0.5 }, { value: 5, otherCores: 0 }], 8, ' ms').met).toBeNull();
    expect(medianBelow([{ value: 9, otherCores: 0 }, { value: 12, otherCores: 0 }, { value: 5, otherCores: 0 }], 8, ' ms').met).toBe(false);
  });

  it('says WORKERS=N serves more only from quiet pairs', () => {
    const one = [window(1, 0), window(1, 0), window(1, 0)];
    expect(throughputRatioAbove([window(0.6, 0), window(0.6, 0), window(0.6, 0)], one, 1).met).toBe(true);
    expect(throughputRatioAbove([window(0.6, 0.5), window(0.6, 0), window(0.6, 0)], one, 1).met).toBeNull();
  });
});

describe('a whole run', () => {
  const row = (target: 'gatehouse' | 'ceiling', scenario: string, windows: WindowSample[]) => ({
    scenario, target, completed: 1000, perSecond: 1000, latencyMs: { p50: 1, p95: 2, p99: 3 }, errors: 0, dbRoundTripsPerRequest: null,
    connections: 16, seconds: 8, windows, ...(target === 'gatehouse' ? { instances: 1 } : {}),
  });
  const record = (other: number): RunRecord => ({
    startedAt: '2026-12-06T10:00:00Z', mode: 'quick', instances: 1,
    machine: { nproc: 2, cpuModel: 'test', memoryGiB: 24, node: 'v22', postgres: 'PostgreSQL 15' },
    results: [
      row('gatehouse', 'client_credentials', [window(1.1, other), window(1.1, 0), window(1.1, 0)]),
      row('ceiling', 'client_credentials', [window(1, 0), window(1, 0), window(1, 0)]),
      row('gatehouse', 'authorization-code flow (sign-in + remembered consent + code exchange)', [window(20, other), window(21, 0), window(22, 0)]),
    ],
    floor: { es256SignPerSec: 1, es256VerifyPerSec: 1, rs256SignPerSec: 1, argon2idHashPerSec: 40, argon2idHashPerSecAllCores: 80, argon2idCpuMsPerHash: 15, otherCores: 0.05, argon2Parameters: { memoryCost: 19456, timeCost: 2, parallelism: 1 } },
    targets: [],
  });

  it('meets its targets when every window was quiet', () => {
    const targets = evaluateTargets(record(0.1));
    expect(targets.find((t) => t.target.startsWith('client_credentials'))).toMatchObject({ met: true });
    expect(targets.find((t) => t.target.startsWith('sign-in flow'))).toMatchObject({ met: true });
  });

  it('claims none of them when a window of each was disturbed, though its numbers were the same', () => {
    const targets = evaluateTargets(record(0.8));
    expect(targets.find((t) => t.target.startsWith('client_credentials'))).toMatchObject({ met: null });
    expect(targets.find((t) => t.target.startsWith('sign-in flow'))).toMatchObject({ met: null });
    expect(targets.filter((t) => t.met === true).map((t) => t.target)).toEqual(['zero errors']);
  });

  it('never takes more off a flow than its main thread leaves: a floor that reads high cannot meet the sign-in target', () => {
    // The run of 2026-12-06 23:18 on Node 22: 36.3 ms a flow, 12.1 of them on the main thread, and
    // a floor of 31.0 ms a hash that read "5.3 ms besides argon2id, met".
    const run = record(0.1);
    run.results[2]!.windows = [36.3, 35.0, 40.7].map((cpu) => window(cpu, 0.1, { mainThreadCpuMsPerRequest: 12.1 }));
    run.floor.argon2idCpuMsPerHash = 31.0;
    const flow = evaluateTargets(run).find((t) => t.target.startsWith('sign-in flow'))!;
    expect(flow.met).toBe(false);
    expect(flow.detail).toMatch(/^12\.1 ms/);
    expect(flow.detail).toContain('in 3 of 3 quiet windows the hash');
    // Where the floor is below what the other threads used, the subtraction stands.
    run.floor.argon2idCpuMsPerHash = 18;
    expect(evaluateTargets(run).find((t) => t.target.startsWith('sign-in flow'))!.detail).toMatch(/^18\.3 ms/);
  });

  it('leaves the sign-in target open when the argon2id floor was measured on a busy machine', () => {
    const busyFloor = record(0.1);
    busyFloor.floor.otherCores = 0.9;
    expect(evaluateTargets(busyFloor).find((t) => t.target.startsWith('sign-in flow'))).toMatchObject({ met: null, detail: expect.stringContaining('argon2id floor') });
  });
});
