// A person's sessions and grants, and an app's grants, as the admin API lists them: every row once
// across pages, newest first; and one person's objects are never reached through another's path.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertGrant, insertSession } from '../../support/oidc-records.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { adminApi, type AdminApiClient } from './support.js';

const PASSWORD = 'a long and unguessable passphrase';
const NOTES_API = 'https://notes.example.test';

let server: TestServer;
let api: AdminApiClient;
let appId: string;

beforeAll(async () => {
  server = await startTestServer();
  api = await adminApi(server);
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read' });
  appId = (await server.stores.clients.create({ name: 'Notes app', redirectUris: ['https://notes.example.test/cb'] })).client.clientId;
});
afterAll(async () => { await server?.stop(); });

let people = 0;
async function person(): Promise<string> {
  people += 1;
  return (await server.stores.users.create({ email: `p${people}@example.test`, name: `P ${people}`, password: PASSWORD })).id;
}

/** Every item of a listing, page by page; asserts each page's size and that the cursor ends. */
async function everyItem(path: string, limit: number): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: { items: Array<Record<string, unknown>>; next_cursor: string | null } } = await api.get(`${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return items;
}

describe('a person\'s sessions', () => {
  it('show the device, the address, when each began and was last active, and the apps signed in through it', async () => {
    const userId = await person();
    const grantId = await insertGrant(server.db, { accountId: userId, clientId: appId });
    const lastActiveAt = new Date(Date.now() - 60_000);
    const session = await insertSession(server.db, { accountId: userId, authorizations: { [appId]: grantId }, userAgent: 'Firefox on Linux', ip: '198.51.100.7', lastActiveAt });
    const res = await api.get(`/users/${userId}/sessions`);
    expect(res.body).toEqual({
      items: [{
        id: session.handle, user_id: userId, user_agent: 'Firefox on Linux', ip: '198.51.100.7',
        created_at: expect.any(String), last_active_at: lastActiveAt.toISOString(), expires_at: expect.any(String), client_ids: [appId],
      }],
      next_cursor: null,
    });
    // Never the cookie, nor its digest.
    expect(res.text).not.toContain(session.id);
  });

  it('page newest first, each session exactly once, though many began in the same instant', async () => {
    const userId = await person();
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < 450; i += 1) {
      await insertSession(server.db, { accountId: userId, createdAt: new Date(base + Math.floor(i / 3) * 1000) });
    }
    const sessions = await everyItem(`/users/${userId}/sessions`, 100);
    expect(sessions).toHaveLength(450);
    expect(new Set(sessions.map((s) => s.id)).size).toBe(450);
    const times = sessions.map((s) => Date.parse(String(s.created_at)));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });
});

describe('grants', () => {
  it('show the app, the scopes, the APIs with their names, when given and when last used', async () => {
    const userId = await person();
    const grantId = await insertGrant(server.db, { accountId: userId, clientId: appId, scope: 'openid email', resources: { [NOTES_API]: 'notes:read' } });
    const res = await api.get(`/users/${userId}/grants`);
    expect(res.body.items).toEqual([{
      id: grantId, user_id: userId, client_id: appId, client_name: 'Notes app', scopes: ['openid', 'email'],
      apis: [{ identifier: NOTES_API, name: 'Notes', scopes: ['notes:read'] }],
      created_at: expect.any(String), last_used_at: null, expires_at: expect.any(String),
    }]);
    expect((await api.get(`/grants/${grantId}`)).body).toEqual(res.body.items[0]);
  });

  it('page newest first by person and by app, each grant exactly once, over a thousand of them', async () => {
    const userId = await person();
    const otherApp = (await server.stores.clients.create({ name: 'Other', redirectUris: ['https://other.example.test/cb'] })).client.clientId;
    const base = Date.now() - 7_200_000;
    const rows = [];
    for (let i = 0; i < 1_200; i += 1) {
      rows.push(insertGrant(server.db, { accountId: userId, clientId: i % 2 ? appId : otherApp, createdAt: new Date(base + Math.floor(i / 4) * 1000) }));
      if (rows.length === 50) await Promise.all(rows.splice(0));
    }
    await Promise.all(rows);
    const byPerson = await everyItem(`/users/${userId}/grants`, 200);
    expect(byPerson).toHaveLength(1_200);
    expect(new Set(byPerson.map((g) => g.id)).size).toBe(1_200);
    const times = byPerson.map((g) => Date.parse(String(g.created_at)));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const byApp = await everyItem(`/clients/${otherApp}/grants`, 77);
    expect(byApp).toHaveLength(600);
    expect(new Set(byApp.map((g) => g.id)).size).toBe(600);
    expect(byApp.every((g) => g.client_id === otherApp)).toBe(true);
  });
});

describe('one person\'s objects through another person\'s path', () => {
  let alice: string;
  let bob: string;
  let bobsSession: { handle: string };
  let bobsGrant: string;

  beforeAll(async () => {
    alice = await person();
    bob = await person();
    bobsGrant = await insertGrant(server.db, { accountId: bob, clientId: appId });
    bobsSession = await insertSession(server.db, { accountId: bob, authorizations: { [appId]: bobsGrant } });
    await insertSession(server.db, { accountId: alice });
  });

  it('are not listed', async () => {
    const sessions = await api.get(`/users/${alice}/sessions`);
    expect(sessions.body.items).toHaveLength(1);
    expect(sessions.body.items[0].user_id).toBe(alice);
    expect((await api.get(`/users/${alice}/grants`)).body.items).toEqual([]);
  });

  it('are not found: ending Bob\'s session or revoking his grants through Alice answers 404 and ends nothing', async () => {
    const endSession = await api.delete(`/users/${alice}/sessions/${bobsSession.handle}`);
    expect(endSession.status).toBe(404);
    expect(endSession.body.error).toBe('not_found');
    const revoke = await api.delete(`/users/${alice}/grants?client_id=${appId}`);
    expect(revoke.status).toBe(404);
    expect((await api.get(`/users/${bob}/sessions`)).body.items.map((s: { id: string }) => s.id)).toEqual([bobsSession.handle]);
    expect((await api.get(`/users/${bob}/grants`)).body.items.map((g: { id: string }) => g.id)).toEqual([bobsGrant]);
  });

  it('nor through a person who does not exist, or an id that cannot be one', async () => {
    for (const who of [randomUUID(), 'bob', bob.toUpperCase().replace(/-/g, '')]) {
      expect((await api.get(`/users/${who}/sessions`)).status, who).toBe(404);
      expect((await api.get(`/users/${who}/grants`)).status, who).toBe(404);
      expect((await api.delete(`/users/${who}/sessions`)).status, who).toBe(404);
      expect((await api.delete(`/users/${who}/sessions/${bobsSession.handle}`)).status, who).toBe(404);
      expect((await api.delete(`/users/${who}/grants?client_id=${appId}`)).status, who).toBe(404);
    }
    expect((await api.get('/clients/no-such-app/grants')).status).toBe(404);
    expect((await api.delete('/clients/no-such-app/grants')).status).toBe(404);
    expect((await api.get('/grants/no-such-grant')).status).toBe(404);
    expect((await api.get('/grants/not a grant')).status).toBe(404);
    expect((await api.delete(`/users/${bob}/sessions/not%20a%20session`)).status).toBe(404);
    expect((await api.get(`/users/${bob}/sessions`)).body.items).toHaveLength(1);
  });
});
