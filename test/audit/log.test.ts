import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { isGatehouseError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
let audit: AuditLog;

beforeAll(async () => {
  testDb = await createTestDatabase();
  audit = new AuditLog(testDb.db);
});

afterAll(async () => {
  await testDb?.destroy();
});

describe('the audit log', () => {
  it('keeps who did what to whom, newest first, a page at a time, filtered', async () => {
    const admin = { type: 'user' as const, id: 'admin-1', ip: '192.0.2.7' };
    for (let i = 0; i < 5; i++) await audit.append({ type: 'user.disabled', actor: admin, userId: `person-${i}`, details: { i } });
    await audit.append({ type: 'client.created', actor: { type: 'client', id: 'automation' }, clientId: 'app-1' });

    const first = await audit.list({}, { limit: 4 });
    expect(first.items[0]).toMatchObject({ type: 'client.created', actor: { type: 'client', id: 'automation' }, clientId: 'app-1', ip: null });
    const second = await audit.list({}, { limit: 4, cursor: first.nextCursor! });
    expect([...first.items, ...second.items].map((e) => e.details.i)).toEqual([undefined, 4, 3, 2, 1, 0]);
    expect(second.nextCursor).toBeNull();

    const byActor = await audit.list({ actorId: 'admin-1', userId: 'person-3' });
    expect(byActor.items).toHaveLength(1);
    expect(byActor.items[0]).toMatchObject({ type: 'user.disabled', userId: 'person-3', ip: '192.0.2.7', actor: { type: 'user', id: 'admin-1' } });
    expect((await audit.list({ type: 'client.created' })).items).toHaveLength(1);
    await expect(audit.list({}, { cursor: 'not a cursor' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
  });

  it('orders by when an event happened, to the microsecond, then by id, and pages through ties each event once', async () => {
    // Written out of order (an event's time is its transaction's start), several in one millisecond
    // and two at the very same instant: the order is (occurred_at desc, id desc), not id.
    const at = ['2026-03-01T10:00:00.000300Z', '2026-03-01T10:00:00.000100Z', '2026-03-01T10:00:00.000300Z', '2026-03-01T10:00:00.000200Z', '2026-02-28T09:00:00Z'];
    const ids: string[] = [];
    for (const [i, occurred] of at.entries()) {
      const [row] = await testDb.db('audit_events')
        .insert({ occurred_at: occurred, type: 'user.enabled', actor_type: 'system', user_id: 'ordered-person', details: JSON.stringify({ i }) })
        .returning('id');
      ids.push(String(row.id));
    }
    const expected = [ids[2], ids[0], ids[3], ids[1], ids[4]];
    expect((await audit.list({ userId: 'ordered-person' })).items.map((e) => e.id)).toEqual(expected);

    for (const limit of [1, 2, 3]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await audit.list({ userId: 'ordered-person' }, { limit, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((e) => e.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen, `pages of ${limit}`).toEqual(expected);
    }
    // A window keeps the same order and cursor.
    const window = { userId: 'ordered-person', since: new Date('2026-03-01T00:00:00Z'), until: new Date('2026-03-02T00:00:00Z') };
    const first = await audit.list(window, { limit: 2 });
    expect(first.items.map((e) => e.id)).toEqual(expected.slice(0, 2));
    expect((await audit.list(window, { cursor: first.nextCursor! })).items.map((e) => e.id)).toEqual(expected.slice(2, 4));
  });

  it.each([
    ['a bare event id (the cursor before it carried the time)', '12345'],
    ['garbage', "1' or 1=1"],
    ['a cursor of another listing', Buffer.from(JSON.stringify(['2026-03-01T10:00:00.000300Z', 'not-an-id'])).toString('base64url')],
    ['a time cut to milliseconds', Buffer.from(JSON.stringify(['2026-03-01T10:00:00.000Z', '1'])).toString('base64url')],
    ['an id too long for a bigint', Buffer.from(JSON.stringify(['2026-03-01T10:00:00.000300Z', '9'.repeat(19)])).toString('base64url')],
  ])('refuses %s as a cursor: invalid_input', async (_name, cursor) => {
    await expect(audit.list({}, { cursor })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
  });

  it('is append-only: the database refuses to change or delete an entry', async () => {
    await audit.append({ type: 'keys.rotated', actor: { type: 'system', id: null } });
    const count = async () => (await testDb.db('audit_events').count<{ count: number }[]>('* as count'))[0]!.count;
    const before = await count();
    await expect(testDb.db('audit_events').update({ type: 'user.created' })).rejects.toThrow(/append-only/);
    await expect(testDb.db('audit_events').where({ type: 'keys.rotated' }).delete()).rejects.toThrow(/append-only/);
    expect(await count()).toBe(before);
    expect((await audit.list({ type: 'keys.rotated' })).items).toHaveLength(1);
  });
});
