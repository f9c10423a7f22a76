// Taking an account back cancels what a thief started on it: a new password (the person's own
// change, an administrator's reset) drops a pending address change and spends the link mailed to
// the new address, and disabling an account spends every mailed link it has, so none comes back
// to life when the account is enabled again. Read at the store: the link no longer opens.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OneTimeLinks, type LinkPurpose } from '../../src/links/store.js';
import { PASSWORD } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

let server: TestServer;
let links: OneTimeLinks;
const admin = { type: 'client', id: 'abandoned-changes-test' } as const;
const NEW_PASSWORD = `moss ${randomBytes(6).toString('hex')} lantern orbit`;

beforeAll(async () => {
  server = await startTestServer({ EMAIL_NOTIFICATIONS: 'false' });
  links = new OneTimeLinks(server.db);
});
afterAll(async () => {
  await server?.stop();
});

let counter = 0;
async function personAskingToMove() {
  counter += 1;
  const email = `mover${counter}.${Date.now()}@example.test`;
  const person = await server.stores.users.create({ email, name: `Mover ${counter}`, password: PASSWORD });
  const actor = { type: 'user', id: person.id } as const;
  await server.addresses.requestChange(actor, person.id, `thief${counter}@elsewhere.test`);
  // The link to the new address, as the mail carries it: issued here the same way, then checked.
  const { token } = await server.db.transaction((trx) => links.issue(trx, { purpose: 'verification', userId: person.id, email: `thief${counter}@elsewhere.test`, ttlSeconds: 3600 }));
  expect(await server.addresses.pendingChange(person)).toMatchObject({ to: `thief${counter}@elsewhere.test` });
  return { person, actor, token };
}

const opens = (token: string, purpose: LinkPurpose = 'verification') => links.find(token, purpose).then(Boolean);

describe('a pending address change', () => {
  it('is dropped, with its link, when the person changes their own password', async () => {
    const { person, actor, token } = await personAskingToMove();
    await server.selfService.changeOwnPassword(actor, PASSWORD, NEW_PASSWORD);
    expect(await server.addresses.pendingChange(person)).toBeUndefined();
    expect(await opens(token)).toBe(false);
    expect((await server.stores.users.findById(person.id))?.email).toBe(person.email);
  });

  it('is dropped, with its link, when an administrator sets a new password', async () => {
    const { person, token } = await personAskingToMove();
    await server.operations.people.resetPassword(admin, person.id, NEW_PASSWORD);
    expect(await server.addresses.pendingChange(person)).toBeUndefined();
    expect(await opens(token)).toBe(false);
  });
});

describe('disabling an account', () => {
  it('spends every link mailed for it, so enabling it again brings none back', async () => {
    const { person, token } = await personAskingToMove();
    const { token: recovery } = await server.db.transaction((trx) => links.issue(trx, { purpose: 'recovery', userId: person.id, email: person.email, ttlSeconds: 1800 }));
    await server.operations.people.disableUser(admin, person.id);
    await server.operations.people.enableUser(admin, person.id);
    expect(await opens(token)).toBe(false);
    expect(await opens(recovery, 'recovery')).toBe(false);
    expect(await server.addresses.pendingChange(person)).toBeUndefined();
  });
});
