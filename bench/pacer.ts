// Paced load: requests sent at a fixed rate over a fixed set of keep-alive connections, for the
// windows measured at half the saturated throughput (scenarios.ts, pacedWindow). Why not
// autocannon or loadtest for this: see pacer below.
import http from 'node:http';
import type autocannon from 'autocannon';

type Request = autocannon.Request;

/**
 * `rate` requests a second over `connections` keep-alive connections, evenly spaced: request k is
 * due k/rate s into the window and goes out on connection k mod `connections`, or on the next free
 * one (if every one is busy, on the first to free up, counted in `waited`). Latency runs from the
 * request going out to the whole answer, as autocannon's does. Not autocannon's overallRate: that
 * gives each connection a budget per second which it spends back to back from the top of the
 * second, then idles, so at half the saturated throughput every connection is busy for the first
 * half of each second and the server is as saturated then as in a closed loop. Not loadtest
 * (8.2) either, though it does space requests evenly: with a rate set it ignores `concurrency` and
 * opens another connection whenever none is free (25 on a toy server answering at once, 119 at
 * 20 ms), and it keeps latencies in whole milliseconds — not the same window, nor the resolution
 * a 10 ms target needs. Hence this much of our own load generation.
 */
export function pacer(base: string, connections: number) {
  const url = new URL(base);
  const agents = Array.from({ length: connections }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const run = (requests: Request[], seconds: number, rate: number) => new Promise<{ latencies: number[]; failed: number; non2xx: number; waited: number; elapsed: number }>((resolve) => {
    const total = Math.floor(rate * seconds);
    const busy = agents.map(() => false);
    const queue: number[] = [];
    const latencies: number[] = [];
    let failed = 0;
    let non2xx = 0;
    let waited = 0;
    let next = 0;
    let inFlight = 0;
    const started = performance.now();
    const settle = () => {
      if (next === total && inFlight === 0) resolve({ latencies: latencies.sort((a, b) => a - b), failed, non2xx, waited, elapsed: (performance.now() - started) / 1000 });
    };
    const free = (connection: number) => {
      inFlight -= 1;
      busy[connection] = false;
      const waiting = queue.shift();
      if (waiting !== undefined) send(waiting, connection);
      settle();
    };
    const send = (k: number, connection: number) => {
      busy[connection] = true;
      inFlight += 1;
      const r = requests[k % requests.length]!;
      const headers = { ...r.headers, ...(r.body !== undefined ? { 'content-length': String(Buffer.byteLength(r.body)) } : {}) };
      const sent = performance.now();
      let answered = false;
      const fail = () => {
        if (answered) return;
        answered = true;
        failed += 1;
        free(connection);
      };
      const request = http.request({ host: url.hostname, port: url.port, method: r.method ?? 'GET', path: r.path ?? '/', headers, agent: agents[connection], timeout: 10_000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          if (answered) return;
          answered = true;
          latencies.push(performance.now() - sent);
          const status = response.statusCode ?? 0;
          if (status < 200 || status >= 300) non2xx += 1;
          else if (typeof r.onResponse === 'function') r.onResponse(status, Buffer.concat(chunks).toString(), {}, response.headers);
          free(connection);
        });
      });
      request.on('timeout', () => request.destroy(new Error('request timed out')));
      request.on('error', fail);
      request.end(r.body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
      for (; next < due; next += 1) {
        const preferred = next % connections;
        const offset = busy.findIndex((_, i) => !busy[(preferred + i) % connections]);
        if (offset >= 0) send(next, (preferred + offset) % connections);
        else { queue.push(next); waited += 1; }
      }
      if (next < total) setTimeout(tick, Math.max(0, (next * 1000) / rate - (performance.now() - started)));
      else settle();
    };
    tick();
  });
  return { run, close: () => agents.forEach((agent) => agent.destroy()) };
}
