// Migration 003: every change a cache depends on is announced on `gatehouse_changes`, whoever
// makes it — here, plain SQL — and nothing else is. Runs on the database the suite picked, and
// always on PGlite too, where the migration must apply (and the triggers fire) just the same.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { CHANGE_CHANNEL } from '../../src/db/notifications.js';
import { down, up } from '../../migrations/003_change_notifications.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** Hears the channel on the test database, whichever kind it is. */
interface Ear {
  received: string[];
  /** Resolves once `payload` has been heard. */
  heard(payload: string): Promise<void>;
  close(): Promise<void>;
}

function ear(subscribe: (hear: (payload: string) => void) => Promise<() => Promise<void>>): Promise<Ear> {
  const received: string[] = [];
  const waiting = new Map<string, () => void>();
  const hear = (payload: string) => {
    received.push(payload);
    waiting.get(payload)?.();
  };
  return subscribe(hear).then((close) => ({
    received,
    heard: (payload) => received.includes(payload) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(payload, resolve)),
    close,
  }));
}

async function listenTo(database: TestDatabase): Promise<Ear> {
  if (database.kind === 'postgres') {
    return ear(async (hear) => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      client.on('notification', (message) => hear(message.payload ?? ''));
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      return () => client.end();
    });
  }
  await database.db.raw('select 1'); // knex-pglite opens PGlite lazily
  const pglite = await (database.db.client as { pglite: Promise<{ listen(channel: string, cb: (payload: string) => void): Promise<() => Promise<void>> }> }).pglite;
  return ear((hear) => pglite.listen(CHANGE_CHANNEL, hear));
}

