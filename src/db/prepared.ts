// Named prepared statements for the hot paths. PostgreSQL plans an unnamed statement afresh on
// every call, and knex (db.raw included) sends nothing else; for the statements every token
// request sends, planning costs more than running (the token lookup: 0.2 ms planning against
// 0.05 ms execution). Through `pg`, a `{ name, text, values }` query is prepared once per
// connection and afterwards only bound and executed.
//
// knex offers no way to name a statement, so the connection is borrowed from knex's own pool
// through its client API (acquireConnection / releaseConnection; the sign-in throttle's statements,
// which rate-limiter-flexible names itself, go the same way: queryPooled) and goes back however
// the query ends. That bypasses
// knex's transaction bookkeeping, so these are for single statements outside transactions only,
// and a transaction handed in is refused.
//
// Behind PgBouncer in transaction mode this needs PgBouncer ≥ 1.21 with max_prepared_statements.
// PGlite (knex-pglite) refuses a query object and is left broken by the attempt
// (src/security/rate-limit-store.ts), so there the same text goes through knex.raw.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Client as PgClient, QueryResult } from 'pg';
import { isEmbedded } from './knex.js';

/** A statement with `$1`, `$2`, … placeholders and a name unique to its text. */
export interface PreparedStatement {
  /** pg keeps one prepared statement per name and connection: change the name whenever the text changes. */
  name: string;
  text: string;
}

/** What this file uses of knex's pg client and the pg connection it pools. */
interface KnexPgClient {
  acquireConnection(): Promise<Pick<PgClient, 'query'> & { __knexUid?: string }>;
  emit(event: 'query', query: AnnouncedQuery): void;
  emit(event: 'query-response', response: unknown, query: AnnouncedQuery): void;
  emit(event: 'query-error', error: unknown, query: AnnouncedQuery): void;
  releaseConnection(connection: unknown): Promise<void>;
}

/** What knex says of a statement in its 'query', 'query-response' and 'query-error' events. */
interface AnnouncedQuery {
  sql: string;
  bindings: unknown[];
  __knexUid?: string | undefined;
  __knexQueryUid: string;
}

/** The same text with knex's named bindings (`:p1`), for knex.raw. */
function knexText(text: string): string {
  return text.replace(/\$(\d+)/g, ':p$1');
}

function knexBindings(values: readonly unknown[]): Record<string, unknown> {
  return Object.fromEntries(values.map((value, index) => [`p${index + 1}`, value]));
}

/** Runs `statement` with `values` and returns its rows: prepared through pg, plain on PGlite. */
export async function runPrepared<Row>(db: Knex, statement: PreparedStatement, values: readonly unknown[]): Promise<Row[]> {
  if ((db as { isTransaction?: boolean }).isTransaction) throw new TypeError(`${statement.name} cannot run inside a transaction`);
  if (isEmbedded(db)) {
    const { rows } = await db.raw<{ rows: Row[] }>(knexText(statement.text), knexBindings(values));
    return rows;
  }
  const { rows } = await queryPooled(db, { name: statement.name, text: statement.text, values });
  return rows as Row[];
}

/** A query as pg takes it: named, it is prepared once per connection. */
export interface PooledQuery {
  name?: string | undefined;
  text: string;
  values?: readonly unknown[] | undefined;
}

/**
 * Runs one pg query on a connection borrowed from knex's pool (PostgreSQL only), announced as knex
 * announces its own: knex's own queries are 'query' events and their answers 'query-response' or
 * 'query-error' (query logs, the tests' round-trip counts and src/observability/database.ts
 * listen there); these are too, though knex does not send them.
 */
export async function queryPooled(db: Knex, query: PooledQuery): Promise<QueryResult> {
  const client = db.client as KnexPgClient;
  const connection = await client.acquireConnection();
  try {
    const values = [...(query.values ?? [])];
    const announced: AnnouncedQuery = { sql: query.text, bindings: values, __knexUid: connection.__knexUid, __knexQueryUid: randomUUID() };
    client.emit('query', announced);
    let result: QueryResult;
    try {
      result = await connection.query({ ...(query.name ? { name: query.name } : {}), text: query.text, values });
    } catch (error) {
      client.emit('query-error', error, announced);
      throw error;
    }
    client.emit('query-response', result.rows, announced);
    return result;
  } finally {
    await client.releaseConnection(connection);
  }
}
