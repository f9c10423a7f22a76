// What follows a failed delivery: how it is described to operators, in the outbox row's last_error
// and in the log (the error's class, its code, the remote server's reply code and its message —
// never the payload; a receiving server's reply may quote what it was given, so links are cut out
// of it too), and when the next attempt is due.

const MAX_LENGTH = 300;
const LINK = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;

export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return 'Error: a delivery failed with a value that is not an Error';
  const { code, responseCode } = error as { code?: unknown; responseCode?: unknown };
  const tags = [typeof code === 'string' ? code : undefined, typeof responseCode === 'number' ? String(responseCode) : undefined].filter(Boolean);
  const message = error.message.replace(LINK, '[link]').replace(/\s+/g, ' ').trim();
  const described = `${error.name}${tags.length ? ` (${tags.join(' ')})` : ''}: ${message}`;
  return described.length > MAX_LENGTH ? `${described.slice(0, MAX_LENGTH - 1)}…` : described;
}

/**
 * How long to wait before attempt `attempts + 1`, after `attempts` failed: doubling from `baseMs`,
 * capped at `maxMs`. No jitter: each row is leased by one sender, so instances never retry one
 * message together, and tests can say exactly when a retry is due.
 */
export function retryDelayMs(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)), maxMs);
}

/**
 * Thrown by a channel when the receiving end refused a delivery for good: trying again cannot
 * help (RFC 8935 §2.3: a 400 with an error code). The sender gives the row up at once.
 */
export class DeliveryRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryRefused';
  }
}
