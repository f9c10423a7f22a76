// RFC 8936 poll delivery, as a receiver behind a firewall uses it: real HTTP polls with the app's
// or the API's own credentials, SETs verified with jose against the JWKS, acknowledgements,
// refusals, paging, a poll held open until an act writes a SET (on this instance or another), and
// a SET queued for a push before its receiver took to polling.
import { once } from 'node:events';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { GatehouseError } from '../../src/errors.js';
import { MAX_EVENTS_PER_POLL } from '../../src/security-events/poll-endpoint.js';
import { MAX_HELD_PER_RECEIVER } from '../../src/security-events/polls.js';
import { queueOf } from '../../src/security-events/receivers.js';
import { createTestDatabase, refuseAsDataException, usingPostgres, type TestDatabase } from '../support/database.js';
import { grantIds, registerApp, type App, type FlowServer } from '../support/flows.js';
import { replicaEnvironment, startTestServer, type TestServer } from '../support/gatehouse.js';
import { startSetReceiver, verifySet, type SetReceiver } from '../support/set-receiver.js';
import { written } from '../support/changes.js';

const POLL = 'urn:ietf:rfc:8936';
const NOTES = 'https://notes-polled.example.test';
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const ADMIN: Actor = { type: 'client', id: 'automation' };
const postgres = await usingPostgres();

let now = Date.now();
let server: TestServer;
let api: { clientId: string; clientSecret: string };
let app: App;

beforeAll(async () => {
  server = await startTestServer({ SECURITY_EVENTS_DROP_AFTER: '3600' }, { now: () => now });
  const created = await server.stores.resources.create({ identifier: NOTES, scope: 'notes:read', eventsEndpoint: POLL });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  app = await registerApp(server, { scope: 'openid offline_access notes:read' });
});
afterAll(async () => {
  await server.stop();
});

interface PollAnswer {
  status: number;
  body: { sets?: Record<string, string>; moreAvailable?: boolean; err?: string; description?: string };
  authenticate: string | null;
  requestId: string | null;
}

async function poll(on: { issuer: string }, credentials: { clientId: string; clientSecret: string | undefined } | undefined, request: unknown = { returnImmediately: true }, contentType = 'application/json'): Promise<PollAnswer> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (credentials) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret ?? '')}`).toString('base64')}`;
  const response = await fetch(`${on.issuer}/ssf/poll`, { method: 'POST', headers, body: typeof request === 'string' ? request : JSON.stringify(request) });
  expect(response.headers.get('cache-control')).toBe('no-store');
  return { status: response.status, body: await response.json() as PollAnswer['body'], authenticate: response.headers.get('www-authenticate'), requestId: response.headers.get('x-request-id') };
}

/** Grants of fresh people to the app for the notes API, by grant id, in the order made. */
function grants(on: FlowServer, count: number, to: App = app): Promise<string[]> {
  return grantIds(on, to, count, { scope: 'openid offline_access notes:read', resource: NOTES });
}

/** A SET's claims as the observer writes them, for a SET written directly to a receiver's poll queue. */
function strayClaims(jti: string) {
  const iat = Math.floor(now / 1000);
  return { iss: server.issuer, jti, iat, txn: jti, sub_id: { format: 'opaque', id: `grant-${jti}` }, events: { [SESSION_REVOKED]: { event_timestamp: iat } } } as const;
}

/** Acknowledges whatever waits for the receiver (what earlier tests' acts left it). */
async function acknowledgeAll(credentials: { clientId: string; clientSecret: string | undefined }): Promise<void> {
  for (;;) {
    const waiting = Object.keys((await poll(server, credentials)).body.sets!);
    if (!waiting.length) return;
    await poll(server, credentials, { ack: waiting, maxEvents: 0 });
  }
}

/** With the API's queue emptied first, one grant revoked: the jti of the one SET now waiting for it. */
async function oneWaitingForTheApi(): Promise<string[]> {
  await acknowledgeAll(api);
  const [grantId] = await grants(server, 1);
  await server.operations.grants.revokeGrant(ADMIN, grantId!);
  return Object.keys((await poll(server, api)).body.sets!);
}

