// Gatehouse never loses its last administrator through an admin's act: disabling or deleting the
// last active one is refused, from any surface (the console, the admin API and the CLI share these
// operations), and two admins removing each other at once leave one of them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { isGatehouseError } from '../../src/errors.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const AUTOMATION: Actor = { type: 'client', id: 'automation' };
const PASSWORD = 'correct horse battery staple';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server?.stop(); });

const activeAdmins = async () => Number((await server.testDb.db('users').where({ is_admin: true }).whereNull('disabled_at').whereNotNull('activated_at').count<Array<{ count: string | number }>>('* as count'))[0]!.count);
const admin = () => server.operations.people.createUser(AUTOMATION, { email: `${randomUUID()}@example.test`, name: 'Admin', password: PASSWORD, isAdmin: true });
const refusedAsLast = (error: unknown) => (isGatehouseError(error, 'conflict') && /last active administrator/.test(error.message) ? 'last' : String(error));

describe('the last administrator', () => {
  it('cannot be disabled or deleted; with another one active, they can', async () => {
    await server.testDb.db('users').where({ is_admin: true }).delete();
    const first = await admin();
    const second = await admin();
    await server.operations.people.disableUser(AUTOMATION, first.id);
    expect(await server.operations.people.disableUser(AUTOMATION, second.id).then(() => 'disabled', refusedAsLast)).toBe('last');
    expect(await server.operations.people.deleteUser(AUTOMATION, second.id).then(() => 'deleted', refusedAsLast)).toBe('last');
    expect(await activeAdmins()).toBe(1);
    // Nothing of a refused act is recorded.
    expect(await server.testDb.db('audit_events').where({ user_id: second.id }).whereIn('type', ['user.disabled', 'user.deleted'])).toEqual([]);

    await server.operations.people.enableUser(AUTOMATION, first.id);
    await server.operations.people.deleteUser(AUTOMATION, second.id);
    expect(await activeAdmins()).toBe(1);
  });

  it('is kept when two admins delete each other at once', async () => {
    await server.testDb.db('users').where({ is_admin: true }).delete();
    const [one, other] = [await admin(), await admin()];
    const outcomes = await Promise.all([
      server.operations.people.deleteUser({ type: 'user', id: one.id }, other.id).then(() => 'deleted', refusedAsLast),
      server.operations.people.deleteUser({ type: 'user', id: other.id }, one.id).then(() => 'deleted', refusedAsLast),
    ]);
    expect(outcomes.sort()).toEqual(['deleted', 'last']);
    expect(await activeAdmins()).toBe(1);
  });
});
