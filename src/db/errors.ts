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
