// Registering where an app or an API receives security events, in every place an operator can:
// the admin API (its answers checked against the OpenAPI document), the console's forms, and the
// stores the CLI uses; https only in production, or the poll method (RFC 8936). The console's app
// and API pages say how a receiver's events stand: endpoint, last delivered, waiting, dropped, the
// last failure, or what waits for its poll.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientStore } from '../../src/clients/store.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { adminApi, segment, type AdminApiClient } from '../admin/api/support.js';
import { createAdmin, signInToConsole, submit, textOf } from '../admin/console/support.js';
import { createPerson, obtainTokens, registerApp } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startSetReceiver, type SetReceiver } from '../support/set-receiver.js';
import type { UserAgent } from '../support/user-agent.js';

let server: TestServer;
let api: AdminApiClient;
let agent: UserAgent;
let receiver: SetReceiver;
let now = Date.now();

beforeAll(async () => {
  server = await startTestServer({ SECURITY_EVENTS_DROP_AFTER: '60' }, { now: () => now });
  api = await adminApi(server);
  ({ agent } = await signInToConsole(server, await createAdmin(server)));
  receiver = await startSetReceiver();
});
afterAll(async () => {
  await server.stop();
  await receiver.close();
});

describe('the admin API', () => {
  it('registers, shows, changes and removes an app\'s and an API\'s events endpoint', async () => {
    const created = await api.post('/clients', { name: 'Receiving App', redirect_uris: ['https://app.example.test/cb'], events_endpoint: 'https://app.example.test/events' });
    expect(created.status).toBe(201);
    expect(created.body.events_endpoint).toBe('https://app.example.test/events');
    const changed = await api.patch(`/clients/${segment(created.body.client_id)}`, { events_endpoint: 'https://app.example.test/v2/events' });
    expect(changed.body.events_endpoint).toBe('https://app.example.test/v2/events');
    const removed = await api.patch(`/clients/${segment(created.body.client_id)}`, { events_endpoint: null });
    expect(removed.body.events_endpoint).toBeNull();

    const apiCreated = await api.post('/apis', { identifier: 'https://docs.example.test', scopes: ['docs:read'], events_endpoint: 'https://docs.example.test/events' });
    expect(apiCreated.status).toBe(201);
    expect((await api.get(`/apis/${segment('https://docs.example.test')}`)).body.events_endpoint).toBe('https://docs.example.test/events');
    expect((await api.patch(`/apis/${segment('https://docs.example.test')}`, { events_endpoint: null })).body.events_endpoint).toBeNull();
  });

  it('registers an app and an API that poll for their events (RFC 8936), but not an app without a secret', async () => {
    const app = await api.post('/clients', { name: 'Polling App', redirect_uris: ['https://poll.example.test/cb'], events_endpoint: 'urn:ietf:rfc:8936' });
    expect(app.status).toBe(201);
    expect(app.body.events_endpoint).toBe('urn:ietf:rfc:8936');
    const polling = await api.post('/apis', { identifier: 'https://polled.example.test', scopes: ['polled:read'], events_endpoint: 'urn:ietf:rfc:8936' });
    expect(polling.status).toBe(201);
    expect(polling.body.events_endpoint).toBe('urn:ietf:rfc:8936');

    const spa = await api.post('/clients', { name: 'Browser App', public: true, redirect_uris: ['https://spa.example.test/cb'], events_endpoint: 'urn:ietf:rfc:8936' });
    expect(spa.status).toBe(400);
    expect(spa.text).toContain('without a client secret cannot poll');
  });

  it('refuses what cannot be an events endpoint with a clear error', async () => {
    const refused = await api.post('/clients', { name: 'Bad', redirect_uris: ['https://app.example.test/cb'], events_endpoint: 'ftp://app.example.test/events' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('events endpoint');
  });
});

describe('in production', () => {
  it('an events endpoint must be https; elsewhere http is allowed for development', async () => {
    const production = { httpsOnly: true };
    const clients = new ClientStore(server.db, undefined, production);
    await expect(clients.create({ name: 'Plain', redirectUris: ['https://app.example.test/cb'], eventsEndpoint: 'http://app.example.test/events' }))
      .rejects.toThrow('https URL in production');
    await expect(new ResourceServerStore(server.db, production).create({ identifier: 'https://plain.example.test', scope: 'plain:read', eventsEndpoint: 'http://plain.example.test/events' }))
      .rejects.toThrow('https URL in production');
    const { client } = await clients.create({ name: 'Secure', redirectUris: ['https://app.example.test/cb'], eventsEndpoint: 'https://app.example.test/events' });
    expect(client.eventsEndpoint).toBe('https://app.example.test/events');
  });
});

describe('the console', () => {
  it('sets an app\'s events endpoint, and its page shows deliveries, failures and what was dropped', async () => {
    await server.stores.resources.create({ identifier: 'https://notes.example.test', scope: 'notes:read' });
    const app = await registerApp(server, { scope: 'openid offline_access notes:read' });
    const href = `${server.issuer}/admin/apps/${encodeURIComponent(app.clientId)}`;
    const before = await agent.request(href);
    expect(textOf(before.body)).toContain('receives no security events');

    const saved = await submit(agent, href, /\/edit$/, { form: 'edit', name: 'Example App', scope: 'openid offline_access notes:read', redirectUris: app.redirectUri, eventsEndpoint: receiver.url });
    expect(saved.status, saved.body.slice(0, 300)).toBe(303);
    expect((await server.stores.clients.find(app.clientId))?.eventsEndpoint).toBe(receiver.url);

    const person = await createPerson(server);
    const revoke = async () => {
      const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access notes:read', resource: 'https://notes.example.test' });
      await server.operations.grants.revokeGrant({ type: 'client', id: 'automation' }, decodeJwt(tokens.access_token).grant_id as string);
    };
    await revoke();
    await server.deliveries.sender.deliverDue();
    receiver.answer(503);
    await revoke();
    await server.deliveries.sender.deliverDue();
    let page = textOf((await agent.request(href)).body);
    expect(page).toMatch(/Events endpoint\s+http:\/\/127\.0\.0\.1:\d+\/events/);
    expect(page).toMatch(/Waiting\s+1/);
    expect(page).toMatch(/Last failure\s+.*503/);
    expect(page).not.toContain('Nothing delivered lately');

    now += 61_000;
    await server.deliveries.sender.deliverDue();
    page = textOf((await agent.request(href)).body);
    expect(page).toMatch(/Waiting\s+0/);
    expect(page).toMatch(/Dropped\s+1/);
  });

  it('makes an API poll for its events, and its page shows what waits for its poll, in German too', async () => {
    await server.stores.resources.create({ identifier: 'https://polled-notes.example.test', scope: 'pnotes:read' });
    const href = `${server.issuer}/admin/apis/${encodeURIComponent('https://polled-notes.example.test')}`;
    const saved = await submit(agent, href, /\/edit$/, { form: 'edit', name: 'Polled notes', scopes: 'pnotes:read', accessTokenTtl: '', eventsEndpoint: 'urn:ietf:rfc:8936' });
    expect(saved.status, saved.body.slice(0, 300)).toBe(303);
    const app = await registerApp(server, { scope: 'openid offline_access pnotes:read' });
    const { tokens } = await obtainTokens(server, app, await createPerson(server), { scope: 'openid offline_access pnotes:read', resource: 'https://polled-notes.example.test' });
    await server.operations.grants.revokeGrant({ type: 'client', id: 'automation' }, decodeJwt(tokens.access_token).grant_id as string);

    const page = textOf((await agent.request(href)).body);
    expect(page).toContain('Polled notes polls for its security events');
    expect(page).toContain('/ssf/poll');
    expect(page).toMatch(/Delivery\s+Polled by the receiver \(\s*urn:ietf:rfc:8936\s*\)/);
    expect(page).toMatch(/Waiting\s+1/);
    expect(page).toMatch(/Oldest waiting since\s+\d{4}-\d{2}-\d{2}/);
    const german = textOf((await agent.request(href, { headers: { 'accept-language': 'de' } })).body);
    expect(german).toContain('Polled notes ruft seine Sicherheitsereignisse');
    expect(german).toMatch(/Wartend\s+1/);
  });

  it('sets an API\'s events endpoint', async () => {
    await server.stores.resources.create({ identifier: 'https://files.example.test', scope: 'files:read' });
    const href = `${server.issuer}/admin/apis/${encodeURIComponent('https://files.example.test')}`;
    const saved = await submit(agent, href, /\/edit$/, { form: 'edit', name: 'Files', scopes: 'files:read', accessTokenTtl: '', eventsEndpoint: 'https://files.example.test/events' });
    expect(saved.status, saved.body.slice(0, 300)).toBe(303);
    expect(textOf((await agent.request(href)).body)).toMatch(/Events endpoint\s+https:\/\/files\.example\.test\/events/);
  });
});
