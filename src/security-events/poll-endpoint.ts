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
// instance (./polls.ts); a few polls per receiver are held, a newer one beyond them answering the
// oldest.
//
// What it costs is bounded like any other request: the work before and after the wait takes a
// load-shedding slot (not the wait itself, which costs nothing), failed authentications are
// limited per network, and each receiver's polls per minute.
//
// Errors follow RFC 8935 §2.3's `err` and `description`: invalid_request (400),
// authentication_failed (401), access_denied (403); and, outside that registry, 429 and 503 with
// Retry-After.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import type { ClientStore } from '../clients/store.js';
import { isDatabaseUnavailable, refusedByDatabase } from '../db/errors.js';
import type { LoadShedding } from '../http/load-shedding.js';
import type { Logger } from '../logger.js';
import { basicAuthorization } from '../oidc/internals.js';
import { securityEventsPolled, throttleBlocks } from '../observability/metrics.js';
import type { ResourceServerStore } from '../resources/store.js';
import { networkOf } from '../security/client-address.js';
import type { SetSigner } from './delivery.js';
import { MAX_JTI_LENGTH, type SecurityEventPolls } from './polls.js';
import { isPollDelivery, queueOf, type Receiver } from './receivers.js';
import { SSF_POLL_PATH } from './vocabulary.js';

/** The most SETs one answer holds, whatever maxEvents asks (RFC 8936 leaves the number to the transmitter). */
export const MAX_EVENTS_PER_POLL = 100;
/** Failed authentications one network may make per minute before it is refused without a look. */
const FAILED_AUTHENTICATIONS_PER_MINUTE = 30;
/** Polls one receiver may make per minute: a receiver working through a backlog, with room to spare. */
const POLLS_PER_RECEIVER_PER_MINUTE = 600;

const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', jsonStrict: true, encoding: 'utf-8' });

const jti = z.string().min(1).max(MAX_JTI_LENGTH);
const pollRequest = z.object({
  maxEvents: z.number().int().min(0).optional(),
  returnImmediately: z.boolean().optional(),
  ack: z.array(jti).max(1000).optional(),
  setErrs: z.record(jti, z.object({ err: z.string().min(1).max(64), description: z.string().max(1000).optional() })).optional(),
}).refine((request) => Object.keys(request.setErrs ?? {}).length <= 1000, 'setErrs names at most 1000 SETs.');

export interface PollEndpointDependencies {
  clients: Pick<ClientStore, 'authenticate'>;
  resources: Pick<ResourceServerStore, 'find'>;
  polls: Pick<SecurityEventPolls, 'seen' | 'waiting' | 'settle' | 'whenWritten'>;
  signer: Pick<SetSigner, 'sign'>;
  shedding: Pick<LoadShedding, 'admit'>;
  logger: Logger;
  /** SECURITY_EVENTS_POLL_WAIT, in milliseconds. */
  waitMs: number;
  /** Aborts when the server begins to stop: a held poll answers at once. */
  stopping: AbortSignal;
}

class PollRefused extends Error {
  constructor(readonly status: number, readonly err: string, readonly description: string, readonly retryAfterSeconds?: number) {
    super(description);
  }
}