function grantOf(set: string): string {
  return (decodeJwt(set).sub_id as { session: { id: string } }).session.id;
}

describe('an API that polls for its security events', () => {
  it('gets a revoked grant\'s session-revoked SET, signed for it, on every poll until it acknowledges it', async () => {
    const [grantId] = await grants(server, 1);
    await server.operations.grants.revokeGrant(ADMIN, grantId!);

    const first = await poll(server, api);
    expect(first.status).toBe(200);
    const [[jti, set]] = Object.entries(first.body.sets!) as [[string, string]];
    expect(first.body.moreAvailable).toBe(false);
    const { payload, typ } = await verifySet(set, server.issuer, NOTES);
    expect(typ).toBe('secevent+jwt');
    expect(payload.jti).toBe(jti);
    expect(Object.keys(payload.events as object)).toEqual([SESSION_REVOKED]);
    expect(grantOf(set)).toBe(grantId);
    // Nothing went to the outbox: there is no endpoint to push to.
    expect(await server.testDb.db('outbox').where({ queue: queueOf({ type: 'api', identifier: NOTES }) })).toEqual([]);

    // Not acknowledged: handed out again (delivery is assured by the acknowledgement, RFC 8936 §2.4).
    expect(Object.keys((await poll(server, api)).body.sets!)).toEqual([jti]);
    // Acknowledged alone (maxEvents 0), then gone.
    expect((await poll(server, api, { ack: [jti], maxEvents: 0 })).body).toEqual({ sets: {}, moreAvailable: false });
    expect((await poll(server, api)).body.sets).toEqual({});
  });

  it('with no body at all, asks for the defaults', async () => {
    const [grantId] = await grants(server, 1);
    await server.operations.grants.revokeGrant(ADMIN, grantId!);
    const response = await fetch(`${server.issuer}/ssf/poll`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${api.clientId}:${api.clientSecret}`).toString('base64')}` },
    });
    expect(response.status).toBe(200);
    const { sets } = await response.json() as { sets: Record<string, string> };
    expect(Object.values(sets).map(grantOf)).toEqual([grantId]);
    expect((await poll(server, api, { ack: Object.keys(sets), returnImmediately: true })).body.sets).toEqual({});
  });
});

