// WORKERS=2 as `npm start` runs it, on PostgreSQL: both workers answer on the one port, a token
// issued by one is introspected, refreshed and revoked through the other, a worker killed outright
// is replaced, SIGTERM drains every worker without a reset and exits 0, and workers that cannot
// start end the server instead of looping. On the embedded database, WORKERS=2 is refused.
//
// Which worker served a request is read from the server's own request log (each line names its
// worker): nothing is exposed over HTTP for it. Each request here goes on a connection of its own,
// and the cluster hands new connections to the workers in turn.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientStore } from '../../src/clients/store.js';
import { loadConfig } from '../../src/config.js';
import { PasswordHasher } from '../../src/people/passwords.js';
import { UserStore } from '../../src/people/users.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { createPerson, obtainTokens, registerApp, type FlowServer } from '../support/flows.js';
import { freePort } from '../support/gatehouse.js';
import { holdRequest, rawRequest, type RawResponse } from '../support/held-request.js';
import { cleanEnv, startMain, startReadyMain, type ReadyProcess, type Server } from '../support/process.js';

const API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';
const CLIENTS = 4;

type LogLine = Record<string, unknown>;

const postgres = await usingPostgres();
let testDb: TestDatabase;
let running: ReadyProcess | undefined;
let origin: string;
let stores: FlowServer;
let api: { clientId: string; clientSecret: string };
let metricsPort: number;

beforeAll(async () => {
  if (!postgres) return;
  testDb = await createTestDatabase();
  const resources = new ResourceServerStore(testDb.db);
  const created = await resources.create({ identifier: API, scope: 'notes:read', isDefault: true });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  metricsPort = await freePort();
  running = await startReadyMain(testDb.url!, {
    WORKERS: '2',
    METRICS_PORT: String(metricsPort),
    // As in graceful-shutdown.test.ts: long enough for the idle connection's request to land.
    SHUTDOWN_DRAIN_DELAY: '5',
    SHUTDOWN_TIMEOUT: '60',
  });
  origin = running.origin;
  const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: running.env.DATA_DIR! });
  stores = {
    issuer: origin,
    stores: { users: new UserStore(testDb.db, new PasswordHasher(config.argon2)), clients: new ClientStore(testDb.db), resources },
  };
  // /readyz answered, but the test reads who served what: wait until both workers are in.
  await logLine(running.server, (line) => line.role === 'primary' && line.event === 'started');
}, 120_000);

afterAll(async () => {
  await running?.stop('SIGKILL');
  await testDb?.destroy();
});

/** The complete JSON lines the process has written so far. */
function linesOf(server: Server): LogLine[] {
  const text = server.stdout();
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogLine);
}

/** The first log line matching, waiting for the process to write it. */
async function logLine(server: Server, matches: (line: LogLine) => boolean): Promise<LogLine> {
  for (;;) {
    const found = linesOf(server).find(matches);
    if (found) return found;
    const exited = server.exited.then(() => 'exited' as const);
    if ((await Promise.race([once(server.child.stdout!, 'data'), exited])) === 'exited') {
      const last = linesOf(server).find(matches);
      if (last) return last;
      throw new Error(`the process exited without the log line\nstdout:\n${server.stdout()}\nstderr:\n${server.stderr()}`);
    }
  }
}

interface Served extends RawResponse {
  worker: number;
  pid: number;
}

let sequence = 0;

