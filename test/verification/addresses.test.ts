// The address acts themselves (src/verification/addresses.ts) on PostgreSQL and on the embedded
// PGlite `npm start` runs on, with the real outbox: the mail each act writes is opened from its
// sealed row, as the sender would open it. Two uses of one link race and exactly one wins; an
// address taken between the request and the link is refused at that moment; nothing verified
// or moved is left behind by a refusal.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { isGatehouseError } from '../../src/errors.js';
import { OneTimeLinks } from '../../src/links/store.js';
import { asMailMessage } from '../../src/email/message.js';
import { openPayload, Outbox, payloadKey } from '../../src/outbox/outbox.js';
import { OUTBOX_TABLE } from '../../src/outbox/store.js';
import { PasswordHasher } from '../../src/people/passwords.js';
import { UserStore } from '../../src/people/users.js';
import { AddressMail } from '../../src/verification/address-mail.js';
import { Addresses, LinkNoLongerWorks } from '../../src/verification/addresses.js';
import { LinkPasswordRequired } from '../../src/security/link-password.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TEST_ARGON2 } from '../support/gatehouse.js';

const ISSUER = 'https://id.example.test';

describe.each(['postgres', 'pglite'] as const)('addresses on %s', (engine) => {
  let testDb: TestDatabase;
  let users: UserStore;
  let addresses: Addresses;
  const kek = randomBytes(32);

  beforeAll(async () => {
    testDb = await createTestDatabase(engine === 'pglite' ? { engine: 'pglite' } : {});
    const { db } = testDb;
    users = new UserStore(db, new PasswordHasher(TEST_ARGON2));
    const links = new OneTimeLinks(db);
    addresses = new Addresses({ db, users, links, audit: new AuditLog(db), mail: new AddressMail(links, new Outbox(kek), ISSUER, 'en') });
  });
  afterAll(async () => { await testDb?.destroy(); });

  async function person(email = `${randomUUID()}@example.test`) {
    return users.create({ email, name: 'Addressed', password: 'a long and unguessable passphrase' });
  }

  /** The token of the newest verification mail written for `to`, opened from its sealed row. */
  async function tokenMailedTo(to: string): Promise<string> {
    const rows: Array<{ id: string; payload: string }> = await testDb.db(OUTBOX_TABLE).select('id', 'payload').orderBy('created_at', 'desc');
    for (const row of rows) {
      const mail = asMailMessage(await openPayload(row.payload, payloadKey(kek), row.id));
      const token = /\/verify-email\?token=([\w-]+)/.exec(mail.text)?.[1];
      if (mail.to === to && token) return token;
    }
    throw new Error(`no verification mail to ${to}`);
  }

  /** The person themselves, as the account pages act. */
  const actor = (id: string) => ({ type: 'user' as const, id });

  it('verifies the address a link was sent to; of two racing uses exactly one wins', async () => {
    const user = await person();
    await addresses.sendVerification(actor(user.id), user.id);
    const token = await tokenMailedTo(user.email);
    expect(await addresses.preview(token)).toEqual({ kind: 'verify', email: user.email, name: user.name, accountId: user.id, currentEmail: user.email });
    const outcomes = await Promise.allSettled([addresses.follow(token, '192.0.2.1'), addresses.follow(token, '192.0.2.2')]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(LinkNoLongerWorks);
    expect(await users.findById(user.id)).toMatchObject({ emailVerified: true });
    expect(await addresses.preview(token)).toBeUndefined();
  });

  it('refuses a change whose new address another account took after it was asked for, and leaves the link usable', async () => {
    const user = await person();
    const wanted = `${randomUUID()}@example.test`;
    await addresses.requestChange(actor(user.id), user.id, wanted);
    const token = await tokenMailedTo(wanted);
    expect(await addresses.preview(token)).toMatchObject({ kind: 'change', email: wanted, accountId: user.id, currentEmail: user.email });
    // A change is spent only with the account's password proven (by the page), for this very account.
    for (const proof of [undefined, randomUUID()]) await expect(addresses.follow(token, null, proof)).rejects.toBeInstanceOf(LinkPasswordRequired);
    expect(await addresses.preview(token)).toMatchObject({ kind: 'change' });

    const squatter = await person(wanted.toUpperCase());
    const taken = await addresses.follow(token, null, user.id).then(() => 'changed', (error: unknown) => (isGatehouseError(error, 'email_taken') ? 'taken' : String(error)));
    expect(taken).toBe('taken');
    expect(await users.findById(user.id)).toMatchObject({ email: user.email, emailVerified: false });

    // Once the address is free again, the same link does what it was sent for.
    await testDb.db('users').where({ id: squatter.id }).delete();
    expect(await addresses.follow(token, null, user.id)).toEqual({ kind: 'change', email: wanted, name: user.name });
    expect(await users.findById(user.id)).toMatchObject({ email: wanted, emailVerified: true });
    expect(await testDb.db('email_changes').where({ user_id: user.id })).toEqual([]);
  });

  it('a link mailed before the account moved is dead, even one to the address it moves back to', async () => {
    const user = await person();
    await addresses.sendVerification(actor(user.id), user.id);
    const oldLink = await tokenMailedTo(user.email);
    const elsewhere = `${randomUUID()}@example.test`;
    await addresses.changeByAdministrator({ type: 'system', id: 'cli' }, user.id, elsewhere);
    await expect(addresses.follow(oldLink, null)).rejects.toBeInstanceOf(LinkNoLongerWorks);
    await addresses.changeByAdministrator({ type: 'system', id: 'cli' }, user.id, user.email);
    // Back on the old address, the old link still does not work: moving revoked it.
    await expect(addresses.follow(oldLink, null)).rejects.toBeInstanceOf(LinkNoLongerWorks);
    expect(await users.findById(user.id)).toMatchObject({ email: user.email, emailVerified: false });
  });

  it('acts only for an active account: a sign-up\'s or an invitation\'s link is dead here, and none is mailed to them from here', async () => {
    const admin = { type: 'system' as const, id: 'cli' };
    for (const state of ['unverified', 'invited'] as const) {
      const user = await users.create({ email: `${randomUUID()}@example.test`, name: 'Waiting', ...(state === 'invited' ? {} : { password: 'a long and unguessable passphrase' }) }, testDb.db, state);
      // A link of the same purpose, as a sign-up's is (src/enrolment/mail.ts).
      const { token } = await new OneTimeLinks(testDb.db).issue(testDb.db, { purpose: 'verification', userId: user.id, email: user.email, ttlSeconds: 3600 });
      expect(await addresses.preview(token), state).toBeUndefined();
      await expect(addresses.follow(token, null, user.id), state).rejects.toBeInstanceOf(LinkNoLongerWorks);
      expect(await users.findById(user.id), state).toMatchObject({ emailVerified: false, activatedAt: null });
      expect(await new OneTimeLinks(testDb.db).find(token, 'verification'), state).toMatchObject({ userId: user.id });

      const conflict = (error: unknown) => (isGatehouseError(error, 'conflict') ? 'conflict' : String(error));
      expect(await addresses.sendVerification(admin, user.id).then(() => 'sent', conflict), state).toBe('conflict');
      const elsewhere = `${randomUUID()}@example.test`;
      expect(await addresses.changeByAdministrator(admin, user.id, elsewhere, { sendVerification: true }).then(() => 'changed', conflict), state).toBe('conflict');
      expect(await users.findById(user.id), state).toMatchObject({ email: user.email });
    }
  });
});
