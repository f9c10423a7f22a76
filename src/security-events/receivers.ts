// Who receives security events: an app (by client_id) or an API (by identifier) with an events
// endpoint registered. A receiver's SETs are addressed to it (`aud`). Pushed ones (an https
// endpoint, RFC 8935) are delivered in one outbox queue, so they arrive in the order they were
// written; a receiver whose endpoint is POLL_DELIVERY asks for them instead (RFC 8936, ./polls.ts).
import { hasUnusableCharacters } from '../clients/redirect-uris.js';
import type { Refusal } from '../errors.js';
import { POLL_DELIVERY } from './vocabulary.js';

export type Receiver = { type: 'app'; clientId: string } | { type: 'api'; identifier: string };

/** The `aud` of the receiver's SETs: an API's identifier, an app's client_id. */
export function audienceOf(receiver: Receiver): string {
  return receiver.type === 'app' ? receiver.clientId : receiver.identifier;
}

/** The outbox queue of the receiver's SETs (src/outbox/store.ts): one order per receiver. */
export function queueOf(receiver: Receiver): string {
  return `security-events:${receiver.type}:${audienceOf(receiver)}`;
}

/** Whether a registered events endpoint means the receiver polls (RFC 8936) rather than takes pushes. */
export function isPollDelivery(eventsEndpoint: string | null | undefined): boolean {
  return eventsEndpoint === POLL_DELIVERY;
}

/**
 * Why `value` cannot be an events endpoint, or undefined when it can: POLL_DELIVERY, or an
 * absolute https URL (http too when `allowHttp`, outside production) without credentials or a
 * fragment. In English (the CLI, the admin API, the delivery log) and in catalog words (the console).
 */
export function eventsEndpointRefusal(value: string, allowHttp: boolean): Refusal | undefined {
  if (isPollDelivery(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { message: 'The events endpoint must be an absolute URL, e.g. https://api.example.com/security-events', words: { key: 'problem.eventsEndpoint.notAbsolute' } };
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    return allowHttp
      ? { message: `The events endpoint must be an http(s) URL, or ${POLL_DELIVERY} for the receiver to poll.`, words: { key: 'problem.eventsEndpoint.httpOrHttps', values: { poll: POLL_DELIVERY } } }
      : { message: `The events endpoint must be an https URL in production, or ${POLL_DELIVERY} for the receiver to poll.`, words: { key: 'problem.eventsEndpoint.httpsInProduction', values: { poll: POLL_DELIVERY } } };
  }
  if (url.username || url.password) return { message: 'The events endpoint must not carry credentials.', words: { key: 'problem.eventsEndpoint.credentials' } };
  if (url.hash || value.includes('#')) return { message: 'The events endpoint must not have a fragment.', words: { key: 'problem.eventsEndpoint.fragment' } };
  if (value.length > 2000 || hasUnusableCharacters(value)) return { message: 'The events endpoint is not a usable URL.', words: { key: 'problem.eventsEndpoint.unusable' } };
  return undefined;
}

export function eventsEndpointProblem(value: string, allowHttp: boolean): string | undefined {
  return eventsEndpointRefusal(value, allowHttp)?.message;
}
