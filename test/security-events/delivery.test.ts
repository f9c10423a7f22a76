// Delivery an operator can trust, with real HTTP receivers: a receiver that is down gets every
// event once it is back, once each and in order, while other receivers are not held up; a receiver
// that stays down past SECURITY_EVENTS_DROP_AFTER has its events dropped, logged and counted; one
// that refuses a SET for good (RFC 8935 error) has that one dropped and gets the next; and two
// instances on one database never send one event twice. The sender's pass is called directly, and
// time is a variable the tests move.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { registry } from '../../src/observability/metrics.js';
import { deliveryStatus } from '../../src/security-events/status.js';
import { createTestDatabase, usingPostgres } from '../support/database.js';
import { grantIds, registerApp, type App, type FlowServer } from '../support/flows.js';
import { replicaEnvironment, startTestServer, type TestServer } from '../support/gatehouse.js';
import { startSetReceiver, verifySet, type SetReceiver } from '../support/set-receiver.js';
import { written } from '../support/changes.js';

const NOTES = 'https://notes.example.test';
const ADMIN: Actor = { type: 'client', id: 'automation' };
const postgres = await usingPostgres();

let now = Date.now();
let server: TestServer;
let appReceiver: SetReceiver;
let notesReceiver: SetReceiver;
let app: App;

beforeAll(async () => {
  server = await startTestServer({ SECURITY_EVENTS_DROP_AFTER: '3600', SECURITY_EVENTS_RETRY_MAX_DELAY: '60' }, { now: () => now });
  [appReceiver, notesReceiver] = await Promise.all([startSetReceiver(), startSetReceiver()]);
  await server.stores.resources.create({ identifier: NOTES, scope: 'notes:read', eventsEndpoint: notesReceiver.url });
  app = await registerApp(server, { scope: 'openid offline_access notes:read' });
  await written(server, () => server.stores.clients.update(app.clientId, { eventsEndpoint: appReceiver.url }));
});
afterAll(async () => {
  await server.stop();
  await appReceiver.close();
  await notesReceiver.close();
});

/** Grants of fresh people to the app for the notes API, by grant id, in the order made. */
function grants(on: FlowServer, count: number, to: App = app): Promise<string[]> {
  return grantIds(on, to, count, { scope: 'openid offline_access notes:read', resource: NOTES });
}

function grantOf(set: Record<string, unknown>): string {
  return (set.sub_id as { session: { id: string } }).session.id;
}

function deliveriesCounted(outcome: string): Promise<number> {
  return registry.getSingleMetric('gatehouse_outbox_deliveries_total')!.get().then((metric) => metric.values
    .filter((value) => value.labels.kind === 'security-event' && value.labels.outcome === outcome)
    .reduce((sum, value) => sum + value.value, 0));
}

describe('a receiver that is down, then back', () => {
  it('gets every event once, in the order of the acts, and holds no other receiver up', async () => {
    appReceiver.posts.length = 0;
    notesReceiver.posts.length = 0;
    const revoked = await grants(server, 3);
    appReceiver.answer(503);
    for (const grantId of revoked) await server.operations.grants.revokeGrant(ADMIN, grantId);

    await server.deliveries.sender.deliverDue();
    // The first event was tried and failed; the later ones wait behind it. The API has all three.
    expect(appReceiver.posts.map((post) => post.status)).toEqual([503]);
    expect(notesReceiver.accepted().map(grantOf)).toEqual(revoked);

    // Before its retry is due, nothing more is tried, and the events behind it still wait.
    now += 500;
    await server.deliveries.sender.deliverDue();
    expect(appReceiver.posts).toHaveLength(1);
    now += 1_000;
    await server.deliveries.sender.deliverDue();
    expect(appReceiver.posts.map((post) => post.status)).toEqual([503, 503]);

    appReceiver.answer(202);
    now += 60_000;
    await server.deliveries.sender.deliverDue();
    const accepted = appReceiver.accepted();
    expect(accepted.map(grantOf)).toEqual(revoked);
    expect(new Set(accepted.map((set) => set.jti)).size).toBe(3);
    // The failed attempts carried the first event's jti: a receiver seeing it again can tell.
    expect(decodeJwt(appReceiver.posts[0]!.body).jti).toBe(accepted[0]!.jti);
    for (const post of appReceiver.posts.slice(2)) await verifySet(post.body, server.issuer, app.clientId);

    await server.deliveries.sender.deliverDue();
    expect(appReceiver.posts).toHaveLength(5);
    expect(await deliveryStatus(server.db, { type: 'app', clientId: app.clientId })).toMatchObject({ pending: 0, lastDeliveredAt: expect.any(Date), lastError: expect.stringContaining('503') });
  });
});

