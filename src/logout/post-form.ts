// One back-channel logout POST (logout_token=… as a form), through the outbox's one HTTP POST
// (src/outbox/http-post.ts: no redirects followed, a bounded attempt, the body read only up to a
// few kilobytes). A delivery counts only when the app says so with one of `accepted`; anything
// else is an error the outbox retries. The error carries the status as `responseCode` and never
// the app's body, which describeFailure (src/outbox/failures.ts) would otherwise put in a log line.
import { httpPost } from '../outbox/http-post.js';

/** Long enough for a receiver that is slow, short enough that a hung one does not hold a lease. */
export const DEFAULT_POST_TIMEOUT_MS = 10_000;

export class ReceiverRefusedError extends Error {
  constructor(readonly responseCode: number) {
    super(`the receiver answered HTTP ${responseCode}`);
    this.name = 'ReceiverRefusedError';
  }
}

export async function postForm(
  url: string,
  form: Record<string, string>,
  options: { accepted: readonly number[]; timeoutMs?: number },
): Promise<void> {
  const answer = await httpPost(url, new URLSearchParams(form).toString(), {
    contentType: 'application/x-www-form-urlencoded',
    accept: 'application/json, text/plain, */*',
    timeoutMs: options.timeoutMs ?? DEFAULT_POST_TIMEOUT_MS,
  });
  if (!options.accepted.includes(answer.status)) throw new ReceiverRefusedError(answer.status);
}
