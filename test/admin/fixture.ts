// AdminOperations and SelfService over a fresh database, wired as the server wires them, with a
// cheap argon2 cost.
import { randomBytes } from 'node:crypto';
import { PasswordHasher } from '../../src/people/passwords.js';
import { UserStore } from '../../src/people/users.js';
import { SelfService } from '../../src/account/self-service.js';
import { adminOperations, type AdminOperations } from '../../src/admin/operations.js';
import type { Actor, AuditEventType } from '../../src/audit/events.js';
import { AuditLog } from '../../src/audit/log.js';
import { ClientStore } from '../../src/clients/store.js';
import { GrantStore } from '../../src/grants/store.js';
import { createKeyStore } from '../../src/keys/signing-keys.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { SessionStore } from '../../src/sessions/store.js';
import { AccountNotices } from '../../src/notices/account-notices.js';
import { OneTimeLinks } from '../../src/links/store.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { AddressMail } from '../../src/verification/address-mail.js';
import { Addresses } from '../../src/verification/addresses.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TEST_ARGON2 } from '../support/gatehouse.js';

export interface AdminFixture {
  testDb: TestDatabase;
  ops: AdminOperations;
  /** A person's acts on their own account, over the same stores. */
  self: SelfService;
  users: UserStore;
  clients: ClientStore;
  audit: AuditLog;
  /** Every audit entry of a type, oldest first. */
  events(type: AuditEventType): Promise<Awaited<ReturnType<AuditLog['list']>>['items']>;
  auditCount(): Promise<number>;
}

export const ADMIN: Actor = { type: 'user', id: '11111111-1111-4111-8111-111111111111', ip: '192.0.2.10' };

/** `engine: 'pglite'` for the embedded database `npm start` runs on, whatever the suite runs on. */
export async function adminFixture(options: { engine?: 'pglite' } = {}): Promise<AdminFixture> {
  const testDb = await createTestDatabase(options);
  const { db } = testDb;
  const users = new UserStore(db, new PasswordHasher(TEST_ARGON2));
  const clients = new ClientStore(db);
  const audit = new AuditLog(db);
  const keys = createKeyStore(db, { keyEncryptionKey: randomBytes(32), publishBeforeSigningSeconds: 60, retainSeconds: 3600 });
  const resources = new ResourceServerStore(db);
  const sessions = new SessionStore(db);
  const grants = new GrantStore(db);
  const outbox = new Outbox(randomBytes(32));
  const notices = new AccountNotices({ db, outbox, issuer: 'http://gatehouse.test', enabled: true, recoveryOffered: true, defaultLocale: 'en' });
  const links = new OneTimeLinks(db);
  const addresses = new Addresses({ db, users, links, audit, mail: new AddressMail(links, outbox, 'http://gatehouse.test', 'en') });
  const ops = adminOperations({ db, users, clients, audit, keys, resources, sessions, grants, notices, addresses, links });
  const self = new SelfService({ db, users, audit, resources, sessions, grants, notices, links });
  return {
    testDb, ops, self, users, clients, audit,
    async events(type) {
      return (await audit.list({ type }, { limit: 200 })).items.reverse();
    },
    async auditCount() {
      return (await db('audit_events').count<{ count: number }[]>('* as count'))[0]!.count;
    },
  };
}
