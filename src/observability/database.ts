// The database as metrics and spans, from what knex already announces: every statement it sends is
// a 'query' event and its answer a 'query-response' or 'query-error' (the prepared statements of
// src/db/prepared.ts announce theirs alike), so timing them adds no statement and no wrapper around
// any call site. The pool's state is read from the pool object when Prometheus scrapes.
import { SpanKind, SpanStatusCode, context, type Span } from '@opentelemetry/api';
import type { Database } from '../db/knex.js';
import { withoutQuotedValues } from '../db/errors.js';
import { dbQueryDuration, watch, type PoolState } from './metrics.js';
import { tracer } from './tracing.js';

interface QueryEvent {
  __knexQueryUid?: string;
  method?: string;
  sql?: string;
}

interface InFlight {
  started: bigint;
  operation: string;
  span: Span;
}

/** Statements answered by neither event (a dropped connection mid-way) are forgotten past this. */
const MAX_IN_FLIGHT = 10_000;

const METHOD_OPERATIONS: Record<string, string> = {
  select: 'select', first: 'select', pluck: 'select',
  insert: 'insert',
  update: 'update', counter: 'update',
  del: 'delete', delete: 'delete',
};

/** A bounded label: knex's method, or the statement's first keyword for raw SQL. */
function operationOf(query: QueryEvent): string {
  const byMethod = query.method ? METHOD_OPERATIONS[query.method] : undefined;
  if (byMethod) return byMethod;
  const keyword = /^\s*(\w+)/.exec(query.sql ?? '')?.[1]?.toLowerCase();
  return keyword && ['select', 'insert', 'update', 'delete'].includes(keyword) ? keyword : 'other';
}

/** What the knex pool (tarn) tells about itself; PGlite's client may have none. */
interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}

function poolStateOf(db: Database): PoolState | undefined {
  const pool = (db.client as { pool?: Partial<TarnPool> }).pool;
  if (!pool || typeof pool.numUsed !== 'function') return undefined;
  return { used: pool.numUsed(), idle: pool.numFree!(), pendingAcquires: pool.numPendingAcquires!(), max: pool.max ?? 0 };
}

/** Measures and traces `db`'s statements and reports its pool until the returned function is called. */
export function observeDatabase(db: Database): () => void {
  const inFlight = new Map<string, InFlight>();

  const onQuery = (query: QueryEvent) => {
    const uid = query.__knexQueryUid;
    if (!uid) return;
    const operation = operationOf(query);
    // The statement's text has placeholders, never the values bound to them.
    const span = tracer().startSpan(operation, {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system.name': 'postgresql', 'db.operation.name': operation, 'db.query.text': query.sql ?? '' },
    }, context.active());
    if (inFlight.size >= MAX_IN_FLIGHT) {
      const [oldest] = inFlight.keys();
      inFlight.get(oldest!)?.span.end();
      inFlight.delete(oldest!);
    }
    inFlight.set(uid, { started: process.hrtime.bigint(), operation, span });
  };
  const settle = (query: QueryEvent | undefined, error?: Error) => {
    const uid = query?.__knexQueryUid;
    const entry = uid ? inFlight.get(uid) : undefined;
    if (!entry) return;
    inFlight.delete(uid!);
    const seconds = Number(process.hrtime.bigint() - entry.started) / 1e9;
    dbQueryDuration.observe({ operation: entry.operation, outcome: error ? 'error' : 'ok' }, seconds);
    if (error) {
      entry.span.recordException(withoutQuotedValues(error) as Error);
      entry.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    entry.span.end();
  };
  const onResponse = (_response: unknown, query: QueryEvent) => settle(query);
  const onError = (error: Error, query: QueryEvent) => settle(query, error);

  db.on('query', onQuery);
  db.on('query-response', onResponse);
  db.on('query-error', onError);
  const unwatch = watch('pools', () => poolStateOf(db));
  return () => {
    db.off('query', onQuery);
    db.off('query-response', onResponse);
    db.off('query-error', onError);
    unwatch();
    for (const entry of inFlight.values()) entry.span.end();
    inFlight.clear();
  };
}
