// RFC 8936 poll delivery: a receiver that cannot take pushes (behind a firewall, without a public
// endpoint, run as a batch) asks for its Security Event Tokens at POST /ssf/poll, acknowledging
// what it has processed in the same request.
//
//   request  {"maxEvents": 10, "returnImmediately": false, "ack": ["<jti>"], "setErrs": {"<jti>": {"err": "…", "description": "…"}}}
//            every member optional (RFC 8936 §2.1)
//   answer   {"sets": {"<jti>": "<SET>", …}, "moreAvailable": true|false}
//
// Who polls: the app itself, or an API by its introspection credentials, with HTTP Basic client
// authentication (RFC 6749 §2.3.1), as at introspection; its events endpoint must be registered as
// POLL_DELIVERY. A SET is handed out on every poll until it is acknowledged, or until its receiver
// refuses it in setErrs (logged, counted and forgotten, as a push refused with an RFC 8935 error
// is). With nothing waiting and returnImmediately not set, the poll is held open for up to
// SECURITY_EVENTS_POLL_WAIT, and answers as soon as an act writes a SET for the receiver on any
// instance (./polls.ts).
//
// Errors follow RFC 8935 §2.3's `err` and `description`: invalid_request (400),
// authentication_failed (401), access_denied (403).
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ClientStore } from '../clients/store.js';
import type { Logger } from '../logger.js';
import { securityEventsPolled } from '../observability/metrics.js';
import type { ResourceServerStore } from '../resources/store.js';
import type { SetSigner } from './delivery.js';
import type { SecurityEventPolls } from './polls.js';
import { polls, type Receiver } from './receivers.js';

export const SSF_POLL_PATH = '/ssf/poll';

/** What one poll may ask for at most; a receiver with more waiting is told moreAvailable. */
export const MAX_EVENTS_PER_POLL = 100;

const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', jsonStrict: true, encoding: 'utf-8' });

const jti = z.string().min(1).max(255);
const pollRequest = z.object({
  maxEvents: z.number().int().min(0).max(MAX_EVENTS_PER_POLL).optional(),
  returnImmediately: z.boolean().optional(),
  ack: z.array(jti).max(1000).optional(),
  setErrs: z.record(jti, z.object({ err: z.string().min(1).max(64), description: z.string().max(1000).optional() })).optional(),
}).refine((request) => Object.keys(request.setErrs ?? {}).length <= 1000, 'setErrs names at most 1000 SETs.');

export interface PollEndpointDependencies {
  clients: Pick<ClientStore, 'authenticate'>;
  resources: Pick<ResourceServerStore, 'find'>;
  polls: Pick<SecurityEventPolls, 'waiting' | 'settle' | 'whenWritten'>;
  signer: Pick<SetSigner, 'sign'>;
  logger: Logger;
  /** SECURITY_EVENTS_POLL_WAIT, in milliseconds. */
  waitMs: number;
  /** Aborts when the server begins to stop: a held poll answers at once. */
  stopping: AbortSignal;
}

class PollRefused extends Error {
  constructor(readonly status: number, readonly err: string, readonly description: string) {
    super(description);
  }
}

export function pollEndpointRoutes(deps: PollEndpointDependencies): Router {
  const router = new Router();
  router.post(SSF_POLL_PATH, async (ctx) => {
    ctx.state.route = SSF_POLL_PATH;
    ctx.set('Cache-Control', 'no-store');
    try {
      const receiver = await authenticatedReceiver(ctx, deps);
      const request = await readRequest(ctx);
      await settle(deps, receiver, request);
      ctx.body = await answer(ctx, deps, receiver, request);
    } catch (error) {
      if (!(error instanceof PollRefused)) throw error;
      ctx.status = error.status;
      if (error.status === 401) ctx.set('WWW-Authenticate', 'Basic realm="gatehouse"');
      ctx.body = { err: error.err, description: error.description };
    }
  });
  return router;
}

