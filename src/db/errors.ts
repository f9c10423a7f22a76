// What a database error means for the request that met it. Both pg and PGlite raise PostgreSQL's
// SQLSTATE in `code`; pg and knex raise their own errors for what happens on the wire.
import { GatehouseError } from '../errors.js';
import type { Logger } from '../logger.js';

/** PostgreSQL's unique_violation (23505), as raised by both pg and PGlite. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

/**
 * A PostgreSQL data exception (SQLSTATE class 22: a date that does not exist, a number out of
 * range, text that is not a uuid…), as raised by both pg and PGlite: a value that got past
 * validation and that the database refused. It is still the caller's input, so no surface may
 * answer it with a 500.
 */
export function isDataException(error: unknown): error is { code: string } {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

const UNUSABLE_VALUE = 'The request holds a value that cannot be stored or looked up.';

/**
 * A data exception as the invalid_input it is, for each surface's error handler to answer like
 * any other refused input; undefined for anything else. It is logged as a warning, because a
 * check is missing, with its SQLSTATE only: PostgreSQL's message quotes the value, and that may
 * be anything a person typed.
 */
export function refusedByDatabase(error: unknown, logger: Logger, requestId: unknown): GatehouseError | undefined {
  if (!isDataException(error)) return undefined;
  logger.warn({ event: 'input_reached_database', sqlstate: error.code, requestId });
  return new GatehouseError('invalid_input', UNUSABLE_VALUE);
}

/**
 * `error` as it may be written to a log line or a trace: a PostgreSQL error whose text may quote a
 * value a statement was given loses that text, keeping its SQLSTATE and the names PostgreSQL gives
 * (table, column, constraint). A data exception's message quotes the value it refused ("invalid
 * input syntax for type uuid: \"…\""); an integrity violation's detail quotes the key or the row
 * ("Key (email)=(…) already exists"). Either may be anything a person typed. Any other error comes
 * back as it is.
 */
export function withoutQuotedValues(error: unknown): unknown {
  if (!isPostgresError(error) || !/^2[23]/.test(error.code)) return error;
  const { code, severity, table, column, constraint, routine } = error as PostgresErrorFields;
  const message = code.startsWith('22') ? `PostgreSQL refused a value (SQLSTATE ${code})` : error.message;
  const safe = Object.assign(new Error(message), { code, severity, table, column, constraint, routine });
  safe.name = error.name;
  // The stack's first line repeats the message; its frames say only where the statement was sent.
  safe.stack = [`${error.name}: ${message}`, ...(error.stack ?? '').split('\n').slice(1)].join('\n');
  return safe;
}

interface PostgresErrorFields { code: string; severity?: string; table?: string; column?: string; constraint?: string; routine?: string }

/** An error PostgreSQL raised (pg's and PGlite's alike carry its severity and SQLSTATE), not one of the wire or of Node. */
function isPostgresError(error: unknown): error is Error & PostgresErrorFields {
  if (!(error instanceof Error)) return false;
  const { code, severity } = error as Partial<PostgresErrorFields>;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string';
}

/**
 * PostgreSQL ended the transaction to resolve a conflict with another one: a deadlock (40P01) or a
 * serialization failure (40001). Nothing of it was kept, and the same transaction run again will
 * most likely succeed, which is what PostgreSQL's documentation asks of the application.
 */
export function isTransactionConflict(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === '40P01' || code === '40001';
}

/** How long a client told "the database is unavailable" should wait before trying again. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

// SQLSTATE classes and codes that say the database cannot serve right now, whatever was asked:
// 08 connection exceptions, 53 insufficient resources (too many connections, out of memory or
// disk), 57014 a statement cancelled by statement_timeout, 57P01–57P05 the server shutting down,
// crashed, not yet accepting connections or the session idle too long; and what a failover or
// contention says for a moment: 25006 a write reaching a primary that was demoted, 25P02 a
// transaction already aborted, 40001/40P01 a serialization failure or deadlock, 55P03 a lock not
// available in time.
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57014|57P0[1-5]|25006|25P02|40001|40P01|55P03)$/;
// What node's sockets say when the server is unreachable or the connection broke.
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// pg's and knex's own words for a connection that broke, timed out or never came. knex puts the
// statement in front of the driver's message ("select … - Query read timeout"), hence the ends.
const UNAVAILABLE_MESSAGES = [
  /(^| - )Connection terminated( unexpectedly| due to connection timeout)?$/, // the server closed it (crash, restart, network)
  /(^| - )Query read timeout$/, // pg: query_timeout passed with no answer (a frozen server)
  /(^| - )timeout expired$/, // pg: connectionTimeoutMillis passed while connecting
  /(^| - )Client has encountered a connection error and is not queryable$/,
  /(^| - )Connection ended unexpectedly$/,
];

/**
 * True when `error` says the database is unreachable, overloaded or too slow — not that the request
 * was wrong. Such a request may succeed if retried later: the answer is 503 with Retry-After.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_SOCKET_CODES.has(code))) return true;
  // knex: no connection could be had from the pool within acquireConnectionTimeout.
  if (name === 'KnexTimeoutError') return true;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return true;
  // AggregateError (several addresses refused) and errors wrapping a cause.
  const nested = (error as { errors?: unknown; cause?: unknown });
  if (Array.isArray(nested.errors) && nested.errors.length > 0 && nested.errors.every(isDatabaseUnavailable)) return true;
  return nested.cause !== undefined && nested.cause !== error && isDatabaseUnavailable(nested.cause);
}