describe('an app that polls with its own credentials', () => {
  let polling: App;
  beforeAll(async () => {
    polling = await registerApp(server, { scope: 'openid offline_access notes:read' });
    await written(server, () => server.stores.clients.update(polling.clientId, { eventsEndpoint: POLL }));
  });

  it('pages through its SETs oldest first, and forgets one it refuses (logged, without its content)', async () => {
    const revoked = await grants(server, 3, polling);
    for (const grantId of revoked) await server.operations.grants.revokeGrant(ADMIN, grantId);

    const page = await poll(server, polling, { maxEvents: 2, returnImmediately: true });
    expect(page.status).toBe(200);
    expect(page.body.moreAvailable).toBe(true);
    const firstTwo = Object.entries(page.body.sets!);
    expect(firstTwo.map(([, set]) => grantOf(set))).toEqual(revoked.slice(0, 2));
    for (const [, set] of firstTwo) expect((await verifySet(set, server.issuer, polling.clientId)).payload.aud).toBe(polling.clientId);

    const rest = await poll(server, polling, { ack: firstTwo.map(([jti]) => jti), maxEvents: 2, returnImmediately: true });
    expect(rest.body.moreAvailable).toBe(false);
    const [[lastJti, lastSet]] = Object.entries(rest.body.sets!) as [[string, string]];
    expect(grantOf(lastSet)).toBe(revoked[2]);

    const refused = await poll(server, polling, { setErrs: { [lastJti]: { err: 'invalid_audience', description: 'not for us' } }, returnImmediately: true });
    expect(refused.body.sets).toEqual({});
    expect(server.logs).toContainEqual(expect.objectContaining({ event: 'security_events.refused_by_receiver', jti: lastJti, err: 'invalid_audience', receiver: queueOf({ type: 'app', clientId: polling.clientId }) }));
    expect(server.rawLogs.some((line) => line.includes(lastSet))).toBe(false);
  });

  it('is held open while nothing waits, and answered by the act that writes a SET for it, not by its wait running out', async () => {
    const [grantId] = await grants(server, 1, polling);
    const queue = queueOf({ type: 'app', clientId: polling.clientId });
    const held = once(server.securityEventPolls, 'held');
    const answer = poll(server, polling, { maxEvents: 10 });
    expect(await held).toEqual([queue]);
    const woken = once(server.securityEventPolls, 'woken');
    await server.operations.grants.revokeGrant(ADMIN, grantId!);
    // Woken by the write, not by its wait running out.
    expect(await woken).toEqual([queue, 'written']);
    const { status, body } = await answer;
    expect(status).toBe(200);
    expect(Object.values(body.sets!).map(grantOf)).toEqual([grantId]);
    await poll(server, polling, { ack: Object.keys(body.sets!), maxEvents: 0 });
  });

  it('holds a few polls at a time: one more answers the oldest, empty, and the act answers the rest', async () => {
    const [grantId] = await grants(server, 1, polling);
    const reasons: string[] = [];
    const onWoken = (_queue: string, reason: string) => reasons.push(reason);
    server.securityEventPolls.on('woken', onWoken);
    try {
      const answers: Array<Promise<PollAnswer>> = [];
      for (let i = 0; i <= MAX_HELD_PER_RECEIVER; i += 1) {
        const held = once(server.securityEventPolls, 'held');
        answers.push(poll(server, polling, { maxEvents: 10 }));
        await held;
      }
      expect((await answers[0]!).body).toEqual({ sets: {}, moreAvailable: false });
      await server.operations.grants.revokeGrant(ADMIN, grantId!);
      for (const answer of answers.slice(1)) expect(Object.values((await answer).body.sets!).map(grantOf)).toEqual([grantId]);
      expect(reasons).toEqual(['superseded', ...Array(MAX_HELD_PER_RECEIVER).fill('written')]);
    } finally {
      server.securityEventPolls.off('woken', onWoken);
    }
    await acknowledgeAll(polling);
  });

  it('gets a SET queued for a push before it took to polling at its next poll', async () => {
    const pusher = await registerApp(server, { scope: 'openid offline_access notes:read' });
    const receiver: SetReceiver = await startSetReceiver();
    try {
      await written(server, () => server.stores.clients.update(pusher.clientId, { eventsEndpoint: receiver.url }));
      const [grantId] = await grants(server, 1, pusher);
      await server.operations.grants.revokeGrant(ADMIN, grantId!);
      await written(server, () => server.stores.clients.update(pusher.clientId, { eventsEndpoint: POLL }));
      await server.deliveries.sender.deliverDue();
      expect(receiver.posts).toEqual([]);
      const { body } = await poll(server, pusher);
      expect(Object.values(body.sets!).map(grantOf)).toEqual([grantId]);
      await acknowledgeAll(pusher);
    } finally {
      await receiver.close();
    }
  });

  it('loses what it leaves unacknowledged past SECURITY_EVENTS_DROP_AFTER to the janitor', async () => {
    await acknowledgeAll(api);
    const [grantId] = await grants(server, 1, polling);
    await server.operations.grants.revokeGrant(ADMIN, grantId!);
    expect(Object.keys((await poll(server, polling)).body.sets!)).toHaveLength(1);
    now += 3_601_000;
    try {
      // The app's SET, and the notes API's about the same grant.
      expect((await server.janitor.sweep()).polledEvents).toBe(2);
    } finally {
      now -= 3_601_000;
    }
    expect((await poll(server, polling)).body.sets).toEqual({});
    expect(server.logs).toContainEqual(expect.objectContaining({ event: 'security_events.poll_dropped', receiver: queueOf({ type: 'app', clientId: polling.clientId }), unacknowledged: 1 }));
  });

  it('loses what waited for it when it stops polling, so nothing is kept that nobody can acknowledge', async () => {
    const leaving = await registerApp(server, { scope: 'openid offline_access notes:read' });
    await written(server, () => server.stores.clients.update(leaving.clientId, { eventsEndpoint: POLL }));
    const [grantId] = await grants(server, 1, leaving);
    await server.operations.grants.revokeGrant(ADMIN, grantId!);
    await written(server, () => server.stores.clients.update(leaving.clientId, { eventsEndpoint: null }));
    await written(server, () => server.stores.clients.update(leaving.clientId, { eventsEndpoint: POLL }));
    expect((await poll(server, leaving)).body.sets).toEqual({});

    // What a receiver that does not poll is left anyway (written as it stopped) goes at the next sweep.
    await server.securityEventPolls.enqueue(server.db, { type: 'app', clientId: app.clientId }, strayClaims('stray'));
    expect((await server.janitor.sweep()).polledEvents).toBe(1);
    expect(server.logs).toContainEqual(expect.objectContaining({ event: 'security_events.poll_dropped', receiver: queueOf({ type: 'app', clientId: app.clientId }), noLongerPolling: 1 }));
  });

  it('cannot acknowledge or refuse another receiver\'s SETs', async () => {
    const theirs = await oneWaitingForTheApi();
    expect(theirs).toHaveLength(1);
    await poll(server, polling, { ack: theirs, setErrs: Object.fromEntries(theirs.map((id) => [id, { err: 'invalid_key' }])), maxEvents: 0 });
    expect(Object.keys((await poll(server, api)).body.sets!)).toEqual(theirs);
    expect(Object.keys((await poll(server, api, { ack: theirs, returnImmediately: true })).body.sets!)).toEqual([]);
    expect(server.logs.filter((line) => line.event === 'security_events.refused_by_receiver' && line.jti === theirs[0])).toEqual([]);
  });
});

