// The change listener: a dedicated connection that LISTENs, passes changes on, tells caches to
// flush when it loses the connection, and comes back by itself. On PGlite there is none.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/knex.js';
import { CHANGE_CHANNEL, ChangeListener, LISTENER_APPLICATION_NAME, listenerSettingsFor, startChangeFeed } from '../../src/db/notifications.js';
import { createLogger } from '../../src/logger.js';
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
