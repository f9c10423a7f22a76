// The bench's request-by-request CPU tap (bench/request-cpu.ts), over real HTTP: each request is
// charged to its kind (method and path, an interaction's uid folded), what happens between
// requests to "between requests", and taking the figures starts them over.
import http from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tapRequestCpu } from '../../bench/request-cpu.js';

let server: http.Server;
let base: string;
const tap = tapRequestCpu();

beforeAll(async () => {
  server = http.createServer((_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('tapRequestCpu', () => {
  it('charges each request to its kind, folding interaction uids, and starts over when taken', async () => {
    tap.take();
    for (const path of ['/interaction/abc123/login', '/interaction/def456/login', '/token?x=1']) {
      await (await fetch(`${base}${path}`, { method: 'POST' })).text();
    }
    await (await fetch(`${base}/auth/resume-id`)).text();
    const { byKind } = tap.take();
    expect(Object.fromEntries(Object.entries(byKind).map(([kind, { count }]) => [kind, count]))).toEqual({
      'POST /interaction/:uid/login': 2,
      'POST /token': 1,
      'GET /auth/:uid': 1,
      'between requests': 0,
    });
    for (const { cpuMicros } of Object.values(byKind)) expect(cpuMicros).toBeGreaterThanOrEqual(0);
    expect(tap.take().byKind).toEqual({ 'between requests': { count: 0, cpuMicros: expect.any(Number) } });
  });
});