describe('who may poll, and what a poll may say', () => {
  it('refuses a poll without credentials or with a wrong secret: 401 with a Basic challenge', async () => {
    for (const credentials of [undefined, { clientId: api.clientId, clientSecret: 'wrong' }, { clientId: 'no-such-client', clientSecret: api.clientSecret }]) {
      const answer = await poll(server, credentials);
      expect(answer.status).toBe(401);
      expect(answer.body.err).toBe('authentication_failed');
      expect(answer.authenticate).toBe('Basic realm="gatehouse"');
    }
  });

  it('refuses a client that does not poll, or is disabled', async () => {
    const other = await registerApp(server, { scope: 'openid' });
    const answer = await poll(server, other);
    expect(answer.status).toBe(403);
    expect(answer.body.err).toBe('access_denied');

    const disabled = await registerApp(server, { scope: 'openid offline_access notes:read' });
    await written(server, () => server.stores.clients.update(disabled.clientId, { eventsEndpoint: POLL }));
    await server.operations.apps.disableClient(ADMIN, disabled.clientId);
    expect((await poll(server, disabled)).status).toBe(401);
  });

  it('answers a malformed poll 400 invalid_request, and settles nothing', async () => {
    const waiting = await oneWaitingForTheApi();
    for (const [request, contentType] of [
      ['{"ack": [', 'application/json'],
      [{ maxEvents: -1 }, 'application/json'],
      [{ maxEvents: 1.5 }, 'application/json'],
      [{ ack: 'not-a-list' }, 'application/json'],
      [{ setErrs: { [waiting[0]!]: { description: 'no err' } } }, 'application/json'],
      [[1, 2], 'application/json'],
      [`ack=${waiting[0]}`, 'application/x-www-form-urlencoded'],
    ] as const) {
      const answer = await poll(server, api, request, contentType);
      expect(answer.status, JSON.stringify(request)).toBe(400);
      expect(answer.body.err).toBe('invalid_request');
      expect(answer.body.description).toEqual(expect.any(String));
    }
    // Nothing was settled by any of them: the SET is still there.
    expect(Object.keys((await poll(server, api)).body.sets!)).toEqual(waiting);
    expect(Object.keys((await poll(server, api, { ack: waiting, returnImmediately: true })).body.sets!)).toEqual([]);
  });

  it('acknowledges what it can beside a jti no database could hold (a NUL in it): that one settles nothing', async () => {
    const waiting = await oneWaitingForTheApi();
    expect(waiting).toHaveLength(1);
    const answer = await poll(server, api, { ack: [`${waiting[0]}\u0000`, '\u0000'], setErrs: { '\u0000': { err: 'invalid_key' } }, returnImmediately: true });
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body.sets!)).toEqual(waiting);
    expect(Object.keys((await poll(server, api, { ack: [...waiting, '\u0000'], returnImmediately: true })).body.sets!)).toEqual([]);
  });

  it('answers an acknowledgement the database refuses as the receiver\'s bad input, 400 in RFC 8936 terms, and loses nothing', async () => {
    // The next hole in validation, stood in for by a trigger: an acknowledgement that passes every
    // check and is then refused by PostgreSQL as a data exception (SQLSTATE class 22).
    await acknowledgeAll(api);
    const receiver = { type: 'api', identifier: NOTES } as const;
    await server.securityEventPolls.enqueue(server.db, receiver, strayClaims('tripwire'));
    const quoted = 'the value 2026-02-30 that was acknowledged';
    const remove = await refuseAsDataException(server.db, { name: 'refuse_tripwire_ack', table: 'security_event_polls', event: 'delete', when: `old.jti = 'tripwire'`, quoted });
    let answer: PollAnswer;
    try {
      answer = await poll(server, api, { ack: ['tripwire'], returnImmediately: true });
    } finally {
      await remove();
    }
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ err: 'invalid_request', description: expect.any(String) });
    expect(answer.body.description).not.toContain(quoted);
    const lines = server.logs.filter((line) => line.requestId === answer.requestId);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'input_reached_database', sqlstate: '22008' }));
    expect(server.rawLogs.join('\n')).not.toContain(quoted);
    // Nothing was settled: the SET still waits, and is acknowledged as usual once the hole is gone.
    expect(Object.keys((await poll(server, api)).body.sets!)).toEqual(['tripwire']);
    await acknowledgeAll(api);
  });

  it('hands out at most 100 SETs, however many are asked for, and says more wait', async () => {
    await acknowledgeAll(api);
    const receiver = { type: 'api', identifier: NOTES } as const;
    for (let i = 0; i <= MAX_EVENTS_PER_POLL; i += 1) await server.securityEventPolls.enqueue(server.db, receiver, strayClaims(`bulk-${i}`));
    const { moreAvailable, sets } = (await poll(server, api, { maxEvents: 5000 })).body;
    expect(Object.keys(sets!)).toEqual(Array.from({ length: MAX_EVENTS_PER_POLL }, (_, i) => `bulk-${i}`));
    expect(moreAvailable).toBe(true);
    expect((await poll(server, api, { ack: Object.keys(sets!), maxEvents: 0 })).body).toEqual({ sets: {}, moreAvailable: true });
    await acknowledgeAll(api);
  });

  it('takes the previous secret while a rotation overlaps, and refuses a disabled API', async () => {
    const identifier = 'https://rotating.example.test';
    const created = await server.stores.resources.create({ identifier, scope: 'rotating:read', eventsEndpoint: POLL });
    const rotated = await server.operations.apis.rotateResourceSecret(ADMIN, identifier, { overlapSeconds: 3600 });
    const old = { clientId: created.clientId, clientSecret: created.clientSecret! };
    expect((await poll(server, old)).status).toBe(200);
    expect((await poll(server, { clientId: created.clientId, clientSecret: rotated.clientSecret })).status).toBe(200);
    await server.operations.apis.disableResource(ADMIN, identifier);
    expect((await poll(server, { clientId: created.clientId, clientSecret: rotated.clientSecret })).status).toBe(401);

    // Deleted, it leaves nothing waiting that an API given its identifier later could collect.
    const receiver = { type: 'api', identifier } as const;
    await server.securityEventPolls.enqueue(server.db, receiver, strayClaims('left-behind'));
    await server.operations.apis.deleteResource(ADMIN, identifier);
    expect(await server.testDb.db('security_event_polls').where({ receiver: queueOf(receiver) })).toEqual([]);
  });

  it('drops a SET that no longer opens rather than stopping the receiver\'s queue', async () => {
    await acknowledgeAll(api);
    const receiver = { type: 'api', identifier: NOTES } as const;
    await server.securityEventPolls.enqueue(server.db, receiver, strayClaims('damaged'));
    await server.securityEventPolls.enqueue(server.db, receiver, strayClaims('intact'));
    await server.testDb.db('security_event_polls').where({ jti: 'damaged' }).update({ sealed: 'not.a.sealed.value.at-all' });
    expect(Object.keys((await poll(server, api)).body.sets!)).toEqual(['intact']);
    expect(server.logs).toContainEqual(expect.objectContaining({ event: 'security_events.poll_unreadable', jti: 'damaged' }));
    await acknowledgeAll(api);
  });

  it('refuses to make an app or an API without a client secret a polling receiver', async () => {
    const spa = await registerApp(server, { public: true, scope: 'openid' });
    const refusal = await server.stores.clients.update(spa.clientId, { eventsEndpoint: POLL }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(GatehouseError);
    expect((refusal as GatehouseError).message).toContain(POLL);

    const { publicKey } = await generateKeyPair('ES256');
    const keyed = { identifier: 'https://keyed.example.test', scope: 'keyed:read', jwks: { keys: [{ ...await exportJWK(publicKey), alg: 'ES256', use: 'sig', kid: 'k1' }] } };
    await expect(server.stores.resources.create({ ...keyed, eventsEndpoint: POLL })).rejects.toThrow('no secret cannot poll');
    await server.stores.resources.create(keyed);
    await expect(server.stores.resources.update(keyed.identifier, { eventsEndpoint: POLL })).rejects.toThrow('no secret cannot poll');
  });

  // Last of this server's tests: the network 127.0.0.1 is refused for a minute after it.
  it('refuses a network that keeps failing to authenticate, before looking at what it sends: 429 with Retry-After', async () => {
    let answer: PollAnswer | undefined;
    for (let attempt = 0; attempt < 40 && answer?.status !== 429; attempt += 1) answer = await poll(server, { clientId: api.clientId, clientSecret: `wrong-${attempt}` });
    expect(answer!.status).toBe(429);
    expect(answer!.body.err).toBe('too_many_requests');
    const refused = await fetch(`${server.issuer}/ssf/poll`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${api.clientId}:${api.clientSecret}`).toString('base64')}` } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe.skipIf(!postgres)('two instances on one database', () => {
  let testDb: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    const shared = await replicaEnvironment();
    a = await startTestServer(shared, { testDb });
    b = await startTestServer({ ...shared, PORT: '0' }, { testDb });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await testDb?.destroy();
  });

  it('a poll held open on one answers when the other writes the SET, and a stopping instance answers its held polls at once', async () => {
    const created = await a.stores.resources.create({ identifier: NOTES, scope: 'notes:read', eventsEndpoint: POLL });
    const credentials = { clientId: created.clientId, clientSecret: created.clientSecret! };
    const theApp = await registerApp(a, { scope: 'openid offline_access notes:read' });
    const [grantId] = await grants(a, 1, theApp);

    const queue = queueOf({ type: 'api', identifier: NOTES });
    const held = once(b.securityEventPolls, 'held');
    const answer = poll({ issuer: b.address }, credentials, { maxEvents: 5 });
    await held;
    const woken = once(b.securityEventPolls, 'woken');
    await a.operations.grants.revokeGrant(ADMIN, grantId!);
    // Woken through the change feed, not by its wait running out.
    expect(await woken).toEqual([queue, 'written']);
    expect(Object.values((await answer).body.sets!).map(grantOf)).toEqual([grantId]);

    const heldAgain = once(b.securityEventPolls, 'held');
    const last = poll({ issuer: b.address }, credentials, { ack: Object.keys((await answer).body.sets!), maxEvents: 5 });
    await heldAgain;
    const calledOff = once(b.securityEventPolls, 'woken');
    const stopping = b.stop();
    expect(await calledOff).toEqual([queue, 'aborted']);
    expect((await last).body).toEqual({ sets: {}, moreAvailable: false });
    await stopping;
  });
});
