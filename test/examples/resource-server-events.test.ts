// The example API (examples/resource-server) with its events endpoint registered: Gatehouse pushes
// each revocation, and the API — which verifies tokens locally — refuses the revoked grant's token
// on its very next call, ordinary or sensitive, without asking Gatehouse and without waiting for
// the token to expire; a cached introspection answer about it is dropped. SETs that do not verify
// are refused with an RFC 8935 error, and a SET sent twice is acted on once. An API that polls
// for its events (RFC 8936) instead refuses the token as soon as its held poll brings the SET.
import type { Server } from 'node:http';
import { once } from 'node:events';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer } from '../../examples/resource-server/api.js';
import type { Actor } from '../../src/audit/events.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { written } from '../support/changes.js';

const NOTES_API = 'https://notes.example.test';
const SCOPES = 'openid offline_access notebook:read notebook:write';
const ADMIN: Actor = { type: 'client', id: 'automation' };

let server: TestServer;
let app: App;
let api: { url: string; errors: unknown[]; close(): Promise<void> };
let http: Server;

/** Resolves with the status the API answered its next pushed SET with, once it has answered. */
function nextEventHandled(): Promise<number> {
  return new Promise((resolve) => {
    const onRequest = (req: { url?: string }, res: { statusCode: number; once(event: 'finish', listener: () => void): void }) => {
      if (req.url !== '/security-events') return;
      http.off('request', onRequest);
      res.once('finish', () => resolve(res.statusCode));
    };
    http.on('request', onRequest);
  });
}

beforeAll(async () => {
  server = await startTestServer();
  const notes = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notebook:read notebook:write', isDefault: true });
  // A minute of cached introspection answers: without events, a revocation would go unseen that long.
  const koa = createResourceServer({ issuer: server.issuer, audience: NOTES_API, introspection: { clientId: notes.clientId, clientSecret: notes.clientSecret! }, cacheSeconds: 60 });
  const errors: unknown[] = [];
  koa.on('error', (error: unknown) => errors.push(error));
  http = koa.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const { port } = http.address() as { port: number };
  api = { url: `http://127.0.0.1:${port}`, errors, close: () => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()); }) };
  await written(server, () => server.stores.resources.update(NOTES_API, { eventsEndpoint: `${api.url}/security-events` }));
  app = await registerApp(server, { scope: SCOPES });
});
afterAll(async () => {
  await server.stop();
  await api.close();
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function introspections(): number {
  return server.logs.filter((line) => line.msg === 'request' && line.path === '/token/introspection').length;
}

describe('pushed revocation', () => {
  it('an admin revokes a grant: the API refuses its JWT on the next call, and another grant\'s token still works', async () => {
    const { tokens } = await obtainTokens(server, app, await createPerson(server), { scope: SCOPES });
    const { tokens: other } = await obtainTokens(server, app, await createPerson(server), { scope: SCOPES });
    const created = await call('POST', '/notes', tokens.access_token, { text: 'first' });
    expect(created.status).toBe(201);
    // A sensitive call: introspected once, then answered from the API's cache.
    expect((await call('DELETE', `/notes/${created.body.id as string}`, tokens.access_token)).status).toBe(204);
    const second = await call('POST', '/notes', tokens.access_token, { text: 'second' });
    const asked = introspections();

    await server.operations.grants.revokeGrant(ADMIN, decodeJwt(tokens.access_token).grant_id as string);
    const report = await server.deliveries.sender.deliverDue();
    expect(report.delivered).toBeGreaterThanOrEqual(1);

    const ordinary = await call('GET', '/notes', tokens.access_token);
    expect(ordinary).toMatchObject({ status: 401, body: { error: 'invalid_token', error_description: 'the access token was revoked' } });
    expect((await call('DELETE', `/notes/${second.body.id as string}`, tokens.access_token)).status).toBe(401);
    // Refused locally: Gatehouse was not asked.
    expect(introspections()).toBe(asked);
    expect((await call('GET', '/notes', other.access_token)).status).toBe(200);
    expect(api.errors).toEqual([]);
  });

  it('a disabled person: every token issued to them is refused', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPES });
    expect((await call('GET', '/notes', tokens.access_token)).status).toBe(200);
    await server.operations.people.disableUser(ADMIN, person.id);
    await server.deliveries.sender.deliverDue();
    expect((await call('GET', '/notes', tokens.access_token)).status).toBe(401);
  });
});

