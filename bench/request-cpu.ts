// The main thread's CPU by kind of request, for `bench/flow-cpu.ts`: the thread's CPU time
// (process.threadCpuUsage) is charged, from one request's arrival to its response's end, to that
// request's kind (method and path, ids folded), and what the thread does between requests (the
// outbox sending the notice mail, timers) to "between requests". Only meaningful when requests come
// one at a time, as flow-cpu.ts sends them: with two in flight, each would be charged the other's.
import http from 'node:http';

export interface RequestCpu {
  /** Kind of request → how many, and the main thread's CPU they used, in microseconds. */
  byKind: Record<string, { count: number; cpuMicros: number }>;
}

const BETWEEN = 'between requests';

/** A request's kind: its method and path, with the interaction uid and resume id folded. */
function kindOf(req: http.IncomingMessage): string {
  const path = (req.url ?? '').replace(/\?.*$/, '').replace(/^\/interaction\/[^/]+/, '/interaction/:uid').replace(/^\/auth\/[^/]+/, '/auth/:uid');
  return `${req.method} ${path}`;
}

/** Starts charging every HTTP request this process serves; `take` answers and starts over. */
export function tapRequestCpu(): { take(): RequestCpu } {
  let byKind: RequestCpu['byKind'] = {};
  let since = process.threadCpuUsage();
  let charging = BETWEEN;
  const chargeTo = (next: string) => {
    const now = process.threadCpuUsage();
    const entry = byKind[charging] ??= { count: 0, cpuMicros: 0 };
    entry.cpuMicros += now.user - since.user + now.system - since.system;
    since = now;
    charging = next;
  };
  const emit = http.Server.prototype.emit as (this: http.Server, event: string, ...args: unknown[]) => boolean;
  http.Server.prototype.emit = function emitCharged(this: http.Server, event: string, ...args: unknown[]) {
    if (event === 'request') {
      const [req, res] = args as [http.IncomingMessage, http.ServerResponse];
      const kind = kindOf(req);
      chargeTo(kind);
      (byKind[kind] ??= { count: 0, cpuMicros: 0 }).count += 1;
      res.once('finish', () => chargeTo(BETWEEN));
    }
    return emit.call(this, event, ...args);
  } as typeof http.Server.prototype.emit;
  return {
    take() {
      chargeTo(charging);
      const taken = { byKind };
      byKind = {};
      return taken;
    },
  };
}
