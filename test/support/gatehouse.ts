// A real Gatehouse for a test file: real HTTP on a free loopback port, a fresh database, the real
// provider. Configuration goes through loadConfig like production, with test-only settings.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startGatehouse, type Gatehouse } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestServer extends Gatehouse {
  issuer: string;
  testDb: TestDatabase;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Every log line, raw, to search for leaked secrets. */
  rawLogs: string[];
  stop(): Promise<void>;
}

/** Ports a test worker picks from; each worker has a slice of its own. */
const PORT_SLICE = 1_000;
const PORT_SLICES = 12;
/** The ports this worker handed out last, which may not be bound yet. */
const handedOut: number[] = [];

/**
 * A port nothing listens on now, for a server whose issuer URL must name its port before it starts.
 * Chosen below the kernel's ephemeral range (32768–60999 on Linux), where the OS also picks the
 * local ports of outgoing connections: a port freed there can be taken by a database or HTTP
 * client before the server binds it.
 *
 * Between the pick and the bind, nothing here holds the port. So each test worker picks from a
 * slice of 20000–31999 of its own (by VITEST_POOL_ID): a port one worker picked for a process that
 * takes seconds to start cannot be picked by the other in the meantime, which once failed a run
 * (a worker's METRICS_PORT taken by the other worker's server). Which slices a run's workers get
 * turns with the run's id (test/support/test-databases.ts), so two runs on one machine are no
 * likelier to meet than when every worker picked from the whole range. Within a worker, a port
 * handed out lately is not handed out again, since it may not be bound yet. Only with more than
 * twelve workers do two share a slice; a server that finds its port taken still tries another
 * (startTestServer).
 */
export async function freePort(): Promise<number> {
  const worker = Math.max(1, Number(process.env.VITEST_POOL_ID) || 1) - 1;
  const slice = (worker + inject('testRun')) % PORT_SLICES;
  for (;;) {
    const port = 20_000 + slice * PORT_SLICE + Math.floor(Math.random() * PORT_SLICE);
    if (handedOut.includes(port) || !(await canListen(port))) continue;
    handedOut.push(port);
    if (handedOut.length > 64) handedOut.shift();
    return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function isAddressInUse(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'EADDRINUSE';
}

export interface TestServerOptions {
  testDb?: TestDatabase;
  /** The clock the oidc storage decides expiry and the refresh retry window by: move it instead of sleeping. */
  now?: () => number;
}

/**
 * argon2id at a test's cost, unless the test sets its own ARGON2_* settings. Every person created
 * and every sign-in runs argon2id, about 1,800 times per suite run; at the production floor
 * (19 MiB, t=2: about 75 ms of CPU each on the 2-core machines) that was a fifth of the suite's
 * CPU. This is still argon2id through the same code. The production cost is checked where it
 * matters: the config's floor (test/config.test.ts), the stored hash's parameters
 * (test/people/users.test.ts, and the CLI's, which runs with the real configuration), and the
 * bench, which measures it.
 */
export const TEST_ARGON2: Config['argon2'] = { memoryKiB: 1024, timeCost: 1, parallelism: 1 };

export async function startTestServer(env: Record<string, string> = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const testDb = options.testDb ?? (await createTestDatabase());
  const ownDataDir = env.DATA_DIR ? undefined : mkdtempSync(path.join(tmpdir(), 'gatehouse-test-'));
  const cleanUp = async () => {
    if (!options.testDb) await testDb.destroy();
    if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
  };
  // A port picked here may be taken by the time the server binds it: then another is picked.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startTestServerOn(env.PORT ? Number(env.PORT) : await freePort(), env, options, testDb, ownDataDir, cleanUp);
    } catch (error) {
      if (env.PORT || !isAddressInUse(error) || attempt === 5) {
        await cleanUp();
        throw error;
      }
    }
  }
}

async function startTestServerOn(
  port: number, env: Record<string, string>, options: TestServerOptions, testDb: TestDatabase, ownDataDir: string | undefined, cleanUp: () => Promise<void>,
): Promise<TestServer> {
  const dataDir = env.DATA_DIR ?? ownDataDir!;
  const loaded: Config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'debug',
    ...env,
  });
  const ownArgon2 = Object.keys(env).some((name) => name.startsWith('ARGON2_'));
  const config: Config = ownArgon2 ? loaded : { ...loaded, argon2: TEST_ARGON2 };
  const rawLogs: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        rawLogs.push(line);
        try { logs.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not JSON */ }
      }
      callback();
    },
  });
  const gatehouse = await startGatehouse(config, createLogger(config.logLevel, sink), { db: testDb.db, background: false, now: options.now });
  return {
    ...gatehouse,
    issuer: config.issuer,
    testDb,
    logs,
    rawLogs,
    async stop() {
      await gatehouse.close();
      await cleanUp();
    },
  };
}

/**
 * What replicas of one deployment share: the issuer they answer for and its secrets (cookie keys,
 * the key-encryption key). Each replica still listens on a port of its own.
 */
export async function replicaEnvironment(): Promise<{ PORT: string; ISSUER: string; COOKIE_KEYS: string; KEY_ENCRYPTION_KEY: string }> {
  const port = await freePort();
  return {
    PORT: String(port),
    ISSUER: `http://127.0.0.1:${port}`,
    COOKIE_KEYS: randomBytes(32).toString('base64url'),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  };
}

/** Two instances on one database behind one issuer, as a load balancer would run them. */
export async function startReplicas(testDb: TestDatabase): Promise<[TestServer, TestServer]> {
  const shared = await replicaEnvironment();
  const a = await startTestServer(shared, { testDb });
  const b = await startTestServer({ ...shared, PORT: '0' }, { testDb });
  return [a, b];
}
