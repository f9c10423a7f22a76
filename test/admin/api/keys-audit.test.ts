// Signing keys and the audit log through the admin API: keys listed and rotated; events filtered
// by actor, client, type and time, and paged newest first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { adminApi, type AdminApiClient } from './support.js';

let server: TestServer;
let api: AdminApiClient;

beforeAll(async () => {
  server = await startTestServer();
  api = await adminApi(server);
  // Some acts for the log to hold: people and clients made, disabled, enabled.
  for (let i = 0; i < 4; i += 1) {
    const person = await api.post('/users', { email: `logged${i}@example.test`, name: `Logged ${i}`, password: 'a long and unguessable passphrase' });
    await api.post(`/users/${person.body.id}/disable`);
    await api.post(`/users/${person.body.id}/enable`);
    await api.post('/clients', { name: `Logged app ${i}`, redirect_uris: ['https://logged.example.test/cb'] });
  }
});
afterAll(async () => { await server?.stop(); });

describe('signing keys', () => {
  it('are listed and rotated, and the rotation is in the audit log', async () => {
    const before = await api.get('/keys');
    expect(before.body.items.filter((k: { state: string }) => k.state === 'signing').map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    const rotated = await api.post('/keys/rotate');
    expect(rotated.status).toBe(200);
    // Published at once; signing after the publication delay (none in tests).
    expect(rotated.body.items.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(rotated.body.items.every((k: { state: string; published: boolean }) => ['next', 'signing'].includes(k.state) && k.published)).toBe(true);
    const after = await api.get('/keys');
    expect(after.body.items.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining(rotated.body.items.map((k: { kid: string }) => k.kid)));
    const [event] = (await api.get('/audit-events?type=keys.rotated')).body.items;
    expect(event).toMatchObject({ actor: { type: 'client', id: api.admin.clientId } });
  });
});

describe('the audit log', () => {
  it('filters by actor, client, type and time, and pages newest first, each event once', async () => {
    const mine = await api.get(`/audit-events?actor_id=${api.admin.clientId}&limit=200`);
    expect(mine.body.items.length).toBeGreaterThan(10);
    expect(mine.body.items.every((e: { actor: { id: string } }) => e.actor.id === api.admin.clientId)).toBe(true);
    // Newest first: by occurred_at (then id, for events of the same instant).
    const times = mine.body.items.map((e: { occurred_at: string }) => Date.parse(e.occurred_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: Array<{ id: string }>; next_cursor: string | null } } = await api.get(`/audit-events?actor_id=${api.admin.clientId}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...res.body.items.map((e) => e.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(paged).toEqual(mine.body.items.map((e: { id: string }) => e.id));

    const created = await api.get('/audit-events?type=client.created');
    expect(created.body.items.length).toBeGreaterThan(0);
    expect(created.body.items.every((e: { type: string }) => e.type === 'client.created')).toBe(true);
    const about = created.body.items[0].client_id;
    expect((await api.get(`/audit-events?client_id=${about}`)).body.items.every((e: { client_id: string }) => e.client_id === about)).toBe(true);

    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await api.get(`/audit-events?since=${encodeURIComponent(future)}`)).body.items).toEqual([]);
    expect((await api.get(`/audit-events?until=${encodeURIComponent('2000-01-01T00:00:00+01:00')}`)).body.items).toEqual([]);
    expect((await api.get(`/audit-events?since=2000-01-01T00:00:00Z&until=${encodeURIComponent(future)}&limit=1`)).body.items).toHaveLength(1);
  });

  it.each([['type=user.exploded'], ['since=yesterday'], ['until=2024-13-01T00:00:00Z'], ['cursor=abc'], ['limit=-1'], ['actor_id=']])('answers 400 to %s', async (query) => {
    const res = await api.get(`/audit-events?${query}`);
    expect(res.status, res.text).toBe(400);
  });
});
