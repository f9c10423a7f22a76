// The janitor beside live requests. A request can hold a row a sweep would take: a sign-in
// restarting its window on an expired throttle counter, an act revoking a person's grants with
// their tokens, a receiver acknowledging polled events. A sweep that waited on such a row, while
// the request waited on a row of the sweep's batch, would deadlock, and PostgreSQL would fail one
// of the two: a person told to try again, or a sweep lost. So every sweep passes over what is held
// and takes it the next time. Seen here with one held row of each kind the janitor sweeps.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../src/crypto/digest.js';
import type { Database } from '../src/db/knex.js';
import { RATE_LIMITS_TABLE } from '../src/security/rate-limit-store.js';
import { queueOf } from '../src/security-events/receivers.js';
import { usingPostgres, waitedOnALock } from './support/database.js';
import { createPerson } from './support/flows.js';
import { startTestServer, type TestServer } from './support/gatehouse.js';

const postgres = await usingPostgres();
const HOUR = 3600_000;

/** One row of each kind the janitor sweeps, made eligible for it, and how to lock that row. */
type Sweepable = { kind: string; insert: (db: Database) => Promise<unknown>; lock: (trx: Database) => Promise<unknown> };

function sweepables(userId: string, tag: string): Sweepable[] {
  const past = new Date(Date.now() - HOUR);
  const longAgo = new Date(Date.now() - 400 * 24 * HOUR);
  const recordId = digest(`expired-${tag}`);
  const rotatedId = digest(`rotated-${tag}`);
  const jti = digest(`jti-${tag}`);
  const counter = `janitor-test:${tag}`;
  const mail = randomUUID();
  const link = randomUUID();
  const receiver = queueOf({ type: 'app', clientId: `gone-${tag}` });
  return [
    {
      kind: 'an expired record',
      insert: (db) => db('oidc_records').insert({ model: 'AccessToken', id_digest: recordId, payload: {}, expires_at: past }),
      lock: (trx) => trx('oidc_records').where({ model: 'AccessToken', id_digest: recordId }).forUpdate(),
    },
    {
      kind: 'a rotation past its retry window',
      insert: (db) => db('oidc_records').insert({
        model: 'RefreshToken', id_digest: rotatedId, payload: {}, expires_at: new Date(Date.now() + 24 * HOUR),
        consumed_at: past, successor_sealed: 'sealed', successor_digest: digest(`successor-${tag}`),
      }),
      lock: (trx) => trx('oidc_records').where({ model: 'RefreshToken', id_digest: rotatedId }).forUpdate(),
    },
    {
      kind: 'an expired access-token revocation',
      insert: (db) => db('revoked_access_tokens').insert({ jti_digest: jti, expires_at: past }),
      lock: (trx) => trx('revoked_access_tokens').where({ jti_digest: jti }).forUpdate(),
    },
    {
      kind: 'an expired throttle counter',
      insert: (db) => db(RATE_LIMITS_TABLE).insert({ key: counter, points: 3, expire: Date.now() - HOUR }),
      lock: (trx) => trx(RATE_LIMITS_TABLE).where({ key: counter }).forUpdate(),
    },
    {
      kind: 'a mail delivered long ago',
      insert: (db) => db('outbox').insert({ id: mail, kind: 'mail', payload: null, created_at: longAgo, next_attempt_at: longAgo, delivered_at: longAgo }),
      lock: (trx) => trx('outbox').where({ id: mail }).forUpdate(),
    },
    {
      kind: 'an expired link',
      insert: (db) => db('one_time_links').insert({ id: link, purpose: 'recovery', token_digest: digest(`link-${tag}`), user_id: userId, email: 'x@example.test', created_at: longAgo, expires_at: past }),
      lock: (trx) => trx('one_time_links').where({ id: link }).forUpdate(),
    },
    {
      kind: 'a polled event for a receiver that no longer polls',
      insert: (db) => db('security_event_polls').insert({ receiver, jti: randomBytes(8).toString('hex'), sealed: 'sealed', created_at: new Date() }),
      lock: (trx) => trx('security_event_polls').where({ receiver }).forUpdate(),
    },
  ];
}

describe.skipIf(!postgres)('the janitor beside requests holding its rows, on PostgreSQL', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('sweeps every kind of row no one holds without waiting, and the held ones at the next sweep', async () => {
    const { db } = server.testDb;
    const person = await createPerson(server);
    const held = sweepables(person.id, 'held');
    const free = sweepables(person.id, 'free');
    for (const row of [...held, ...free]) await row.insert(db);

    const holder = await db.transaction();
    try {
      for (const row of held) await row.lock(holder);
      const sweep = server.janitor.sweep();
      expect(await waitedOnALock(db, sweep), 'a sweep waited for a row a request holds').toBe(false);
      const first = await sweep;
      await holder.commit();
      const second = await server.janitor.sweep();
      // Each kind: the free row in the first sweep, the held one in the second.
      for (const swept of [first, second]) {
        expect(swept).toMatchObject({ records: 1, keptSuccessors: 1, revocations: 1, rateLimits: 1, outbox: 1, links: 1, polledEvents: 1 });
      }
    } finally {
      if (!holder.isCompleted()) await holder.rollback();
    }
  });
});
