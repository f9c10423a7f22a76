// The change listener: a dedicated connection that LISTENs, passes changes on, tells caches to
// flush when it loses the connection, and comes back by itself. On PGlite there is none.
import { once } from 'node:events';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/knex.js';
import { CHANGE_CHANNEL, ChangeListener, LISTENER_APPLICATION_NAME, listenerSettingsFor, startChangeFeed } from '../../src/db/notifications.js';
import { createLogger } from '../../src/logger.js';
import { changeBarrierTimeouts } from '../../src/observability/metrics.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';

const logger = createLogger('silent');

let testDb: TestDatabase;
const onPostgres = await usingPostgres();

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb?.destroy();
});

describe('on PGlite', () => {
  it('there is no listener, and the feed never counts as connected', async () => {
    const embedded = createDatabase({ url: undefined, embeddedDir: null });
    try {
      expect(listenerSettingsFor(embedded)).toBeUndefined();
      const feed = await startChangeFeed(embedded, logger);
      expect(feed.connected).toBe(false);
      await feed.stop();
    } finally {
      await embedded.destroy();
    }
  });
});

// The listener is a PostgreSQL connection; on PGlite (no server here) these report as skipped.
describe.skipIf(!onPostgres)('on PostgreSQL', () => {
  let listener: ChangeListener | undefined;

  afterAll(async () => {
    await listener?.stop();
  });

  /** The listener's backends on the test database, as PostgreSQL sees them. */
  async function listenerBackends(): Promise<number[]> {
    const { rows } = await testDb.db.raw<{ rows: Array<{ pid: number }> }>(
      'select pid from pg_stat_activity where application_name = ? and datname = current_database()',
      [LISTENER_APPLICATION_NAME],
    );
    return rows.map((row) => row.pid);
  }

  it('connects, and passes on each change', async () => {
    const settings = listenerSettingsFor(testDb.db);
    listener = new ChangeListener(settings!, logger);
    await listener.start();
    expect(listener.connected).toBe(true);
    expect(await listenerBackends()).toHaveLength(1);

    const change = once(listener, 'change');
    await testDb.db.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, 'client:abc']);
    expect(await change).toEqual(['client:abc']);

    const reset = once(listener, 'reset');
    await testDb.db.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, 'flush']);
    await reset;
  });

  /** The listener the first test started; the later ones go on with it. */
  function running(): ChangeListener {
    if (!listener) throw new Error('the listener was not started (see the first test)');
    return listener;
  }

  it('tells caches to flush when its connection is killed, then reconnects', async () => {
    const listener = running();
    const [pid] = await listenerBackends();
    const lost = Promise.all([once(listener, 'reset'), once(listener, 'disconnected')]);
    await testDb.db.raw('select pg_terminate_backend(?)', [pid!]);
    await lost;
    expect(listener.connected).toBe(false);

    await once(listener, 'connected');
    // On a busy machine the first heartbeat may come back after the lease: wait for a fresh one.
    for (let attempt = 0; !listener.connected && attempt < 50; attempt += 1) await once(listener, 'renewed');
    expect(listener.connected).toBe(true);
    const [newPid] = await listenerBackends();
    expect(newPid).not.toBe(pid);
    const change = once(listener, 'change');
    await testDb.db.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, 'user:xyz']);
    expect(await change).toEqual(['user:xyz']);
  });

  it('stops for good', async () => {
    const listener = running();
    await listener.stop();
    expect(listener.connected).toBe(false);
    // The server side ends a moment after the client does.
    let backends = await listenerBackends();
    for (let attempt = 0; backends.length > 0 && attempt < 200; attempt += 1) backends = await listenerBackends();
    expect(backends).toEqual([]);
  });
});

// An act answers once every instance has heard of it (src/audit/audited.ts): the instance that made
// it sends a barrier, and every listener acknowledges it once it has passed on all before it.
describe.skipIf(!onPostgres)('barriers, on PostgreSQL', () => {
  /** A listener of its own, as each instance has, and what it logged. */
  async function instance(): Promise<{ listener: ChangeListener; changes: string[]; logs: Array<Record<string, unknown>> }> {
    const logs: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const listener = new ChangeListener(listenerSettingsFor(testDb.db)!, createLogger('info', sink));
    const changes: string[] = [];
    listener.on('change', (key: string) => changes.push(key));
    await listener.start();
    return { listener, changes, logs };
  }

  it('end once every other listener has passed on each change committed before them', async () => {
    const [a, b, c] = await Promise.all([instance(), instance(), instance()]);
    try {
      for (let round = 0; round < 20; round += 1) {
        await testDb.db.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, `client:round-${round}`]);
        await a.listener.barrier();
        expect(b.changes).toContain(`client:round-${round}`);
        expect(c.changes).toContain(`client:round-${round}`);
      }
      // Barriers and their acknowledgements are not changes, and nobody ran out the lease.
      expect([...a.changes, ...b.changes, ...c.changes].filter((key) => !key.startsWith('client:round-'))).toEqual([]);
      expect([...a.logs, ...b.logs, ...c.logs].filter((entry) => entry.event === 'changes.barrier_timeout')).toEqual([]);
    } finally {
      await Promise.all([a, b, c].map(({ listener }) => listener.stop()));
    }
  });

  it('end at the lease when a listener never acknowledges, and say so in the log and the metrics', async () => {
    const a = await instance();
    // A listener that hears but never answers: a Gatehouse too old to know barriers, or stuck.
    const silent = new pg.Client({ ...listenerSettingsFor(testDb.db)! });
    await silent.connect();
    await silent.query(`LISTEN ${CHANGE_CHANNEL}`);
    const timeoutsBefore = (await changeBarrierTimeouts.get()).values[0]?.value ?? 0;
    try {
      await a.listener.barrier();
      expect(a.logs.filter((entry) => entry.event === 'changes.barrier_timeout')).toEqual([expect.objectContaining({ listening: true, unacknowledged: 1 })]);
      expect((await changeBarrierTimeouts.get()).values[0]?.value).toBe(timeoutsBefore + 1);
    } finally {
      await a.listener.stop();
      await silent.end();
    }
  });
});
