// pino, configured so that no credential can reach a log line: headers that carry them are
// redacted wherever they appear, and request lines record the path without its query string.
// (`code` is not redacted: authorization codes are never logged as fields, and database errors'
// codes are what an operator needs to read.)
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  '*.authorization',
  '*.cookie',
  '*["set-cookie"]',
  '*.password',
  '*.client_secret',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.code_verifier',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