/** One request on a connection of its own; with the worker that served it, from its log line. */
async function send(pathname: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Served> {
  sequence += 1;
  const requestId = `workers-${sequence}-${randomBytes(6).toString('hex')}`;
  const answer = await rawRequest(`${origin}${pathname}`, { ...init, headers: { ...init.headers, 'x-request-id': requestId } });
  const line = await logLine(running!.server, (l) => l.msg === 'request' && l.requestId === requestId);
  return { ...answer, worker: line.worker as number, pid: line.pid as number };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const form = { 'content-type': 'application/x-www-form-urlencoded' };

async function introspect(token: string): Promise<Served & { active: boolean }> {
  const answer = await send('/token/introspection', {
    method: 'POST',
    headers: { ...form, authorization: basic(api.clientId, api.clientSecret) },
    body: new URLSearchParams({ token }).toString(),
  });
  expect(answer.status, answer.body).toBe(200);
  return { ...answer, active: (JSON.parse(answer.body) as { active: boolean }).active };
}

/** Sends `request` until a worker other than `not` serves it, at most 6 times; the last answer. */
async function fromAnotherWorker<T extends Served>(not: number, request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await request();
    if (answer.worker !== not || attempt === 6) return answer;
  }
}

describe.skipIf(!postgres)('WORKERS=2 on PostgreSQL', () => {
  it('answers on both workers, each a process of its own beside the primary', async () => {
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await send('/healthz'));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    const pids = new Set(answers.map((a) => a.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(running!.server.child.pid!)).toBe(false);
  });

  it('serves every worker\'s metrics summed at METRICS_PORT, from the primary', async () => {
    const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(scrape.status).toBe(200);
    const text = await scrape.text();
    // Each worker holds a change listener of its own: the sum counts both.
    expect(text).toMatch(/^gatehouse_change_listener_connected 2$/m);
    expect((await fetch(`${origin}/metrics`)).status).toBe(404);
  });

  it('honours across workers a token issued by one: introspected and refreshed through the other, revoked for both', { timeout: 60_000 }, async () => {
    const app = await registerApp(stores, { scope: SCOPE });
    const person = await createPerson(stores);
    const { tokens } = await obtainTokens(stores, app, person, { scope: SCOPE });
    const issuedBy = (await logLine(running!.server, (l) => l.msg === 'request' && l.method === 'POST' && l.path === '/token')).worker as number;

    const elsewhere = await fromAnotherWorker(issuedBy, () => introspect(tokens.access_token));
    expect(elsewhere.worker).not.toBe(issuedBy);
    expect(elsewhere.active).toBe(true);

    // Each refresh token was issued by the worker that answered the previous refresh; refresh
    // until one is refreshed by a worker other than its issuer.
    let refreshToken = tokens.refresh_token!;
    let issuer = issuedBy;
    let accessToken: string;
    let crossed: { issuedBy: number; refreshedBy: number };
    for (let attempt = 1; ; attempt += 1) {
      const refreshed = await send('/token', {
        method: 'POST',
        headers: { ...form, authorization: basic(app.clientId, app.clientSecret!) },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
      });
      expect(refreshed.status, refreshed.body).toBe(200);
      ({ refresh_token: refreshToken, access_token: accessToken } = JSON.parse(refreshed.body) as { refresh_token: string; access_token: string });
      crossed = { issuedBy: issuer, refreshedBy: refreshed.worker };
      issuer = refreshed.worker;
      if (crossed.issuedBy !== crossed.refreshedBy || attempt === 6) break;
    }
    expect(crossed.refreshedBy).not.toBe(crossed.issuedBy);

    // Both workers have looked at the new access token (and may cache its standing) ...
    const seen = new Map<number, boolean>();
    for (let attempt = 0; seen.size < 2 && attempt < 10; attempt += 1) {
      const answer = await introspect(accessToken!);
      seen.set(answer.worker, answer.active);
    }
    expect([...seen.values()]).toEqual([true, true]);

    // ... and once the app revokes its refresh token through one worker, both read it inactive:
    // each has its own change-feed connection that drops what it cached.
    const revoked = await send('/token/revocation', {
      method: 'POST',
      headers: { ...form, authorization: basic(app.clientId, app.clientSecret!) },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    expect(revoked.status).toBe(200);
    // Asked until both have answered inactive (a worker may still be hearing the notification).
    const inactiveOn = new Set<number>();
    for (let attempt = 0; inactiveOn.size < 2 && attempt < 200; attempt += 1) {
      const answer = await introspect(accessToken!);
      if (!answer.active) inactiveOn.add(answer.worker);
    }
    expect(inactiveOn.size).toBe(2);
  });

  it('replaces a worker killed outright, and the replacement serves', { timeout: 60_000 }, async () => {
    const victim = await send('/healthz');
    process.kill(victim.pid, 'SIGKILL');
    const died = await logLine(running!.server, (l) => l.event === 'worker.died' && l.workerPid === victim.pid);
    expect(died).toMatchObject({ role: 'primary', worker: victim.worker, signal: 'SIGKILL' });
    const replacement = await logLine(running!.server, (l) => l.event === 'worker.ready' && (l.worker as number) > 2);
    const answers: Served[] = [];
    while (!answers.some((a) => a.worker === replacement.worker) && answers.length < 6) answers.push(await send('/healthz'));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.map((a) => a.worker)).toContain(replacement.worker);
    expect(answers.map((a) => a.pid)).not.toContain(victim.pid);
  });

  it('drains every worker on SIGTERM: /readyz 503, keep-alive connections closed between requests, in-flight requests answered, no resets, exit 0', { timeout: 120_000 }, async () => {
    const { server } = running!;
    const introspection = () => ({
      method: 'POST',
      headers: { ...form, authorization: basic(api.clientId, api.clientSecret) },
      body: new URLSearchParams({ token: randomBytes(32).toString('base64url') }).toString(),
    });
    const held = holdRequest(`${origin}/token/introspection`, introspection());
    await held.taken;
    const idle = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await rawRequest(`${origin}/healthz`, { agent: idle });
    expect(before.headers.connection).toBe('keep-alive');
    // Keep-alive clients in full flow, their connections spread over both workers.
    let flowing = 0;
    let allFlowing!: () => void;
    const started = new Promise<void>((resolve) => { allFlowing = resolve; });
    const clients = Array.from({ length: CLIENTS }, () => (async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const run = { answers: [] as RawResponse[], errors: [] as string[] };
      for (;;) {
        try {
          const answer = await rawRequest(`${origin}/token/introspection`, { ...introspection(), agent });
          run.answers.push(answer);
          if (run.answers.length === 1 && (flowing += 1) === CLIENTS) allFlowing();
          if (answer.headers.connection === 'close') break;
        } catch (error) {
          run.errors.push((error as NodeJS.ErrnoException).code ?? String(error));
          break;
        }
      }
      agent.destroy();
      return run;
    })());
    await started;

    expect(server.child.kill('SIGTERM')).toBe(true);

    let readiness: RawResponse;
    do readiness = await rawRequest(`${origin}/readyz`);
    while (readiness.status === 200);
    expect({ status: readiness.status, body: JSON.parse(readiness.body) }).toEqual({ status: 503, body: { status: 'draining' } });

    // The 503 came from one worker; the idle connection may be the other's, which hears of the
    // SIGTERM (forwarded by the primary) a moment later: wait until both say they are stopping.
    const workersStopping = () => linesOf(server).filter((line) => line.role !== 'primary' && line.event === 'stopping').length;
    await logLine(server, () => workersStopping() >= 2);

    const after = await rawRequest(`${origin}/healthz`, { agent: idle });
    expect({ status: after.status, connection: after.headers.connection }).toEqual({ status: 200, connection: 'close' });
    idle.destroy();

    const answer = await held.finish();
    expect({ status: answer.status, body: JSON.parse(answer.body), connection: answer.headers.connection })
      .toEqual({ status: 200, body: { active: false }, connection: 'close' });

    for (const run of await Promise.all(clients)) {
      expect(run.errors).toEqual([]);
      expect(run.answers.every((res) => res.status === 200)).toBe(true);
      expect(run.answers.at(-1)!.headers.connection).toBe('close');
    }

    // Once every worker has closed its listener, the port refuses connections (see
    // graceful-shutdown.test.ts for why a probe caught in the accept queue is tried again).
    const { hostname, port } = new URL(origin);
    let outcome: string;
    for (;;) {
      outcome = await new Promise<string>((resolve) => {
        const socket = net.connect(Number(port), hostname);
        socket.once('connect', () => { socket.destroy(); resolve('accepted'); });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
      });
      if (outcome !== 'accepted' && outcome !== 'ECONNRESET') break;
      await delay(50);
    }
    expect(outcome).toBe('ECONNREFUSED');
    const { code, signal } = await server.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const lines = linesOf(server);
    expect(lines.map((l) => l.event)).not.toContain('stop_timed_out');
    const workerStops = lines.filter((l) => l.role === 'primary' && l.event === 'worker.stopped');
    expect(workerStops.map((l) => ({ code: l.code, signal: l.signal }))).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);
    expect(lines.at(-1)).toMatchObject({ role: 'primary', event: 'stopped', code: 0 });
  });

  it('ends, with the worker\'s exit code, when its workers cannot start, instead of forking them again and again', { timeout: 120_000 }, async () => {
    // A data directory of its own means development secrets of its own: a KEY_ENCRYPTION_KEY that
    // cannot decrypt the signing keys the first server made, which no restart can fix.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-workers-'));
    try {
      const server = startMain({ ...running!.env, DATA_DIR: dataDir, PORT: String(await freePort()) });
      const { code } = await server.exited;
      const lines = linesOf(server);
      const failed = lines.find((l) => l.role === 'primary' && l.event === 'worker.start_failed')!;
      expect(failed, server.stdout()).toBeDefined();
      expect(code).toBe(failed.code);
      expect(code).not.toBe(0);
      expect(server.stderr()).toMatch(/KEY_ENCRYPTION_KEY does not match/);
      // The two first workers, and not one more.
      expect(Math.max(...lines.filter((l) => l.role === 'worker').map((l) => l.worker as number))).toBeLessThanOrEqual(2);
      expect(lines.some((l) => l.event === 'worker.ready' && (l.worker as number) > 2)).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!postgres)('WORKERS=2 whose replacements cannot start', () => {
  it('gives up after five failed restarts in a row, drains the worker still serving, and exits with the failure\'s code', { timeout: 180_000 }, async () => {
    // A database of its own: its signing keys are made with this server's own secrets.
    const own = await createTestDatabase();
    const server = await startReadyMain(own.url!, { WORKERS: '2' }).catch(async (error: unknown) => { await own.destroy(); throw error; });
    try {
      await logLine(server.server, (l) => l.role === 'primary' && l.event === 'started');
      // New development secrets under the running server: every worker started from now on
      // reads a KEY_ENCRYPTION_KEY that cannot decrypt the signing keys, as after a bad deploy.
      writeFileSync(path.join(server.env.DATA_DIR!, 'development-secrets.json'), JSON.stringify({
        cookieKeys: [randomBytes(32).toString('base64url')],
        keyEncryptionKey: randomBytes(32).toString('base64url'),
      }));
      const victim = await logLine(server.server, (l) => l.event === 'worker.ready' && l.worker === 1);
      process.kill(victim.workerPid as number, 'SIGKILL');
      const { code, signal } = await server.server.exited;
      const lines = linesOf(server.server);
      const gaveUp = lines.find((l) => l.event === 'workers.crash_loop');
      expect(gaveUp, server.server.stdout()).toMatchObject({ role: 'primary', failedRestarts: 5 });
      expect({ code, signal }).toEqual({ code: gaveUp!.code, signal: null });
      expect(code).not.toBe(0);
      // The killed worker, then four replacements that never became ready, each waited for longer.
      expect(lines.filter((l) => l.event === 'worker.died').map((l) => l.restartInMs)).toEqual([0, 500, 1000, 2000, 4000]);
      expect(lines.some((l) => l.event === 'worker.ready' && (l.worker as number) > 2)).toBe(false);
      expect(lines.filter((l) => l.event === 'worker.stopped')).toEqual([expect.objectContaining({ worker: 2, code: 0 })]);
    } finally {
      await server.stop('SIGKILL');
      await own.destroy();
    }
  });
});

describe('WORKERS=2 on the embedded database', () => {
  it('is refused at start with a configuration error naming DATABASE_URL, exit 78', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-workers-'));
    try {
      const server = startMain({ ...cleanEnv(), NODE_ENV: 'test', DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(await freePort()), WORKERS: '2' });
      const { code } = await server.exited;
      expect(code).toBe(78);
      expect(server.stderr()).toMatch(/WORKERS=2 needs DATABASE_URL: the embedded database can be opened by one process only/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
