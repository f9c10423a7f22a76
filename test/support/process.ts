// The server as a separate process, started the way `npm start` starts it, for tests about the
// process itself and about several processes sharing one database.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { ENVIRONMENT_VARIABLES } from '../../src/config.js';
import { freePort } from './gatehouse.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * How `npm start` is run here: the sources compiled once for this run (test/support/compiled-server.ts),
 * as production runs compiled JavaScript, or src/main.ts through tsx when vitest watches.
 */
function mainCommand(): string[] {
  const compiled = inject('compiledMain');
  return compiled ? [compiled] : ['--import', 'tsx', path.join(ROOT, 'src', 'main.ts')];
}

/** process.env without anything Gatehouse reads, so a developer's own settings do not leak in. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ENVIRONMENT_VARIABLES) delete env[name];
  return env;
}

export interface Server {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startMain(env: NodeJS.ProcessEnv): Server {
  const child = spawn(process.execPath, mainCommand(), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

export function logLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Polls url until it answers 200, at most `attempts` times, 200 ms apart; gives up at once if the
 * process exits. Returns the 200 response.
 */
export async function waitFor200(url: string, server: Server, attempts = 150): Promise<Response> {
  let exited = false;
  void server.exited.then(() => { exited = true; });
  let last = 'no answer';
  for (let attempt = 0; attempt < attempts && !exited; attempt += 1) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return res;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer 200 (${exited ? 'the process exited' : `after ${attempts} attempts`}; last: ${last})\nstdout:\n${server.stdout()}\nstderr:\n${server.stderr()}`);
}


export interface ReadyProcess {
  server: Server;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** The environment it runs with. */
  env: NodeJS.ProcessEnv;
  /** Ends it with `signal` unless it has already exited, and removes its data directory. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `npm start` as a process of its own on `databaseUrl`, on a free loopback port with a data
 * directory of its own, once /readyz answers 200. `env` adds to or overrides the test settings.
 */
export async function startReadyMain(databaseUrl: string, env: NodeJS.ProcessEnv = {}): Promise<ReadyProcess> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-process-'));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const fullEnv = {
    ...cleanEnv(),
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: origin,
    LOG_LEVEL: 'info',
    ...env,
  };
  const server = startMain(fullEnv);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill(signal);
      await server.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor200(`${origin}/readyz`, server);
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return { server, origin, env: fullEnv, stop };
}
