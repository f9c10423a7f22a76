// One POST to a receiver's endpoint, for the outbox's HTTP channels (security events, RFC 8935;
// back-channel logout). It says what happened and leaves deciding what that means — delivered,
// retry, refused for good — to the channel, which knows its protocol.
//
// Redirects are not followed: an endpoint is registered by an operator, and a 3xx pointing a
// signed token elsewhere is a failure to show them, not a path to take. Every attempt has a
// timeout, so a receiver that accepts connections and never answers costs one attempt, not the
// sender. The answer's body is read up to a few kilobytes (enough for an error object).

/** What the receiver answered. */
export interface HttpAnswer {
  status: number;
  /** The media type, lower-case, without parameters; '' when none. */
  contentType: string;
  /** At most MAX_BODY characters. */
  body: string;
}

export interface HttpPostOptions {
  contentType: string;
  accept?: string;
  /** The whole attempt, connecting included. */
  timeoutMs: number;
}

const MAX_BODY = 4096;

/**
 * A POST that did not get an answer, or got one the channel does not accept. `responseCode` and
 * `code` are what src/outbox/failures.ts puts in the operator's description.
 */
export class HttpDeliveryFailed extends Error {
  constructor(message: string, readonly code?: string, readonly responseCode?: number) {
    super(message);
    this.name = 'HttpDeliveryFailed';
  }
}

/** POSTs `body`; resolves with any answer, rejects with HttpDeliveryFailed when none came. */
export async function httpPost(url: string, body: string, options: HttpPostOptions): Promise<HttpAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      redirect: 'manual',
      headers: { 'content-type': options.contentType, ...(options.accept ? { accept: options.accept } : {}) },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
    const code = timedOut ? 'ETIMEDOUT' : typeof cause?.code === 'string' ? cause.code : undefined;
    throw new HttpDeliveryFailed(timedOut ? `no answer within ${options.timeoutMs} ms` : 'the receiver could not be reached', code);
  }
  const text = await readCapped(response);
  const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  return { status: response.status, contentType, body: text };
}

async function readCapped(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < MAX_BODY) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // The answer's status is what counts; a body cut short changes nothing.
  } finally {
    try {
      await reader.cancel();
    } catch {
      // Cancelling a stream that already ended or broke can only fail for that reason: nothing to report.
    }
  }
  return text.slice(0, MAX_BODY);
}
