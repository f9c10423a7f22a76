// A tiny round-robin HTTP proxy on loopback, for `--instances N`: each request goes to the next
// Gatehouse in turn over a keep-alive connection pool. Runs as its own process (forked by run.ts)
// so it does not share an event loop with the load generator. It changes nothing in requests or
// answers, with one exception for the cross-instance walk (walk.ts): a request carrying
// `x-bench-instance: <k>` goes to instance k (0-based) instead of the next one, the header is not
// forwarded, and every answer says which instance served it in `x-bench-served-by`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const PIN_HEADER = 'x-bench-instance';
export const SERVED_BY_HEADER = 'x-bench-served-by';

function startProxy(targets: URL[], port: number): Promise<http.Server> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let next = 0;
  const server = http.createServer((req, res) => {
    const pinned = Number(req.headers[PIN_HEADER]);
    const index = Number.isInteger(pinned) && pinned >= 0 && pinned < targets.length ? pinned : next++ % targets.length;
    const target = targets[index]!;
    const { [PIN_HEADER]: _pin, ...headers } = req.headers;
    const upstream = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
      agent,
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, [...answer.rawHeaders, SERVED_BY_HEADER, String(index)]);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

// Forked by run.ts: BENCH_PROXY_TARGETS is a comma-separated list of base URLs.
if (process.send && process.env.BENCH_PROXY_TARGETS) {
  const targets = process.env.BENCH_PROXY_TARGETS.split(',').map((t) => new URL(t));
  const server = await startProxy(targets, Number(process.env.BENCH_PROXY_PORT ?? 0));
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: { cmd?: string }) => { if (message.cmd === 'stop') process.exit(0); });
  process.send({ cmd: 'ready', address: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}