/** The receiver whose credentials the request carries, if it is one that polls. */
async function authenticatedReceiver(ctx: Context, deps: PollEndpointDependencies): Promise<Receiver> {
  const credentials = basicCredentials(ctx.get('authorization'));
  if (!credentials) throw new PollRefused(401, 'authentication_failed', 'Authenticate with the client id and secret of the app, or of the API\'s introspection credentials (HTTP Basic).');
  const client = await deps.clients.authenticate(credentials.clientId, credentials.secret);
  if (!client) throw new PollRefused(401, 'authentication_failed', 'The client id or secret is wrong, or the client is disabled.');
  const receiver: Receiver = client.resourceIdentifier ? { type: 'api', identifier: client.resourceIdentifier } : { type: 'app', clientId: client.clientId };
  const endpoint = receiver.type === 'app' ? client.eventsEndpoint : (await deps.resources.find(receiver.identifier))?.eventsEndpoint;
  if (!polls(endpoint)) throw new PollRefused(403, 'access_denied', 'This receiver does not poll for its security events: its events endpoint must be urn:ietf:rfc:8936.');
  return receiver;
}

/** RFC 6749 §2.3.1: both parts form-urlencoded, then joined by a colon and base64-encoded. */
function basicCredentials(header: string): { clientId: string; secret: string } | undefined {
  const [scheme, value, ...rest] = header.split(' ');
  if (rest.length || scheme?.toLowerCase() !== 'basic' || !value) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    const form = (part: string) => decodeURIComponent(part.replace(/\+/g, '%20'));
    return { clientId: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

type PollRequest = z.infer<typeof pollRequest>;

async function readRequest(ctx: Context): Promise<PollRequest> {
  const sent = ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
  if (sent) {
    if (ctx.is('application/json') !== 'application/json') throw new PollRefused(400, 'invalid_request', 'Send the poll request as JSON, with Content-Type: application/json.');
    try {
      await parseJson(ctx, async () => {});
    } catch {
      throw new PollRefused(400, 'invalid_request', 'The poll request is not a JSON object of at most 64 KB.');
    }
  }
  // No body asks for the defaults (RFC 8936 §2.1: every member is optional).
  const parsed = pollRequest.safeParse((ctx.request as { body?: unknown }).body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PollRefused(400, 'invalid_request', `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
  }
  return parsed.data;
}

/** Forgets what the receiver acknowledged, and what it refused for good (logged, never its content). */
async function settle(deps: PollEndpointDependencies, receiver: Receiver, request: PollRequest): Promise<void> {
  const refused = Object.entries(request.setErrs ?? {});
  for (const [id, { err, description }] of refused) {
    deps.logger.warn({ event: 'security_events.refused_by_receiver', receiver: receiverName(receiver), jti: id, err, description: description?.slice(0, 200) });
  }
  const acknowledged = await deps.polls.settle(receiver, request.ack ?? []);
  const forgotten = await deps.polls.settle(receiver, refused.map(([id]) => id));
  if (acknowledged) securityEventsPolled.inc({ outcome: 'acknowledged' }, acknowledged);
  if (forgotten) securityEventsPolled.inc({ outcome: 'refused' }, forgotten);
}

/** The receiver's waiting SETs, signed; held open while there are none, unless asked not to be. */
async function answer(ctx: Context, deps: PollEndpointDependencies, receiver: Receiver, request: PollRequest): Promise<{ sets: Record<string, string>; moreAvailable: boolean }> {
  const max = request.maxEvents ?? MAX_EVENTS_PER_POLL;
  const hold = max > 0 && request.returnImmediately !== true;
  const deadline = Date.now() + deps.waitMs;
  // Also given up when the receiver goes away, so a held poll never outlives its connection.
  const gone = new AbortController();
  const onClose = () => gone.abort();
  // The response's close, not the request's: a request emits it as soon as its body has been read.
  ctx.res.once('close', onClose);
  try {
    for (;;) {
      const { sets, moreAvailable } = await deps.polls.waiting(receiver, max);
      const left = deadline - Date.now();
      if (sets.length || !hold || left <= 0 || deps.stopping.aborted || gone.signal.aborted) {
        const signed = await Promise.all(sets.map(async ({ jti: id, claims }) => [id, await deps.signer.sign(receiver, claims)] as const));
        if (signed.length) securityEventsPolled.inc({ outcome: 'handed_out' }, signed.length);
        return { sets: Object.fromEntries(signed), moreAvailable };
      }
      await deps.polls.whenWritten(receiver, left, AbortSignal.any([deps.stopping, gone.signal]));
    }
  } finally {
    ctx.res.off('close', onClose);
  }
}

function receiverName(receiver: Receiver): string {
  return receiver.type === 'app' ? `app ${receiver.clientId}` : `api ${receiver.identifier}`;
}
