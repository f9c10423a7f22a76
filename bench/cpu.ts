// What a measured window cost in CPU, and who else was using the machine meanwhile. Read from
// /proc (Linux), so it needs nothing from the processes it measures:
//   - a process's CPU time is utime + stime of /proc/<pid>/stat: every thread of it, so argon2 on
//     libuv's pool counts towards the Gatehouse process that asked for it;
//   - PostgreSQL's share is the same, summed over the backends serving the bench's database
//     (pg_stat_activity), which is the database work the requests caused (its background writers
//     are shared with whatever else uses the server, and are left in "others");
//   - the machine's busy time is /proc/stat's first line; what no measured process accounts for
//     is "others": other people's test runs, PostgreSQL's background processes, the kernel.
// Resolution is one clock tick (10 ms at CLK_TCK 100): ample over windows of seconds.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User and system CPU seconds (all threads) a live process has used; undefined once it is gone.
 *  With `mainThreadOnly`, those of its main thread (the event loop: JavaScript, and the sockets
 *  it writes to), without libuv's pool (argon2, webcrypto jobs) or V8's helper threads. */
function processCpuTimes(pid: number, mainThreadOnly = false): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; everything after its closing parenthesis may not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) each thread of a live process has used, with the thread's name; the main thread's id is the pid. */
export function threadCpuSeconds(pid: number): Array<{ tid: number; name: string; seconds: number }> {
  return readdirSync(`/proc/${pid}/task`).map((task) => {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { tid: Number(task), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
  });
}

/** CPU seconds (user + system, all threads) a live process has used; undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  const times = processCpuTimes(pid);
  return times && times.user + times.system;
}

/** Resident set size of a live process, in bytes (VmRSS). */
export function residentBytes(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** Busy and total clock ticks of the whole machine since boot. */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = values.slice(0, 8).map(Number) as number[];
  const total = user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!;
  return { busy: total - idle! - iowait!, total };
}

export interface CpuGroups {
  /** The server(s) under test: Gatehouse instances, or the ceiling. */
  server: number[];
  /** The round-robin proxy, with --instances N. */
  proxy?: number[];
  /** PostgreSQL backends serving the bench database, asked at the start and at the end. */
  postgres?: () => Promise<number[]>;
}

/** CPU over one measured window, in CPU seconds and in cores (CPU seconds per wall second). */
export interface CpuReading {
  wallSeconds: number;
  serverCpuSeconds: number;
  /** The part of serverCpuSeconds spent in the kernel (sockets, mostly). */
  serverSystemCpuSeconds: number;
  /** The part of serverCpuSeconds on the main thread (the event loop); the rest is libuv's pool
   *  (argon2id, webcrypto signing) and V8's helpers (concurrent garbage collection, compilation). */
  serverMainThreadCpuSeconds: number;
  /** null where the server has no database (the ceiling). */
  postgresCpuSeconds: number | null;
  proxyCpuSeconds: number;
  loadGeneratorCpuSeconds: number;
  /** The whole machine's busy time, in cores (out of `nproc`). */
  machineBusyCores: number;
  /** Busy cores no measured process accounts for: other work on the machine, PostgreSQL's
   *  background processes, the kernel. High values mean the machine was not quiet. */
  otherCores: number;
  /** 1-minute load average when the window started. */
  loadAverage1m: number;
}

/** CPU seconds of each live process in `pids`: all threads, the kernel part only, or the main thread only. */
function cpuOf(pids: number[], part: 'all' | 'system' | 'mainThread' = 'all'): Map<number, number> {
  const seconds = new Map<number, number>();
  for (const pid of pids) {
    const times = processCpuTimes(pid, part === 'mainThread');
    if (times) seconds.set(pid, part === 'system' ? times.system : times.user + times.system);
  }
  return seconds;
}

/** Delta over processes alive at the end; a process born during the window counts from zero. */
function delta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, s] of after) total += s - (before.get(pid) ?? 0);
  return total;
}

/** Starts a window; the function it returns ends it and says what it cost. */
export async function startCpuWindow(groups: CpuGroups): Promise<() => Promise<CpuReading>> {
  const loadAverage1m = loadavg()[0]!;
  const pgBefore = groups.postgres ? cpuOf(await groups.postgres()) : undefined;
  const serverBefore = cpuOf(groups.server);
  const serverSystemBefore = cpuOf(groups.server, 'system');
  const serverMainBefore = cpuOf(groups.server, 'mainThread');
  const proxyBefore = cpuOf(groups.proxy ?? []);
  const selfBefore = processCpuSeconds(process.pid) ?? 0;
  const machineBefore = machineTicks();
  const started = performance.now();
  return async () => {
    const wallSeconds = (performance.now() - started) / 1000;
    const machineAfter = machineTicks();
    const serverCpuSeconds = delta(serverBefore, cpuOf(groups.server));
    const serverSystemCpuSeconds = delta(serverSystemBefore, cpuOf(groups.server, 'system'));
    const serverMainThreadCpuSeconds = delta(serverMainBefore, cpuOf(groups.server, 'mainThread'));
    const proxyCpuSeconds = delta(proxyBefore, cpuOf(groups.proxy ?? []));
    const loadGeneratorCpuSeconds = (processCpuSeconds(process.pid) ?? 0) - selfBefore;
    const postgresCpuSeconds = groups.postgres ? delta(pgBefore!, cpuOf(await groups.postgres())) : null;
    const ticks = machineAfter.total - machineBefore.total;
    const machineBusyCores = ticks > 0 ? ((machineAfter.busy - machineBefore.busy) / ticks) * availableParallelism() : 0;
    const accounted = (serverCpuSeconds + proxyCpuSeconds + loadGeneratorCpuSeconds + (postgresCpuSeconds ?? 0)) / wallSeconds;
    return {
      wallSeconds, serverCpuSeconds, serverSystemCpuSeconds, serverMainThreadCpuSeconds, postgresCpuSeconds, proxyCpuSeconds, loadGeneratorCpuSeconds,
      machineBusyCores, otherCores: Math.max(0, machineBusyCores - accounted), loadAverage1m,
    };
  };
}
