// Every Prometheus metric Gatehouse exports, declared in one place: what an operator can graph and
// alert on, with each label's bounded set of values. The parts that count (src/oidc/events.ts, the
// request observer, the sign-in page, the throttle, the caches, the database observer) only call
// these; nothing else declares a metric.
//
// One registry per process, whatever the number of Gatehouses in it (tests start several): a
// prom-client registry belongs to a process the way its event loop and its pool do, and with
// WORKERS>1 the cluster primary asks each worker's registry for its share (AggregatorRegistry),
// which is this one. No label carries a client id, an account, a raw path or anything else a
// caller chooses: each would make a time series per value, without bound.
//
// Gauges that mirror the state of an object (the pool, the change listener, the outbox) are read
// when Prometheus scrapes, from the objects `watch` was given, so nothing on a request's path pays
// for them.
import cluster from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();

// In a cluster worker, prom-client answers the primary's requests once an AggregatorRegistry has
// been made there (its constructor adds the listener), with the registries named here (by default
// its global one, which Gatehouse leaves empty).
if (cluster.isWorker) {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

const HTTP_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const QUERY_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const httpRequests = new Counter({
  name: 'gatehouse_http_requests_total',
  help: 'HTTP requests answered, by method, route (a route template or an oidc-provider endpoint name; "unmatched" for any other path) and status code.',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpRequestDuration = new Histogram({
  name: 'gatehouse_http_request_duration_seconds',
  help: 'Time from a request arriving to its answer being ready, by method and route.',
  labelNames: ['method', 'route'] as const,
  buckets: HTTP_SECONDS,
  registers: [registry],
});

export const tokensIssued = new Counter({
  name: 'gatehouse_tokens_issued_total',
  help: 'Tokens issued at the token endpoint, by grant type and kind (access_token, refresh_token, id_token).',
  labelNames: ['grant_type', 'kind'] as const,
  registers: [registry],
});

export const tokenRequestsRefused = new Counter({
  name: 'gatehouse_token_requests_refused_total',
  help: 'Token requests refused, by grant type and OAuth error code.',
  labelNames: ['grant_type', 'error'] as const,
  registers: [registry],
});

export const revocations = new Counter({
  name: 'gatehouse_revocations_total',
  help: 'Tokens and grants revoked, by cause: revocation_endpoint (a token an app revoked), sign_out (a grant ended with its session), refresh_token_reuse and authorization_code_reuse (a grant revoked for a replayed token or code), user (grants a person revoked on their account pages), admin (grants revoked through the admin API, console or CLI), other.',
  labelNames: ['cause'] as const,
  registers: [registry],
});

export const transactionConflicts = new Counter({
  name: 'gatehouse_db_transaction_conflicts_total',
  help: 'Transactions PostgreSQL failed to break a deadlock or a serialization conflict (40P01, 40001), by outcome: retried (run again), failed (given up after the last attempt, answered 503).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const outboxDeliveries = new Counter({
  name: 'gatehouse_outbox_deliveries_total',
  help: 'Delivery attempts through the outbox, by kind (mail, security-event, ...) and outcome: delivered, retried (failed, tried again later), dropped (given up after OUTBOX_GIVE_UP_AFTER or SECURITY_EVENTS_DROP_AFTER, refused for good by the receiver, or unreadable).',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

export const securityEventsPolled = new Counter({
  name: 'gatehouse_security_events_polled_total',
  help: 'Security events of receivers that poll for them (RFC 8936), by outcome: handed_out (in a poll\'s answer, again until acknowledged), acknowledged, refused (named in setErrs by the receiver, and forgotten), dropped (left unacknowledged past SECURITY_EVENTS_DROP_AFTER, or its receiver no longer polls).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const refreshTokenReuse = new Counter({
  name: 'gatehouse_refresh_token_reuse_detections_total',
  help: 'Refresh tokens presented again after rotation (outside the retry window): each revoked its grant.',
  registers: [registry],
});

export const refreshRetriesForgiven = new Counter({
  name: 'gatehouse_refresh_token_retries_forgiven_total',
  help: 'Refresh tokens presented again within REFRESH_TOKEN_RETRY_WINDOW and answered with the successor the client lost.',
  registers: [registry],
});

export const signIns = new Counter({
  name: 'gatehouse_sign_ins_total',
  help: 'Sign-in attempts, by outcome (succeeded, wrong_password, unknown_email, disabled, throttled, busy, failed; for passkeys malformed, unknown_passkey, invalid, counter_regressed, not_activated) and factor (password, totp, recovery_code, second_factor for a throttled code, passkey).',
  labelNames: ['outcome', 'factor'] as const,
  registers: [registry],
});

export const throttleBlocks = new Counter({
  name: 'gatehouse_throttle_blocks_total',
  help: 'Requests refused by a throttle before any work, by limit: sign_in_pair, sign_in_account and sign_in_address (the sign-in counter that refused the attempt), token, introspection and revocation (the endpoint rate limits), security_events_poll (a receiver polling too often, or a network failing to authenticate at /ssf/poll).',
  labelNames: ['limit'] as const,
  registers: [registry],
});

export const cacheRequests = new Counter({
  name: 'gatehouse_cache_requests_total',
  help: 'Reads of the in-process caches, by cache and result: hit, miss, or bypass (the change listener was not connected, so the cache was not trusted).',
  labelNames: ['cache', 'result'] as const,
  registers: [registry],
});

export const passwordHashingBusy = new Counter({
  name: 'gatehouse_password_hashing_busy_total',
  help: 'argon2 work refused because ARGON2_CONCURRENCY were running and ARGON2_QUEUE waiting.',
  registers: [registry],
});

export const dbQueryDuration = new Histogram({
  name: 'gatehouse_db_query_duration_seconds',
  help: 'Database statements, from being sent to being answered, by operation (select, insert, update, delete, other) and outcome (ok, error).',
  labelNames: ['operation', 'outcome'] as const,
  buckets: QUERY_SECONDS,
  registers: [registry],
});

export const changeListenerDisconnects = new Counter({
  name: 'gatehouse_change_listener_disconnects_total',
  help: 'Times the change listener lost its connection; each flushed every cache.',
  registers: [registry],
});

export const changeBarrierTimeouts = new Counter({
  name: 'gatehouse_change_barrier_timeouts_total',
  help: 'Acts (revocations, admin changes) that waited the full change-listener lease because some instance\'s listener did not acknowledge hearing of them; the act stood, as those instances stopped trusting their caches by then.',
  registers: [registry],
});

/** What a scrape reads gauges from: each returns its current state. */
export interface PoolState {
  used: number;
  idle: number;
  pendingAcquires: number;
  max: number;
}

const watched = {
  pools: new Set<() => PoolState | undefined>(),
  changeFeeds: new Set<() => boolean>(),
  outboxes: new Set<() => Promise<{ pending: number; oldestAgeSeconds: number } | undefined>>(),
};

/** Reads `source` at every scrape until the returned function is called. */
export function watch<K extends keyof typeof watched>(kind: K, source: (typeof watched)[K] extends Set<infer S> ? S : never): () => void {
  const set = watched[kind] as Set<typeof source>;
  set.add(source);
  return () => set.delete(source);
}

function sumPools(field: keyof PoolState): number {
  let total = 0;
  for (const read of watched.pools) total += read()?.[field] ?? 0;
  return total;
}

for (const [field, name, help] of [
  ['used', 'gatehouse_db_pool_connections_in_use', 'Database connections lent out by the pool.'],
  ['idle', 'gatehouse_db_pool_connections_idle', 'Database connections open in the pool and free.'],
  ['pendingAcquires', 'gatehouse_db_pool_pending_acquires', 'Requests waiting for a database connection.'],
  ['max', 'gatehouse_db_pool_connections_max', 'The most connections the pool opens.'],
] as const) {
  new Gauge({ name, help, registers: [registry], collect() { this.set(sumPools(field)); } });
}

new Gauge({
  name: 'gatehouse_change_listener_connected',
  help: 'Change listeners connected and within their lease (1 per instance when healthy): while 0, the caches are bypassed.',
  registers: [registry],
  // The number of instances is what the primary's sum over workers should say.
  aggregator: 'sum',
  collect() {
    let connected = 0;
    for (const read of watched.changeFeeds) if (read()) connected += 1;
    this.set(connected);
  },
});

// The outbox is shared by every instance and worker: each reads the same rows, so the cluster
// aggregate is any one worker's value, not their sum.
interface OutboxState { pending: number; oldestAgeSeconds: number }

/** What the watched databases say of the outbox; undefined when none answered. */
async function readOutbox(): Promise<OutboxState | undefined> {
  let found: OutboxState | undefined;
  for (const read of watched.outboxes) {
    const state = await read();
    if (state) found = { pending: Math.max(found?.pending ?? 0, state.pending), oldestAgeSeconds: Math.max(found?.oldestAgeSeconds ?? 0, state.oldestAgeSeconds) };
  }
  return found;
}

// A scrape collects the two gauges one after the other, in this order: the first reads the outbox
// (one query) and leaves the answer for the second. Without an answer neither has a sample,
// rather than a stale or made-up one.
let outboxReadForAge: Promise<OutboxState | undefined> | undefined;

new Gauge({
  name: 'gatehouse_outbox_pending',
  help: 'Deliveries written and not yet delivered or given up (read from the database at each scrape).',
  registers: [registry],
  aggregator: 'max',
  async collect() {
    outboxReadForAge = readOutbox();
    const state = await outboxReadForAge;
    if (state) this.set(state.pending);
    else this.reset();
  },
});

new Gauge({
  name: 'gatehouse_outbox_oldest_pending_age_seconds',
  help: 'How long the oldest pending delivery has waited (0 when none is pending).',
  registers: [registry],
  aggregator: 'max',
  async collect() {
    const read = outboxReadForAge ?? readOutbox();
    outboxReadForAge = undefined;
    const state = await read;
    if (state) this.set(state.oldestAgeSeconds);
    else this.reset();
  },
});

let runtimeMetrics = false;

/**
 * The Node.js runtime's own metrics under their standard names (nodejs_eventloop_lag_seconds,
 * process_cpu_seconds_total, nodejs_heap_size_used_bytes, …), as every Node.js dashboard expects
 * them. Started by the server, not on import, so the CLI does not monitor its event loop.
 */
export function collectRuntimeMetrics(): void {
  if (runtimeMetrics) return;
  runtimeMetrics = true;
  collectDefaultMetrics({ register: registry });
}
