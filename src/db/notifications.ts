// What tells the caches on the introspection path that a row they depend on changed. Migration 003
// makes the database announce every such change on the `gatehouse_changes` channel, whoever made
// it; this listener hears them on a connection of its own (LISTEN ties up a session for good, so it
// cannot borrow one from the knex pool) and passes them on.
//
// Caches are only as good as this connection, so it fails safe: `connected` is true only while the
// listener is subscribed AND has heard back from the database within the last LEASE_MS. A dropped
// connection flushes every cache (the `reset` event) and caches stay bypassed until it is back; a
// connection that goes silent without dropping stops counting as connected within LEASE_MS.
//
// The listener needs a session of its own on the server: behind a pooler, DATABASE_URL must reach
// PostgreSQL directly or through session pooling (a transaction pooler drops LISTEN).
//
// A change is heard by every instance at its own pace, a few milliseconds apart. An act that must
// not be contradicted by another instance's next answer (a revocation) waits for all of them: it
// sends a barrier on the channel, every listener answers it with an ack once it has seen it, and
// notifications arrive in commit order, so a listener that saw the barrier has already passed
// every change committed before it on to its caches (barrier()).
//
// The embedded PGlite gets no listener, so caching is simply off there (noChangeFeed): it lives in
// this one process, with no network round trip to save. That process could invalidate its caches
// itself, but then every writer would have to remember to — which is what the triggers avoid.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { changeBarrierTimeouts } from '../observability/metrics.js';
import { isEmbedded, type Database } from './knex.js';

export const CHANGE_CHANNEL = 'gatehouse_changes';

/** Leases are measured on the monotonic clock: a wall-clock step (NTP) must not stretch one. */
const monotonicNow = () => performance.now();

/** How the listener shows up in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'gatehouse-change-listener';

/**
 * Caches stop trusting the connection this long after the start of the last exchange that proved
 * it alive. A notification committed before that start had arrived by the exchange's answer, so a
 * connection that fails silently costs at most this much staleness — under the one second
 * — while a heartbeat every HEARTBEAT_MS keeps the lease from lapsing as long as the database
 * answers within about half a second.
 */
const LEASE_MS = 900;
const HEARTBEAT_MS = 200;
/** A heartbeat unanswered this long means the connection is gone: drop it and reconnect. */
const DEAD_AFTER_MS = 5_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/** Payload prefixes on the channel that are not change keys (no key starts with either). */
const BARRIER_PREFIX = 'barrier:';
const ACK_PREFIX = 'ack:';

/**
 * The listeners that may be caching from this database, by backend pid; sent with the barrier in
 * one statement. A listener that connects after it flushes its caches when it starts listening.
 */
const SEND_BARRIER = `select pg_notify($1, $2), array(select pid from pg_stat_activity where application_name = $3 and datname = current_database()) as listeners`;

/**
 * Events: `change` (key such as 'client:abc'), `reset` (anything cached may be stale: flush),
 * `connected` and `disconnected` (for logs and tests), `renewed` (a heartbeat came back: the lease
 * is fresh again, which under load may follow a moment when it had lapsed).
 */
export interface ChangeFeed extends EventEmitter {
  /** True while every committed change is known to have reached this process. */
  readonly connected: boolean;
  /** Resolves once every change committed before the call has reached this process's caches. */
  caughtUp?(): Promise<void>;
  /**
   * Resolves once every change committed before the call has reached the caches of every instance
   * on this database, or the instances that have not heard by then no longer trust their caches
   * (their lease ran out). Never rejects; at worst it takes about LEASE_MS.
   */
  barrier?(): Promise<void>;
}

export interface StoppableChangeFeed extends ChangeFeed {
  stop(): Promise<void>;
}

/** The feed on PGlite: never connected, so every cache is bypassed. */
export function noChangeFeed(): StoppableChangeFeed {
  return Object.assign(new EventEmitter(), { connected: false, stop: async () => {} });
}

/** Connection settings for a listener on the same PostgreSQL as `db`, or undefined on PGlite. */
export function listenerSettingsFor(db: Database): pg.ClientConfig | undefined {
  const client = db.client as { connectionSettings?: unknown };
  if (isEmbedded(db) || typeof client.connectionSettings !== 'object' || !client.connectionSettings) return undefined;
  return { ...(client.connectionSettings as pg.ClientConfig), application_name: LISTENER_APPLICATION_NAME, keepAlive: true };
}

