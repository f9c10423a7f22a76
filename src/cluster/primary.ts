// WORKERS=N above 1: the primary process that makes Gatehouse use every core it is given. It
// serves no request itself. It migrates the database once, forks N workers (node:cluster: they
// share the port, and the primary hands each new connection to the next worker in turn), replaces
// a worker that dies, and on SIGTERM/SIGINT passes the signal on and waits for every worker's own
// graceful drain (src/http/connection-drain.ts) before exiting.
//
// Each worker is a whole Gatehouse (src/server.ts): its own pool, caches, change-feed LISTEN
// connection, janitor and key refresh (both safe to run in every process: they are idempotent),
// and its own load-shedding bounds. Nothing is shared between workers but the database.
//
// A worker that fails to start is not restarted blindly: bad configuration or an unreachable
// database would only fail again, so a failure while the server first starts ends the primary
// with the worker's exit code, and a replacement that keeps failing gives up after a few tries.
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config.js';
import { migrateToLatest } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import type { Logger } from '../logger.js';
import { isReadyMessage } from './worker.js';

/** Something the primary runs beside its workers (e.g. a metrics endpoint aggregating theirs). */
export interface PrimaryService {
  close(): Promise<void>;
}

/** Starts a PrimaryService once every worker is ready; the primary closes it after the last worker stopped. */
export type PrimaryServiceStarter = (context: { config: Config; logger: Logger; workers: () => Worker[] }) => Promise<PrimaryService>;

export interface PrimaryOptions {
  /**
   * Listeners of the primary's own. prom-client's AggregatorRegistry belongs here: it asks every
   * worker for its metrics over the cluster channel and serves the sum.
   */
  services?: PrimaryServiceStarter[];
}

/** Replacements in a row that die before they are ready, after which the primary gives up. */
const MAX_FAILED_RESTARTS = 5;
/** Deaths within this window make the next restart wait longer. */
const CRASH_WINDOW_MS = 60_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** After SHUTDOWN_TIMEOUT each worker ends itself; this is how much longer the primary waits for that. */
const STOP_MARGIN_MS = 5_000;

/**
 * Wait before replacing a worker, given how many died in the last minute (this one included): the
 * first at once, so capacity comes back quickly; then 0.5 s, 1 s, 2 s … up to 30 s, so a worker
 * that crashes on some request does not turn the machine into a fork loop.
 */
function restartDelayMs(recentDeaths: number): number {
  return recentDeaths <= 1 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** (recentDeaths - 2));
}

interface Entry {
  worker: Worker;
  ready: boolean;
}

/** Runs the primary until every worker has stopped; resolves with the process's exit code. */
export async function runPrimary(config: Config, logger: Logger, options: PrimaryOptions = {}): Promise<number> {
  await migrateOnce(config, logger);
  return new Supervisor(config, logger, options.services ?? []).run();
}

/**
 * Migrations run here, before any worker starts, so N workers never race for them (each still
 * calls migrateToLatest, which then finds nothing to do) and a database that cannot be reached
 * fails once, with one message.
 */
async function migrateOnce(config: Config, logger: Logger): Promise<void> {
  const opened = openDatabase(config, { logger });
  try {
    const applied = await migrateToLatest(opened.db);
    if (applied.length) logger.info({ event: 'database.migrated', applied });
  } finally {
    await opened.close();
  }
}