function notificationContract(name: string, makeDb: () => Promise<TestDatabase>): void {
  describe(`change notifications (${name})`, () => {
    let database: TestDatabase;
    let listener: Ear;
    let sentinel = 0;

    /** What `write` announced: everything heard up to a sentinel notified after it committed. */
    async function announced(write: () => Promise<unknown>): Promise<string[]> {
      const from = listener.received.length;
      await write();
      const mark = `sentinel:${(sentinel += 1)}`;
      await database.db.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, mark]);
      await listener.heard(mark);
      return listener.received.slice(from, listener.received.indexOf(mark));
    }

    const db = () => database.db;

    async function insertClient(): Promise<string> {
      const clientId = randomBytes(8).toString('hex');
      await db()('clients').insert({ client_id: clientId, name: 'c', token_endpoint_auth_method: 'none', grant_types: '[]', scope: '' });
      return clientId;
    }

    /** A client whose own announcement has been heard, so it cannot leak into the next one. */
    async function newClient(): Promise<string> {
      let clientId = '';
      await announced(async () => { clientId = await insertClient(); });
      return clientId;
    }

    async function newUser(): Promise<string> {
      const [row] = await db()('users').insert({ email: `${randomBytes(6).toString('hex')}@example.test`, name: 'P', password_hash: 'x' }).returning('id');
      return (row as { id: string }).id;
    }

    async function newGrant(expiresInMs: number | null): Promise<string> {
      const grantId = randomBytes(12).toString('base64url');
      await db()('oidc_records').insert({
        model: 'Grant', id_digest: digest(grantId), grant_id: grantId, payload: '{}',
        expires_at: expiresInMs === null ? null : new Date(Date.now() + expiresInMs),
      });
      return grantId;
    }

    beforeAll(async () => {
      database = await makeDb();
      listener = await listenTo(database);
    });

    afterAll(async () => {
      await listener?.close();
      await database?.destroy();
    });

    it('clients: insert, update and delete name the client', async () => {
      let clientId = '';
      expect(await announced(async () => { clientId = await insertClient(); })).toEqual([`client:${clientId}`]);
      expect(await announced(() => db()('clients').where({ client_id: clientId }).update({ disabled_at: new Date() }))).toEqual([`client:${clientId}`]);
      expect(await announced(() => db()('clients').where({ client_id: clientId }).delete())).toEqual([`client:${clientId}`]);
    });

    it('resource servers: any change names the API and its introspection client', async () => {
      const clientId = await newClient();
      const identifier = `https://${clientId}.example.test`;
      expect(await announced(() => db()('resource_servers').insert({ identifier, name: 'n', scope: 'read', client_id: clientId })))
        .toEqual([`resource:${identifier}`, `client:${clientId}`]);
      expect(await announced(() => db()('resource_servers').where({ identifier }).update({ access_token_ttl: 60 })))
        .toEqual([`resource:${identifier}`, `client:${clientId}`]);
      expect(await announced(() => db()('resource_servers').where({ identifier }).delete()))
        .toEqual([`resource:${identifier}`, `client:${clientId}`]);
    });

    it('users: disabling, re-enabling, changed claims, becoming or ceasing to be an administrator (026) and deletion are announced; a password change is not', async () => {
      const id = await newUser();
      expect(await announced(() => db()('users').where({ id }).update({ password_hash: 'rehashed', password_changed_at: new Date() }))).toEqual([]);
      expect(await announced(() => db()('users').where({ id }).update({ name: 'Q' }))).toEqual([`user:${id}`]);
      expect(await announced(() => db()('users').where({ id }).update({ disabled_at: new Date() }))).toEqual([`user:${id}`]);
      expect(await announced(() => db()('users').where({ id }).update({ disabled_at: null }))).toEqual([`user:${id}`]);
      expect(await announced(() => db()('users').where({ id }).update({ email: `${id}@example.test` }))).toEqual([`user:${id}`]);
      expect(await announced(() => db()('users').where({ id }).update({ is_admin: true }))).toEqual([`user:${id}`]);
      expect(await announced(() => db()('users').where({ id }).update({ is_admin: false }))).toEqual([`user:${id}`]);
      expect(await announced(() => db()('users').where({ id }).delete())).toEqual([`user:${id}`]);
    });

    it('grants: deleting one is announced by digest, an expired one too (clocks may disagree); deleting tokens is not', async () => {
      const live = await newGrant(3_600_000);
      const forever = await newGrant(null);
      const expired = await newGrant(-3_600_000);
      await db()('oidc_records').insert({ model: 'AccessToken', id_digest: digest('t'), grant_id: live, payload: '{}' });
      expect(await announced(() => db()('oidc_records').where({ grant_id: live, model: 'AccessToken' }).delete())).toEqual([]);
      expect(await announced(() => db()('oidc_records').where({ id_digest: digest(expired) }).delete())).toEqual([`grant:${digest(expired)}`]);
      expect(await announced(() => db()('oidc_records').whereIn('id_digest', [digest(live), digest(forever)]).delete()))
        .toEqual([`grant:${digest(live)}`, `grant:${digest(forever)}`]);
    });

    it('grants: bringing the expiry forward is announced; extending it is not', async () => {
      const grantId = await newGrant(3_600_000);
      const row = () => db()('oidc_records').where({ model: 'Grant', id_digest: digest(grantId) });
      expect(await announced(() => row().update({ expires_at: new Date(Date.now() + 7_200_000) }))).toEqual([]);
      expect(await announced(() => row().update({ expires_at: new Date(Date.now() + 60_000) }))).toEqual([`grant:${digest(grantId)}`]);
    });

    it('grants: a changed payload (consent added) is announced; re-saving it unchanged, or a token\'s payload, is not', async () => {
      const grantId = await newGrant(3_600_000);
      const row = () => db()('oidc_records').where({ model: 'Grant', id_digest: digest(grantId) });
      expect(await announced(() => row().update({ payload: JSON.stringify({ openid: { scope: 'openid email' } }) }))).toEqual([`grant:${digest(grantId)}`]);
      expect(await announced(() => row().update({ payload: JSON.stringify({ openid: { scope: 'openid email' } }) }))).toEqual([]);
      await db()('oidc_records').insert({ model: 'AccessToken', id_digest: digest(`${grantId}-token`), grant_id: grantId, payload: '{}' });
      expect(await announced(() => db()('oidc_records').where({ model: 'AccessToken', grant_id: grantId }).update({ payload: '{"a":1}' }))).toEqual([]);
    });

    it('a revoked JWT is announced by the digest of its jti', async () => {
      const jtiDigest = digest(randomBytes(8).toString('hex'));
      expect(await announced(() => db()('revoked_access_tokens').insert({ jti_digest: jtiDigest, expires_at: new Date(Date.now() + 60_000) })))
        .toEqual([`jti:${jtiDigest}`]);
    });

    it('truncating a table, or an id too long to announce, flushes everything instead', async () => {
      expect(await announced(() => db().raw('truncate revoked_access_tokens'))).toEqual(['flush']);
      const long = 'x'.repeat(8000);
      expect(await announced(() => db()('clients').insert({ client_id: long, name: 'c', token_endpoint_auth_method: 'none', grant_types: '[]', scope: '' })))
        .toEqual(['flush']);
      await db()('clients').where({ client_id: long }).delete();
    });

    it('migrates down and up again', async () => {
      await down(db());
      expect(await announced(() => insertClient())).toEqual([]);
      await up(db());
      let clientId = '';
      expect(await announced(async () => { clientId = await insertClient(); })).toEqual([`client:${clientId}`]);
    });
  });
}

notificationContract('the suite\'s database', () => createTestDatabase());
notificationContract('pglite', () => createTestDatabase({ engine: 'pglite' }));