describe('a receiver that hangs', () => {
  it('holds up no other receiver: their events go out while it has not answered', async () => {
    const [grantId] = await grants(server, 1);
    await server.deliveries.sender.deliverDue();
    appReceiver.posts.length = 0;
    notesReceiver.posts.length = 0;
    // The app's receiver answers only once the API's has received its SET: delivered one after
    // the other, the app's would wait for ever (until its timeout, and fail).
    const apiReached = notesReceiver.nextPost();
    appReceiver.holdUntil(apiReached);
    await server.operations.grants.revokeGrant(ADMIN, grantId!);
    const report = await server.deliveries.sender.deliverDue();
    appReceiver.holdUntil(undefined);
    expect(report).toMatchObject({ retried: 0, failed: 0 });
    expect(appReceiver.accepted().map(grantOf)).toEqual([grantId]);
    expect(notesReceiver.accepted().map(grantOf)).toEqual([grantId]);
  });
});

describe('a receiver that stays down', () => {
  it('has its events dropped after SECURITY_EVENTS_DROP_AFTER: logged, counted, and shown as dropped', async () => {
    appReceiver.posts.length = 0;
    const dropped = await deliveriesCounted('dropped');
    const revoked = await grants(server, 2);
    appReceiver.answer(503);
    for (const grantId of revoked) await server.operations.grants.revokeGrant(ADMIN, grantId);
    await server.deliveries.sender.deliverDue();
    expect(appReceiver.posts).toHaveLength(1);

    now += 3_600_000;
    await server.deliveries.sender.deliverDue();
    // The first is given up, then the second, which had waited as long, after its one attempt.
    expect(appReceiver.posts.map((post) => grantOf(decodeJwt(post.body)))).toEqual([revoked[0], revoked[0], revoked[1]]);
    expect(server.logs.filter((line) => line.event === 'outbox.gave_up' && line.kind === 'security-event')).toHaveLength(2);
    expect(await deliveriesCounted('dropped')).toBe(dropped + 2);
    expect(await deliveryStatus(server.db, { type: 'app', clientId: app.clientId })).toMatchObject({ pending: 0, dropped: 2 });

    // Back up: what comes next is delivered; what was dropped is not sent again.
    appReceiver.answer(202);
    appReceiver.posts.length = 0;
    const [next] = await grants(server, 1);
    await server.operations.grants.revokeGrant(ADMIN, next!);
    await server.deliveries.sender.deliverDue();
    expect(appReceiver.accepted().map(grantOf)).toEqual([next]);
  });
});

describe('a receiver that refuses a SET for good (RFC 8935 §2.3)', () => {
  it('has that one dropped at once and logged, and gets the next', async () => {
    appReceiver.posts.length = 0;
    const [first, second] = await grants(server, 2);
    appReceiver.answer(400, { err: 'invalid_key', description: 'The key is not trusted.' });
    await server.operations.grants.revokeGrant(ADMIN, first!);
    await server.deliveries.sender.deliverDue();
    expect(server.logs.filter((line) => line.event === 'outbox.refused')).toEqual([expect.objectContaining({ kind: 'security-event', error: expect.stringContaining('invalid_key') })]);

    appReceiver.answer(202);
    await server.operations.grants.revokeGrant(ADMIN, second!);
    await server.deliveries.sender.deliverDue();
    expect(appReceiver.posts.map((post) => [post.status, grantOf(decodeJwt(post.body))])).toEqual([[400, first], [202, second]]);
  });
});

describe.skipIf(!postgres)('two instances on one database', () => {
  it('deliver every event exactly once between them, in order per receiver', async () => {
    const testDb = await createTestDatabase();
    const shared = await replicaEnvironment();
    const a = await startTestServer(shared, { testDb });
    const b = await startTestServer({ ...shared, PORT: '0' }, { testDb });
    const [appSide, apiSide] = await Promise.all([startSetReceiver(), startSetReceiver()]);
    try {
      await a.stores.resources.create({ identifier: NOTES, scope: 'notes:read', eventsEndpoint: apiSide.url });
      const shared_app = await registerApp(a, { scope: 'openid offline_access notes:read' });
      await written(a, () => a.stores.clients.update(shared_app.clientId, { eventsEndpoint: appSide.url }));
      const revoked = await grants(a, 6, shared_app);
      // Acts on either instance, in one order.
      for (const [index, grantId] of revoked.entries()) await (index % 2 ? b : a).operations.grants.revokeGrant(ADMIN, grantId);

      await Promise.all([a.deliveries.sender.deliverDue(), b.deliveries.sender.deliverDue(), a.deliveries.sender.deliverDue(), b.deliveries.sender.deliverDue()]);
      await Promise.all([a.deliveries.sender.deliverDue(), b.deliveries.sender.deliverDue()]);

      for (const receiver of [appSide, apiSide]) {
        expect(receiver.posts.every((post) => post.status === 202)).toBe(true);
        expect(receiver.accepted().map(grantOf)).toEqual(revoked);
        expect(new Set(receiver.accepted().map((set) => set.jti)).size).toBe(revoked.length);
      }
    } finally {
      await a.stop();
      await b.stop();
      await testDb.destroy();
      await appSide.close();
      await apiSide.close();
    }
  });
});