export function pollEndpointRoutes(deps: PollEndpointDependencies): Router {
  const failures = new RateLimiterMemory({ keyPrefix: 'ssf-poll-failures', points: FAILED_AUTHENTICATIONS_PER_MINUTE, duration: 60 });
  const perReceiver = new RateLimiterMemory({ keyPrefix: 'ssf-poll', points: POLLS_PER_RECEIVER_PER_MINUTE, duration: 60 });
  const router = new Router();
  router.post(SSF_POLL_PATH, async (ctx) => {
    ctx.state.route = SSF_POLL_PATH;
    ctx.set('Cache-Control', 'no-store');
    // Given up when the receiver goes away (the response's close: a request emits its own as soon
    // as its body has been read), so a held poll never outlives its connection.
    const gone = new AbortController();
    const onClose = () => gone.abort();
    ctx.res.once('close', onClose);
    try {
      // Authenticating, settling and the first read share one load-shedding slot; the wait takes none.
      const { receiver, request, seen, found } = await working(deps, async () => {
        const { receiver, request } = await admitted(ctx, deps, failures, perReceiver);
        const seen = deps.polls.seen(receiver);
        return { receiver, request, seen, found: await readAndSign(deps, receiver, maxOf(request), gone.signal) };
      });
      ctx.body = await answer(deps, receiver, request, { seen, found }, gone.signal);
    } catch (error) {
      const refusal = error instanceof PollRefused ? error : unexpected(error, deps.logger, ctx.state.requestId);
      ctx.status = refusal.status;
      if (refusal.status === 401) ctx.set('WWW-Authenticate', 'Basic realm="gatehouse"');
      if (refusal.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(refusal.retryAfterSeconds));
      ctx.body = { err: refusal.err, description: refusal.description };
    } finally {
      ctx.res.off('close', onClose);
      gone.abort();
    }
  });
  return router;
}

/** Runs `work` in a load-shedding slot, given back as soon as it is done. */
async function working<T>(deps: PollEndpointDependencies, work: () => Promise<T>): Promise<T> {
  const release = deps.shedding.admit();
  if (!release) throw new PollRefused(503, 'temporarily_unavailable', 'Gatehouse is busy; poll again in a moment.', 1);
  try {
    return await work();
  } finally {
    release();
  }
}

/** The authenticated receiver and its request, with what it acknowledged and refused settled. */
async function admitted(ctx: Context, deps: PollEndpointDependencies, failures: RateLimiterMemory, perReceiver: RateLimiterMemory): Promise<{ receiver: Receiver; request: PollRequest }> {
  const network = networkOf(ctx.ip);
  const spent = await failures.get(network);
  if (spent && spent.consumedPoints >= FAILED_AUTHENTICATIONS_PER_MINUTE) throw tooMany(spent);
  let receiver: Receiver;
  try {
    receiver = await authenticatedReceiver(ctx, deps);
  } catch (error) {
    if (error instanceof PollRefused && error.status === 401) await failures.penalty(network);
    throw error;
  }
  await perReceiver.consume(queueOf(receiver)).catch((limited: unknown) => {
    throw limited instanceof RateLimiterRes ? tooMany(limited) : limited;
  });
  const request = await readRequest(ctx);
  await settle(deps, receiver, request);
  return { receiver, request };
}

function tooMany(limited: RateLimiterRes): PollRefused {
  throttleBlocks.inc({ limit: 'security_events_poll' });
  return new PollRefused(429, 'too_many_requests', 'Too many polls, or too many failed authentications; poll again later.', Math.max(1, Math.ceil(limited.msBeforeNext / 1000)));
}

/** What reached the route unanswered (the database gone, say): an answer in this endpoint's own terms, never a page. */
function unexpected(error: unknown, logger: Logger, requestId: unknown): PollRefused {
  if (isDatabaseUnavailable(error)) return new PollRefused(503, 'temporarily_unavailable', 'Gatehouse cannot reach its database; poll again in a moment.', 5);
  // A value that got past the request's checks and that the database refused: still the receiver's input.
  const refused = refusedByDatabase(error, logger, requestId);
  if (refused) return new PollRefused(400, 'invalid_request', refused.message);
  logger.error({ event: 'security_events.poll_failed', err: error });
  return new PollRefused(500, 'server_error', 'Something went wrong; poll again.');
}

