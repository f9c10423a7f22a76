// How the admin API answers when it cannot do what was asked: always JSON, always a 4xx for input
// it could not use, and a 5xx only for its own faults (logged, never described to the caller).
import type { Context, Next } from 'koa';
import type { ZodError } from 'zod';
import { HashingBusy } from '../../people/passwords.js';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable, refusedByDatabase } from '../../db/errors.js';
import { isGatehouseError } from '../../errors.js';
import type { Logger } from '../../logger.js';

export type ApiErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'insufficient_scope'
  /** RFC 9470: the token's sign-in is too weak (an admin's without a second factor). */
  | 'insufficient_user_authentication'
  | 'unauthorized'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'temporarily_unavailable'
  | 'server_error';

/** An answer other than success, with what the caller can do about it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    readonly description: string,
    /** The input field (snake_case, dotted for nested ones) the error is about. */
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'ApiError';
  }
}

export function notFound(what = 'thing'): ApiError {
  return new ApiError(404, 'not_found', `No such ${what}.`);
}

/** The API's field names are snake_case; the domain's (in GatehouseError.field) are camelCase. */
export function apiFieldName(field: string | undefined): string | undefined {
  return field?.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The first problem zod found, as the 400 the caller gets. */
export function invalidRequest(error: ZodError): ApiError {
  const issue = error.issues[0]!;
  const path = issue.path.map(String);
  // An unknown member is reported at the object holding it; the caller wants the member's name.
  if (issue.code === 'unrecognized_keys') {
    return new ApiError(400, 'invalid_request', `Unknown field "${issue.keys[0]}".`, [...path, issue.keys[0]].join('.'));
  }
  const field = path.join('.') || undefined;
  return new ApiError(400, 'invalid_request', field ? `${field}: ${issue.message}` : issue.message, field);
}

/** Errors raised on purpose below the API (domain checks, the body parser). */
function translate(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (isGatehouseError(error)) {
    const field = apiFieldName(error.field);
    switch (error.code) {
      case 'invalid_input':
      case 'weak_password':
        return new ApiError(400, 'invalid_request', error.message, field);
      case 'not_found':
        return new ApiError(404, 'not_found', error.message);
      case 'email_taken':
      case 'conflict':
        return new ApiError(409, 'conflict', error.message, field);
      case 'embedded_database_busy':
        return new ApiError(503, 'temporarily_unavailable', 'The database is busy; try again shortly.');
    }
  }
  const { status, type } = (error ?? {}) as { status?: unknown; type?: unknown };
  if (status === 413 || type === 'entity.too.large') return new ApiError(413, 'payload_too_large', 'The request body is too large.');
  if (status === 415 || type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new ApiError(415, 'unsupported_media_type', 'Send the body as UTF-8 JSON (Content-Type: application/json).');
  }
  if (type === 'entity.unreadable') return new ApiError(400, 'invalid_request', 'The request body could not be read: it does not decompress as its Content-Encoding says.');
  if (status === 400) return new ApiError(400, 'invalid_request', 'The request body is not valid JSON (an object is expected).');
  if (isDatabaseUnavailable(error)) {
    return new ApiError(503, 'temporarily_unavailable', 'Gatehouse cannot reach its database right now; try again shortly.', undefined, { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) });
  }
  return undefined;
}

export function sendError(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: error.code, error_description: error.description, ...(error.field ? { field: error.field } : {}) };
}

/** Every admin API response: never cached, and every failure answered as JSON here, not by the HTML error page. */
export function answerAsJson(logger: Logger) {
  return async function answerErrorsAsJson(ctx: Context, next: Next) {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (error) {
      // Creating a person or setting a password while argon2 is at its bound: retry, not a fault.
      if (error instanceof HashingBusy) {
        return sendError(ctx, new ApiError(503, 'temporarily_unavailable', 'Too many passwords are being hashed right now; try again shortly.', undefined, { 'Retry-After': String(error.retryAfterSeconds) }));
      }
      // A value PostgreSQL refused (src/db/errors.ts) is answered like any other invalid input.
      const known = translate(refusedByDatabase(error, logger, ctx.state.requestId) ?? error);
      if (known) {
        if (known.status === 503) logger.warn({ event: 'database.unavailable', requestId: ctx.state.requestId, message: (error as Error).message?.split('\n')[0] });
        return sendError(ctx, known);
      }
      logger.error({ event: 'admin_api.error', requestId: ctx.state.requestId, err: error });
      sendError(ctx, new ApiError(500, 'server_error', 'Something went wrong on our side.'));
    }
  };
}
