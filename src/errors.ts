// Errors Gatehouse raises on purpose, minted from one base class with a typed code, so callers
// (CLI, HTTP handlers) can map each to a clear message without string matching.
import type { Message } from './i18n/catalogs.js';
export type ErrorCode =
  | 'invalid_input'
  | 'email_taken'
  | 'weak_password'
  | 'not_found'
  | 'conflict'
  | 'embedded_database_busy';

export class GatehouseError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The input field the error is about, when there is one. */
    readonly field?: string,
    /** The same refusal as a catalog message (src/i18n/), for a page in the person's language. */
    readonly words?: Message,
  ) {
    super(message);
    this.name = 'GatehouseError';
  }
}

export function isGatehouseError(error: unknown, code?: ErrorCode): error is GatehouseError {
  return error instanceof GatehouseError && (code === undefined || error.code === code);
}

/**
 * For a `.catch` where "there is no such thing" is an answer: a not_found or invalid_input refusal
 * becomes undefined; anything else (the database down) goes on up, so an outage is never shown as
 * "no such app".
 */
export function undefinedIfMissing(error: unknown): undefined {
  if (isGatehouseError(error, 'not_found') || isGatehouseError(error, 'invalid_input')) return undefined;
  throw error;
}

/** A refusal as both say it: `message` in English for the CLI and the admin API, `words` for a page. */
export interface Refusal {
  message: string;
  words: Message;
}

/** The catalog words of "No such …", by what was looked for: a new kind of thing is added here, with its key. */
const NOT_FOUND = {
  person: 'problem.notFound.person',
  client: 'problem.notFound.client',
  API: 'problem.notFound.api',
  'API client': 'problem.notFound.apiClient',
  grant: 'problem.notFound.grant',
  'grant of this person for this app': 'problem.notFound.grantOfPersonForApp',
  'registration token': 'problem.notFound.registrationToken',
  session: 'problem.notFound.session',
  factor: 'problem.notFound.factor',
  'connected app': 'problem.notFound.connectedApp',
} as const;

/** The value, or the not_found refusal naming what was looked for ("No such person."). */
export function found<T>(value: T | undefined, what: keyof typeof NOT_FOUND): T {
  if (value === undefined) throw new GatehouseError('not_found', `No such ${what}.`, undefined, { key: NOT_FOUND[what] });
  return value;
}
