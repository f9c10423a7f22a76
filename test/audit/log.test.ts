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