describe('a deleted person', () => {
  it('has every token refused once their grants are revoked and their account purged', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPES });
    expect((await call('GET', '/notes', tokens.access_token)).status).toBe(200);
    await server.operations.people.deleteUser(ADMIN, person.id);
    expect((await server.deliveries.sender.deliverDue()).delivered).toBeGreaterThanOrEqual(2);
    expect((await call('GET', '/notes', tokens.access_token)).status).toBe(401);
    expect(api.errors).toEqual([]);
  });
});

describe('the events endpoint', () => {
  it('refuses what is not a SET from Gatehouse for this API with an RFC 8935 error', async () => {
    const post = (body: string, type = 'application/secevent+jwt') => fetch(`${api.url}/security-events`, { method: 'POST', headers: { 'content-type': type }, body });
    const notJwt = await post('not a jwt');
    expect(notJwt.status).toBe(400);
    expect(await notJwt.json()).toMatchObject({ err: 'invalid_key' });
    // An access token is signed by the same keys, but it is not a SET.
    const { tokens } = await obtainTokens(server, app, await createPerson(server), { scope: SCOPES });
    expect((await post(tokens.access_token)).status).toBe(400);
    const wrongType = await post('{}', 'application/json');
    expect(await wrongType.json()).toMatchObject({ err: 'invalid_request' });
  });
});

describe('an API that polls for its events (RFC 8936) instead', () => {
  it('refuses a revoked grant\'s token as soon as its held poll brings the SET, and acknowledges it', async () => {
    // A Gatehouse of its own: scope names are unique across APIs, and this one uses the notes API's.
    const gatehouse = await startTestServer();
    const identifier = 'https://polled-notes.example.test';
    const registered = await gatehouse.stores.resources.create({ identifier, scope: 'notebook:read notebook:write', eventsEndpoint: 'urn:ietf:rfc:8936' });
    const firstPoll = once(gatehouse.securityEventPolls, 'held');
    const polling = createResourceServer({ issuer: gatehouse.issuer, audience: identifier, introspection: { clientId: registered.clientId, clientSecret: registered.clientSecret! }, pollEvents: true });
    const errors: unknown[] = [];
    polling.on('error', (error: unknown) => errors.push(error));
    const listening = polling.listen(0, '127.0.0.1');
    try {
      await once(listening, 'listening');
      // Its first poll, held open at Gatehouse: the API is listening for events.
      await firstPoll;
      const { port } = listening.address() as { port: number };
      const scopes = 'openid offline_access notebook:read';
      const theApp = await registerApp(gatehouse, { scope: scopes });
      const { tokens } = await obtainTokens(gatehouse, theApp, await createPerson(gatehouse), { scope: scopes, resource: identifier });
      const notes = (token: string) => fetch(`http://127.0.0.1:${port}/notes`, { headers: { authorization: `Bearer ${token}` } });
      expect((await notes(tokens.access_token)).status).toBe(200);

      // Its next poll is sent once it has acted on what the held one brought.
      const actedOn = once(gatehouse.securityEventPolls, 'held');
      await gatehouse.operations.grants.revokeGrant(ADMIN, decodeJwt(tokens.access_token).grant_id as string);
      await actedOn;
      const refused = await notes(tokens.access_token);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ error: 'invalid_token', error_description: 'the access token was revoked' });
      // That poll acknowledged it: nothing waits for the API at Gatehouse.
      expect((await gatehouse.operations.apis.eventDeliveries(identifier)).polled.waiting).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await polling.stopPollingEvents();
      listening.closeAllConnections();
      await new Promise<void>((resolve) => { listening.close(() => resolve()); });
      await gatehouse.stop();
    }
  });
});

// Last: a sender once stopped delivers no more, and the tests above call its pass directly.
describe('with the sender running, as a started server runs it', () => {
  it('the act\'s commit wakes the sender: the API has the event, and refuses the token, without anyone asking', async () => {
    const { tokens } = await obtainTokens(server, app, await createPerson(server), { scope: SCOPES });
    expect((await call('GET', '/notes', tokens.access_token)).status).toBe(200);
    server.deliveries.start();
    try {
      const handled = nextEventHandled();
      await server.operations.grants.revokeGrant(ADMIN, decodeJwt(tokens.access_token).grant_id as string);
      expect(await handled).toBe(202);
      expect((await call('GET', '/notes', tokens.access_token)).status).toBe(401);
    } finally {
      await server.deliveries.sender.stop();
    }
  });
});