class Supervisor {
  readonly #entries = new Map<number, Entry>();
  readonly #restarts = new Set<NodeJS.Timeout>();
  readonly #deaths: number[] = [];
  readonly #services: PrimaryService[] = [];
  #serving = false;
  /** The primary's services starting, which #finish waits for so that none is left open. */
  #servicesStarting: Promise<void> = Promise.resolve();
  #stopping = false;
  #failedRestarts = 0;
  #exitCode = 0;
  #done!: (code: number) => void;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly starters: PrimaryServiceStarter[],
  ) {}

  run(): Promise<number> {
    const finished = new Promise<number>((resolve) => { this.#done = resolve; });
    // `on`, not `once`, as in a single process: a second signal must not kill the primary halfway.
    process.on('SIGTERM', () => this.stop('SIGTERM'));
    process.on('SIGINT', () => this.stop('SIGINT'));
    this.logger.info({ event: 'workers.starting', workers: this.config.workers });
    for (let i = 0; i < this.config.workers; i += 1) this.#fork();
    return finished;
  }

  #fork(): void {
    const worker = cluster.fork();
    const entry: Entry = { worker, ready: false };
    this.#entries.set(worker.id, entry);
    worker.on('message', (message: unknown) => {
      if (!isReadyMessage(message) || entry.ready) return;
      entry.ready = true;
      this.#failedRestarts = 0;
      this.logger.info({ event: 'worker.ready', worker: worker.id, workerPid: worker.process.pid });
      if (!this.#serving && !this.#stopping && [...this.#entries.values()].every((e) => e.ready)) {
        this.#serving = true;
        this.#servicesStarting = this.#started();
      }
    });
    // Node types the signal as a string; it is a signal's name or null.
    worker.once('exit', (code: number | null, signal: string | null) => this.#exited(entry, code, signal as NodeJS.Signals | null));
  }

  /** Every first worker is serving: the server as a whole has started. */
  async #started(): Promise<void> {
    try {
      for (const start of this.starters) {
        this.#services.push(await start({ config: this.config, logger: this.logger, workers: () => [...this.#entries.values()].map((e) => e.worker) }));
      }
    } catch (error) {
      this.logger.fatal({ event: 'primary.service_failed', err: error });
      this.#giveUp(1);
      return;
    }
    this.logger.info({ event: 'started', issuer: this.config.issuer, workers: this.#entries.size });
  }

  #exited(entry: Entry, code: number | null, signal: NodeJS.Signals | null): void {
    const { worker } = entry;
    this.#entries.delete(worker.id);
    const about = { worker: worker.id, workerPid: worker.process.pid, code, signal };
    if (this.#stopping) {
      // A worker that was not serving yet has nothing to drain: the signal ending it is its stop.
      const clean = code === 0 || (!entry.ready && signal !== null);
      if (!clean) this.#exitCode = 1;
      this.logger[clean ? 'info' : 'error']({ event: 'worker.stopped', ...about });
      if (this.#entries.size === 0) void this.#finish();
      return;
    }
    const now = Date.now();
    this.#deaths.push(now);
    while (this.#deaths[0]! < now - CRASH_WINDOW_MS) this.#deaths.shift();
    if (!entry.ready) {
      this.#failedRestarts += 1;
      const failedWith = code ?? 1;
      if (!this.#serving) {
        // Bad configuration, a database refusing us, a production check: the same again on retry.
        this.logger.fatal({ event: 'worker.start_failed', ...about });
        this.#giveUp(failedWith);
        return;
      }
      if (this.#failedRestarts >= MAX_FAILED_RESTARTS) {
        this.logger.fatal({ event: 'workers.crash_loop', failedRestarts: this.#failedRestarts, ...about });
        this.#giveUp(failedWith);
        return;
      }
    }
    const delayMs = restartDelayMs(this.#deaths.length);
    this.logger.error({ event: 'worker.died', ...about, restartInMs: delayMs });
    const timer = setTimeout(() => {
      this.#restarts.delete(timer);
      if (!this.#stopping) this.#fork();
    }, delayMs);
    this.#restarts.add(timer);
  }

  /** Stops every worker gracefully and exits with `code` (never 0: something failed). */
  #giveUp(code: number): void {
    this.#exitCode = code === 0 ? 1 : code;
    this.stop('SIGTERM');
  }

  stop(signal: NodeJS.Signals): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const timer of this.#restarts) clearTimeout(timer);
    this.#restarts.clear();
    const { timeoutSeconds } = this.config.shutdown;
    this.logger.info({ event: 'stopping', signal, workers: this.#entries.size, timeoutSeconds });
    // The last resort, should a worker not end itself after its own SHUTDOWN_TIMEOUT.
    setTimeout(() => {
      this.logger.error({ event: 'stop_timed_out', timeoutSeconds, workers: [...this.#entries.keys()] });
      for (const { worker } of this.#entries.values()) worker.process.kill('SIGKILL');
      this.#exitCode = 1;
    }, timeoutSeconds * 1000 + STOP_MARGIN_MS).unref();
    // The signal, not worker.disconnect(): disconnecting closes a worker's server at once, and
    // the signal runs the worker's own drain, which never resets a connection.
    for (const { worker } of this.#entries.values()) worker.process.kill(signal);
    if (this.#entries.size === 0) void this.#finish();
  }

  async #finish(): Promise<void> {
    await this.#servicesStarting;
    for (const service of this.#services.splice(0)) {
      try {
        await service.close();
      } catch (error) {
        this.logger.error({ event: 'primary.service_close_failed', err: error });
        this.#exitCode = this.#exitCode || 1;
      }
    }
    this.logger[this.#exitCode === 0 ? 'info' : 'error']({ event: 'stopped', code: this.#exitCode });
    this.#done(this.#exitCode);
  }
}