export class ChangeListener extends EventEmitter implements StoppableChangeFeed {
  #client: pg.Client | undefined;
  #listening = false;
  /** When the last exchange that proved the connection alive was sent. */
  #confirmedAt = 0;
  #heartbeatSentAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = BACKOFF_MIN_MS;
  #stopped = false;
  /** Barriers this instance sent and is waiting on, by id. */
  readonly #barriers = new Map<string, PendingBarrier>();

  constructor(
    private readonly settings: pg.ClientConfig,
    private readonly logger: Logger,
  ) {
    super();
  }

  get connected(): boolean {
    return this.#listening && monotonicNow() - this.#confirmedAt < LEASE_MS;
  }

  /**
   * Read-your-writes for the instance that made a change: PostgreSQL delivers every notification
   * committed before a statement ahead of that statement's answer, so once a LISTEN on the
   * listening session returns, this instance's caches have heard of every change committed so far.
   * Not listening, the caches are bypassed; a session lost meanwhile flushes them (#drop).
   */
  async caughtUp(): Promise<void> {
    const client = this.#client;
    if (!client || !this.#listening) return;
    // Unanswered, this instance cannot know its caches heard of the change: treat the session as
    // lost, which flushes them (and bypasses them until it is back), rather than carry on unsure.
    await client.query(`LISTEN ${CHANGE_CHANNEL}`).catch((error: unknown) => this.#lost(client, error));
  }

  /**
   * Waits until every listener on this database has acknowledged a barrier sent after the changes
   * this instance committed so far, or until LEASE_MS after it was sent. A listener that has not
   * acknowledged by then has not heard back from the database since before the barrier — so
   * neither since the changes before it — and its own instance stopped trusting its caches at
   * that lease's end. Not listening, this instance cannot hear the acks: it waits out the lease.
   */
  async barrier(): Promise<void> {
    const sentAt = monotonicNow();
    const id = randomUUID();
    const pending: PendingBarrier = { acked: new Set(), waitingFor: undefined, done: () => {} };
    const settled = new Promise<void>((resolve) => { pending.done = resolve; });
    let timer: NodeJS.Timeout | undefined;
    this.#barriers.set(id, pending);
    try {
      const client = this.#client;
      if (client && this.#listening) {
        try {
          const { rows } = await client.query<{ listeners: number[] }>(SEND_BARRIER, [CHANGE_CHANNEL, BARRIER_PREFIX + id, LISTENER_APPLICATION_NAME]);
          pending.waitingFor = new Set(rows[0]?.listeners ?? []);
          for (const pid of pending.acked) pending.waitingFor.delete(pid);
          if (pending.waitingFor.size === 0) pending.done();
        } catch (error) {
          // Unsent or unanswered: nobody can be counted on to have heard, so the lease decides.
          this.#lost(client, error);
        }
      }
      // The lease is counted from here, once the barrier is committed (or could have been): a
      // listener that has not heard it a lease later has had no heartbeat answered since, so its
      // instance no longer trusts its caches. Counted from before the statement, a statement slow to
      // return (a busy database) would use up the wait before anyone could have heard.
      timer = setTimeout(() => pending.done(), LEASE_MS);
      timer.unref();
      await settled;
      if (pending.waitingFor?.size !== 0) {
        changeBarrierTimeouts.inc();
        this.logger.warn({ event: 'changes.barrier_timeout', listening: pending.waitingFor !== undefined, unacknowledged: pending.waitingFor?.size, waitedMs: Math.round(monotonicNow() - sentAt) });
      }
    } finally {
      if (timer) clearTimeout(timer);
      this.#barriers.delete(id);
    }
  }

  /** Connects once; resolves either way (a failure retries in the background). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#drop();
    // Stopping: the connection is forgotten either way, and the server ends its side when the
    // socket goes; a failure to close it is only worth a debug line.
    await client?.end().catch((error: unknown) => this.logger.debug({ event: 'changes.close_failed', err: error }));
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client(this.settings);
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (client === this.#client && message.channel === CHANGE_CHANNEL) this.#deliver(client, message.payload ?? '', message.processId);
    });
    this.#client = client;
    try {
      await client.connect();
      const sentAt = monotonicNow();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      if (client !== this.#client) return; // lost or stopped meanwhile
      this.#confirmedAt = sentAt;
      this.#listening = true;
      this.#backoffMs = BACKOFF_MIN_MS;
      // Whatever was filled while nobody listened is suspect.
      this.emit('reset');
      this.emit('connected');
      this.logger.info({ event: 'changes.listening' });
      this.#schedule(HEARTBEAT_MS, () => this.#heartbeat(client));
    } catch (error) {
      this.#lost(client, error);
    }
  }

  // Re-issuing LISTEN is a no-op for the database and the cheapest statement that proves this very
  // session is alive; notifications committed before it are delivered before its answer.
  #heartbeat(client: pg.Client): void {
    if (client !== this.#client) return;
    if (this.#heartbeatSentAt !== undefined) {
      if (monotonicNow() - this.#heartbeatSentAt > DEAD_AFTER_MS) this.#lost(client, new Error('the change listener stopped answering'));
      else this.#schedule(HEARTBEAT_MS, () => this.#heartbeat(client));
      return;
    }
    const sentAt = monotonicNow();
    this.#heartbeatSentAt = sentAt;
    client.query(`LISTEN ${CHANGE_CHANNEL}`).then(
      () => {
        if (client !== this.#client) return;
        this.#heartbeatSentAt = undefined;
        this.#confirmedAt = sentAt;
        this.emit('renewed');
      },
      (error: unknown) => this.#lost(client, error),
    );
    this.#schedule(HEARTBEAT_MS, () => this.#heartbeat(client));
  }

  #deliver(client: pg.Client, payload: string, from: number): void {
    if (payload.startsWith(BARRIER_PREFIX)) return this.#acknowledge(client, payload.slice(BARRIER_PREFIX.length), from);
    if (payload.startsWith(ACK_PREFIX)) return this.#acknowledged(payload.slice(ACK_PREFIX.length), from);
    if (payload === 'flush') this.emit('reset');
    else this.emit('change', payload);
  }

  /**
   * Every change committed before the barrier has been passed on by now (notifications arrive in
   * commit order and are passed on as they arrive), so say so. This instance's own barrier needs no
   * round trip: seeing it is the proof (it was sent on this session, so `from` is this listener).
   */
  #acknowledge(client: pg.Client, id: string, from: number): void {
    if (this.#barriers.has(id)) return this.#acknowledged(id, from);
    client.query('select pg_notify($1, $2)', [CHANGE_CHANNEL, ACK_PREFIX + id]).catch((error: unknown) => this.#lost(client, error));
  }

  #acknowledged(id: string, pid: number | undefined): void {
    const pending = this.#barriers.get(id);
    if (!pending || pid === undefined) return; // someone else's barrier
    if (!pending.waitingFor) {
      pending.acked.add(pid);
      return;
    }
    pending.waitingFor.delete(pid);
    if (pending.waitingFor.size === 0) pending.done();
  }

  #lost(client: pg.Client, error?: unknown): void {
    if (client !== this.#client) return;
    const wasListening = this.#listening;
    this.#drop();
    // Already lost (and logged below): closing what is left of it can only fail the same way.
    client.end().catch((failure: unknown) => this.logger.debug({ event: 'changes.close_failed', err: failure }));
    if (this.#stopped) return;
    if (wasListening) this.logger.warn({ event: 'changes.lost', err: error });
    const delay = Math.round(this.#backoffMs * (0.8 + Math.random() * 0.4));
    this.#backoffMs = Math.min(this.#backoffMs * 2, BACKOFF_MAX_MS);
    this.#schedule(delay, () => void this.#connect());
  }

  /** Forgets the connection and tells every cache to flush. */
  #drop(): void {
    const wasListening = this.#listening;
    this.#client = undefined;
    this.#listening = false;
    this.#heartbeatSentAt = undefined;
    clearTimeout(this.#timer);
    this.emit('reset');
    if (wasListening) this.emit('disconnected');
  }

  #schedule(ms: number, run: () => void): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(run, ms).unref();
  }
}

interface PendingBarrier {
  /** Listeners that acknowledged before the list of those to wait for was known. */
  acked: Set<number>;
  /** Listeners still to acknowledge; undefined until the barrier's statement answers. */
  waitingFor: Set<number> | undefined;
  done: () => void;
}

/** Starts listening when `db` is a PostgreSQL server; on PGlite, the feed that disables caching. */
export async function startChangeFeed(db: Database, logger: Logger): Promise<StoppableChangeFeed> {
  const settings = listenerSettingsFor(db);
  if (!settings) return noChangeFeed();
  const listener = new ChangeListener(settings, logger);
  await listener.start();
  return listener;
}

/**
 * The barrier for a process that does not otherwise listen (the CLI): it listens just long enough
 * to send one and hear the acks. Nothing to wait for on PGlite, where no other process caches.
 */
export async function barrierFrom(db: Database, logger: Logger): Promise<void> {
  const settings = listenerSettingsFor(db);
  if (!settings) return;
  const listener = new ChangeListener(settings, logger);
  try {
    await listener.start();
    await listener.barrier();
  } finally {
    await listener.stop();
  }
}
