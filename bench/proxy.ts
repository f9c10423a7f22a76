// A tiny round-robin HTTP proxy on loopback, for `--instances 2`: each request goes to the next
// Gatehouse in turn over a keep-alive connection pool. Runs as its own process (forked by run.ts)
// so it does not share an event loop with the load generator. It forwards X-Forwarded-For so
// per-address limits still see the client, and changes nothing else.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export function startProxy(targets: URL[], port: number): Promise<http.Server> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let next = 0;
  const server = http.createServer((req, res) => {
    const target = targets[next++ % targets.length]!;
    const upstream = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
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
  process.send({ cmd: 'ready', address: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}
