// pino, configured so that no credential can reach a log line: headers and fields that carry them
// are censored wherever they appear one level down in what is logged (and in a request's or
// response's headers), and request lines record the path without its query string.
// (`code` is not censored: authorization codes are never logged as fields, and database errors'
// codes are what an operator needs to read.)
import pino, { type Logger, type DestinationStream } from 'pino';
import { withoutQuotedValues } from './db/errors.js';

export type { Logger };

const CENSOR = '[redacted]';

/** Field names that carry a credential, in any case, censored at the top of a log line and one level down. */
const CREDENTIAL_FIELDS = new Set([
  'authorization',
  'cookie',
  'set-cookie',
  'password',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'code_verifier',
  'device_code',
  'user_code',
  'client_assertion',
  'subject_token',
  'actor_token',
  'id_token_hint',
  'logout_token',
  'registration_access_token',
  'secret',
]);

/** Where a request's or response's headers are, when one is logged as pino's serializers shape it. */
const HEADER_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'];

/** Header names come in any case (`Authorization`, `AUTHORIZATION`); most field names need no lowering. */
function isCredentialField(key: string): boolean {
  return CREDENTIAL_FIELDS.has(key) || CREDENTIAL_FIELDS.has(key.toLowerCase());
}

/** `value` with its credential fields censored: the same object when it has none. */
function censorFields(value: object): object {
  let censored: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    if (isCredentialField(key)) {
      censored ??= { ...value };
      censored[key] = CENSOR;
    }
  }
  return censored ?? value;
}

/**
 * What pino writes of a log call's object, through any child logger: credential fields censored,
 * at the top and in each field that is an object. (A child logger's bindings are not passed
 * through: pino applies no log formatter to them. Ours name where a line comes from — a
 * component, a worker — never anything a request carried.) The same object comes back, nothing
 * copied, when no field needs it — the request line on every request is all strings and numbers.
 *
 * This is pino's `redact` with `*.authorization` and the like, done here because pino's redaction
 * with a path that starts with a wildcard ran on every field of every line, strings and numbers
 * included, and re-parsed each path each time: about 30 KB of garbage per request line, a fifth of
 * everything a JWT introspection allocated.
 */
export function censorCredentials<T extends Record<string, unknown>>(fields: T): T {
  let censored: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (isCredentialField(key)) {
      censored ??= { ...fields };
      censored[key] = CENSOR;
      continue;
    }
    // An Error is left to pino's err serializer: a copy would lose its message and stack. An
    // array's or a buffer's own keys are indices, never a credential's name, and may be many.
    if (value === null || typeof value !== 'object' || value instanceof Error || Array.isArray(value) || ArrayBuffer.isView(value)) continue;
    const clean = censorFields(value);
    if (clean !== value) {
      censored ??= { ...fields };
      censored[key] = clean;
    }
  }
  return (censored ?? fields) as T;
}

/** A log call's arguments with a database error (the call's object, or its `err`) made safe to write. */
function withoutQuotedValuesIn<T extends unknown[]>(args: T): T {
  const [first, ...rest] = args;
  if (first instanceof Error) {
    const safe = withoutQuotedValues(first);
    return safe === first ? args : [safe, ...rest] as T;
  }
  if (first === null || typeof first !== 'object' || !('err' in first)) return args;
  const err = withoutQuotedValues(first.err);
  return err === first.err ? args : [{ ...first, err }, ...rest] as T;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      // Paths that start with a name cost nothing on lines without that field.
      redact: { paths: HEADER_PATHS, censor: CENSOR },
      formatters: { log: censorCredentials },
      // A database error's text may quote the values it refused (src/db/errors.ts). Replaced as the
      // call arrives: pino also takes an error's message as the line's own when none is given.
      hooks: { logMethod(args, method) { return method.apply(this, withoutQuotedValuesIn(args)); } },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