/** The receiver whose credentials the request carries, if it is one that polls. */
async function authenticatedReceiver(ctx: Context, deps: PollEndpointDependencies): Promise<Receiver> {
  const credentials = basicAuthorization(ctx.get('authorization'));
  if (!credentials?.clientId) throw new PollRefused(401, 'authentication_failed', 'Authenticate with the client id and secret of the app, or of the API\'s introspection credentials (HTTP Basic).');
  const client = await deps.clients.authenticate(credentials.clientId, credentials.secret);
  if (!client) throw new PollRefused(401, 'authentication_failed', 'The client id or secret is wrong, or the client is disabled.');
  if (client.resourceIdentifier) {
    const api = await deps.resources.find(client.resourceIdentifier);
    // Disabling an API disables its credentials too; this holds even if one day it did not.
    if (!api || api.disabledAt) throw new PollRefused(401, 'authentication_failed', 'The client id or secret is wrong, or the client is disabled.');
    if (!isPollDelivery(api.eventsEndpoint)) throw notPolling();
    return { type: 'api', identifier: api.identifier };
  }
  if (!isPollDelivery(client.eventsEndpoint)) throw notPolling();
  return { type: 'app', clientId: client.clientId };
}

function notPolling(): PollRefused {
  return new PollRefused(403, 'access_denied', 'This receiver does not poll for its security events: its events endpoint must be urn:ietf:rfc:8936.');
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

/** Forgets what the receiver acknowledged, and what it refused for good (those that were its: logged, never their content). */
async function settle(deps: PollEndpointDependencies, receiver: Receiver, request: PollRequest): Promise<void> {
  const acknowledged = await deps.polls.settle(receiver, request.ack ?? []);
  const refused = await deps.polls.settle(receiver, Object.keys(request.setErrs ?? {}));
  for (const id of refused) {
    const { err, description } = request.setErrs![id]!;
    deps.logger.warn({ event: 'security_events.refused_by_receiver', receiver: queueOf(receiver), jti: id, err, description: description?.slice(0, 200) });
  }
  if (acknowledged.length) securityEventsPolled.inc({ outcome: 'acknowledged' }, acknowledged.length);
  if (refused.length) securityEventsPolled.inc({ outcome: 'refused' }, refused.length);
}

interface PollAnswer { sets: Record<string, string>; moreAvailable: boolean }

/** How many SETs the answer may hold. */
function maxOf(request: PollRequest): number {
  return Math.min(request.maxEvents ?? MAX_EVENTS_PER_POLL, MAX_EVENTS_PER_POLL);
}

/**
 * The answer, from the first read; with nothing found, held open (unless asked not to be) until
 * a SET is written for the receiver, and read again in a load-shedding slot of its own.
 */
async function answer(deps: PollEndpointDependencies, receiver: Receiver, request: PollRequest, first: { seen: string; found: PollAnswer }, gone: AbortSignal): Promise<PollAnswer> {
  const hold = maxOf(request) > 0 && request.returnImmediately !== true;
  const deadline = Date.now() + deps.waitMs;
  const calledOff = AbortSignal.any([deps.stopping, gone]);
  let { seen, found } = first;
  for (;;) {
    const left = deadline - Date.now();
    if (Object.keys(found.sets).length || !hold || left <= 0 || calledOff.aborted) return found;
    const woken = await deps.polls.whenWritten(receiver, seen, left, calledOff);
    // Only a write can change the answer: anything else is answered as it stands, without a read.
    if (woken !== 'written') return found;
    ({ seen, found } = await working(deps, async () => ({ seen: deps.polls.seen(receiver), found: await readAndSign(deps, receiver, maxOf(request), gone) })));
  }
}

async function readAndSign(deps: PollEndpointDependencies, receiver: Receiver, max: number, gone: AbortSignal): Promise<PollAnswer> {
  const { sets, moreAvailable } = await deps.polls.waiting(receiver, max, deps.logger);
  // Nobody is left to read them: they stay for the next poll, unsigned and uncounted.
  if (gone.aborted) return { sets: {}, moreAvailable: sets.length > 0 || moreAvailable };
  const signed = await Promise.all(sets.map(async ({ jti: id, claims }) => [id, await deps.signer.sign(receiver, claims)] as const));
  if (signed.length) securityEventsPolled.inc({ outcome: 'handed_out' }, signed.length);
  return { sets: Object.fromEntries(signed), moreAvailable };
}
