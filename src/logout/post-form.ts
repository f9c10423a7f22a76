// One HTTP POST of a form to a receiver an administrator registered (a back-channel logout URI),
// answered within a bound: what the outbox's HTTP channels deliver with. A delivery counts only
// when the receiver says so with one of `accepted`; a redirect is not followed (the registered
// URI is the receiver, not whatever it points at), and anything else is an error the outbox
// retries. The error carries the status as `responseCode` and never the receiver's body, which
// describeFailure (src/outbox/failures.ts) would otherwise put in a log line.

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
  const response = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json, text/plain, */*' },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_POST_TIMEOUT_MS),
  });
  // The body is not read for meaning, only drained so the connection can be reused.
  // A body cut short says nothing about delivery: the status below decides.
  await response.arrayBuffer().catch(() => undefined);
  if (!options.accepted.includes(response.status)) throw new ReceiverRefusedError(response.status);
}
