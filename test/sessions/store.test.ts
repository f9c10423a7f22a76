import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { SessionStore } from '../../src/sessions/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertGrant, insertSession, insertToken, modelsOf } from '../support/oidc-records.js';

let testDb: TestDatabase;
let sessions: SessionStore;

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

beforeAll(async () => {
  testDb = await createTestDatabase();
  sessions = new SessionStore(testDb.db);
});

afterAll(async () => {
  await testDb?.destroy();
});

describe('a person\'s sessions', () => {
  it('lists live sessions newest first, by handle, with the device, the activity and the apps signed in to', async () => {
    const person = 'lister';
    const laptop = await insertSession(testDb.db, {
      accountId: person, createdAt: minutesAgo(60), lastActiveAt: minutesAgo(2), userAgent: 'Firefox on Linux', ip: '192.0.2.1',
      authorizations: { 'app-1': 'grant-1', 'app-2': 'grant-2' },
    });
    const phone = await insertSession(testDb.db, { accountId: person, createdAt: minutesAgo(10) });
    await insertSession(testDb.db, { accountId: person, createdAt: minutesAgo(5), expiresAt: minutesAgo(1) });
    await insertSession(testDb.db, { accountId: 'someone else' });

    const page = await sessions.listByUser(person);
    expect(page.items.map((s) => s.id)).toEqual([phone.handle, laptop.handle]);
    expect(page.items[1]).toMatchObject({ id: digest(laptop.uid), userId: person, userAgent: 'Firefox on Linux', ip: '192.0.2.1', clientIds: ['app-1', 'app-2'] });
    expect(Math.abs(page.items[1]!.lastActiveAt.getTime() - minutesAgo(2).getTime())).toBeLessThan(5_000);
    // Never saved by a request since the migration: its creation is its last activity.
    expect(page.items[0]!.lastActiveAt.getTime()).toBe(page.items[0]!.createdAt.getTime());
  });

  it('hands out cursors that name sessions by handle, never by the digest of their cookie', async () => {
    const person = 'cursor';
    const all = [];
    for (let i = 0; i < 5; i++) all.push(await insertSession(testDb.db, { accountId: person, createdAt: minutesAgo(i) }));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await sessions.listByUser(person, { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((s) => s.id));
      cursor = page.nextCursor ?? undefined;
      if (cursor) {
        const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
        for (const session of all) expect(decoded).not.toContain(digest(session.id));
      }
    } while (cursor);
    expect(seen).toEqual(all.map((s) => s.handle));
  });

  it('finds a session only for the person it belongs to', async () => {
    const mine = await insertSession(testDb.db, { accountId: 'owner' });
    expect(await sessions.findByHandle('owner', mine.handle)).toMatchObject({ id: mine.handle });
    expect(await sessions.findByHandle('intruder', mine.handle)).toBeUndefined();
    expect(await sessions.findByHandle('owner', digest(mine.id))).toBeUndefined();
  });
});

describe('ending sessions', () => {
  it('ends one session and revokes the grants of the apps signed in to through it, no others', async () => {
    const person = 'ender';
    const viaSession = await insertGrant(testDb.db, { accountId: person, clientId: 'app-1' });
    await insertToken(testDb.db, { model: 'RefreshToken', grantId: viaSession, accountId: person, clientId: 'app-1' });
    const elsewhere = await insertGrant(testDb.db, { accountId: person, clientId: 'app-1' });
    const session = await insertSession(testDb.db, { accountId: person, authorizations: { 'app-1': viaSession } });
    const kept = await insertSession(testDb.db, { accountId: person, authorizations: { 'app-1': elsewhere } });

    expect(await sessions.end('someone else', session.handle)).toBeUndefined();
    expect(await sessions.end(person, session.handle)).toEqual({ sessions: 1, grants: 1, signedOut: [{ clientId: 'app-1', sid: expect.any(String) }] });
    expect(await modelsOf(testDb.db, { grant_id: viaSession })).toEqual([]);
    expect(await modelsOf(testDb.db, { grant_id: elsewhere })).toEqual(['Grant']);
    expect((await sessions.listByUser(person)).items.map((s) => s.id)).toEqual([kept.handle]);
    expect(await sessions.end(person, session.handle)).toBeUndefined();
  });

  it('ends every session of a person but the one they are using', async () => {
    const person = 'all-but-one';
    const grantIds = [await insertGrant(testDb.db, { accountId: person, clientId: 'a' }), await insertGrant(testDb.db, { accountId: person, clientId: 'b' })];
    await insertSession(testDb.db, { accountId: person, authorizations: { a: grantIds[0]! } });
    await insertSession(testDb.db, { accountId: person, authorizations: { b: grantIds[1]! } });
    const current = await insertSession(testDb.db, { accountId: person });
    const bystander = await insertSession(testDb.db, { accountId: 'bystander' });

    expect(await sessions.endAll(person, { except: current.handle })).toMatchObject({ sessions: 2, grants: 2 });
    expect((await sessions.listByUser(person)).items.map((s) => s.id)).toEqual([current.handle]);
    expect(await sessions.endAll(person)).toEqual({ sessions: 1, grants: 0, signedOut: [] });
    expect(await sessions.findByHandle('bystander', bystander.handle)).toBeDefined();
  });
});
