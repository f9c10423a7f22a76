// SIGTERM as a load balancer and its clients see it, on a real process: /readyz turns 503 at once,
// keep-alive connections are closed between requests (the next response says `Connection:
// close`), a request in progress finishes, new connections are refused once the drain delay is
// over, no client sees a reset, and the process exits 0.
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { holdRequest, rawRequest, type RawResponse } from '../support/held-request.js';
import { logLines, startReadyMain, type ReadyProcess, type Server } from '../support/process.js';

const CLIENTS = 4;

let testDb: TestDatabase;
let running: ReadyProcess | undefined;
let server: Server | undefined;
let origin: string;
let api: { clientId: string; clientSecret: string };

// A process of its own needs a database both it and the test can reach: PostgreSQL.
const postgres = await usingPostgres();

beforeAll(async () => {
  if (!postgres) return;
  testDb = await createTestDatabase();
  const created = await new ResourceServerStore(testDb.db).create({ identifier: 'https://api.example.test', scope: 'notes:read', isDefault: true });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  running = await startReadyMain(testDb.url!, {
    // Long enough that a loaded machine still sends the idle connection's request before the
    // listener closes; the test waits it out once.
    SHUTDOWN_DRAIN_DELAY: '5',
    SHUTDOWN_TIMEOUT: '60',
  });
  ({ server, origin } = running);
}, 120_000);

afterAll(async () => {
  // The test stops it with SIGTERM; should it fail first, nothing is left running.
  await running?.stop('SIGKILL');
  await testDb?.destroy();
});

const introspection = () => ({
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${api.clientId}:${api.clientSecret}`).toString('base64')}`,
  },
  body: new URLSearchParams({ token: randomBytes(32).toString('base64url') }).toString(),
});

/** Opens a TCP connection and closes it at once, sending nothing: 'accepted' or the error code. */
function connectOnce(): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once('connect', () => { socket.destroy(); resolve('accepted'); });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
  });
}

interface ClientRun {
  answers: RawResponse[];
  errors: string[];
}

/**
 * An API calling Gatehouse back to back on one keep-alive connection, as a load balancer's pool
 * would, until Gatehouse tells it the connection is closing (and, like a load balancer that has
 * seen /readyz fail, it sends no more). Resolves once that happened.
 */
function keepAliveClient(started: () => void): Promise<ClientRun> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const run: ClientRun = { answers: [], errors: [] };
  return (async () => {
    for (;;) {
      try {
        const answer = await rawRequest(`${origin}/token/introspection`, { ...introspection(), agent });
        run.answers.push(answer);
        if (run.answers.length === 1) started();
        if (answer.headers.connection === 'close') break;
      } catch (error) {
        run.errors.push((error as NodeJS.ErrnoException).code ?? String(error));
        break;
      }
    }
    agent.destroy();
    return run;
  })();
}

describe.skipIf(!postgres)('SIGTERM', () => {
  it('drains: /readyz 503 at once, keep-alive connections closed between requests, in-flight requests answered, no resets, exit 0', { timeout: 120_000 }, async () => {
    // A request admitted before the signal, whose body the client is still sending.
    const held = holdRequest(`${origin}/token/introspection`, introspection());
    await held.taken;
    // A keep-alive connection, idle when the signal arrives.
    const idle = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await rawRequest(`${origin}/healthz`, { agent: idle });
    expect(before.headers.connection).toBe('keep-alive');
    // Several keep-alive clients in full flow.
    let running = 0;
    let allRunning!: () => void;
    const flowing = new Promise<void>((resolve) => { allRunning = resolve; });
    const clients = Array.from({ length: CLIENTS }, () => keepAliveClient(() => { running += 1; if (running === CLIENTS) allRunning(); }));
    await flowing;

    expect(server!.child.kill('SIGTERM')).toBe(true);

    // The load balancer is told at once: /readyz answers 503 while the listener is still open.
    let readiness: RawResponse;
    do readiness = await rawRequest(`${origin}/readyz`);
    while (readiness.status === 200);
    expect({ status: readiness.status, body: JSON.parse(readiness.body) }).toEqual({ status: 503, body: { status: 'draining' } });

    // The idle connection's next request is answered, and the answer says the connection closes.
    const after = await rawRequest(`${origin}/healthz`, { agent: idle });
    expect({ status: after.status, connection: after.headers.connection }).toEqual({ status: 200, connection: 'close' });
    idle.destroy();

    // The request in progress finishes with its answer.
    const answer = await held.finish();
    expect({ status: answer.status, body: JSON.parse(answer.body), connection: answer.headers.connection })
      .toEqual({ status: 200, body: { active: false }, connection: 'close' });

    // Every client request was answered, none was reset, and each connection was closed by
    // Gatehouse between requests.
    for (const run of await Promise.all(clients)) {
      expect(run.errors).toEqual([]);
      expect(run.answers.every((res) => res.status === 200)).toBe(true);
      expect(run.answers.at(-1)!.headers.connection).toBe('close');
    }

    // Once the drain delay is over, new connections are refused, and the process exits 0. The
    // probe only connects: a connection still in the kernel's accept queue when a listener closes
    // is reset by the kernel, whatever the server does, which is why the drain delay exists (the
    // load balancer stops opening connections first).
    // A probe caught in that queue at the moment of closing is reset by the kernel: probe again.
    // Probes are 50 ms apart, as waitFor200 polls: back to back, for the whole drain delay, they
    // kept both processes busy for seconds of CPU, and proved no more.
    let outcome: string;
    for (;;) {
      outcome = await connectOnce();
      if (outcome !== 'accepted' && outcome !== 'ECONNRESET') break;
      await delay(50);
    }
    expect(outcome).toBe('ECONNREFUSED');
    const { code, signal } = await server!.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const events = logLines(server!.stdout()).map((line) => line.event);
    expect(events).not.toContain('stop_timed_out');
    expect(events.at(-1)).toBe('stopped');
  });
});
