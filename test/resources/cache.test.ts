// The cached APIs the token endpoint reads: found once, then from memory, and dropped the moment
// the database announces a change to any API (the default may have moved). On PGlite there is no
// listener, so every lookup reads the database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChangeFeed, type StoppableChangeFeed } from '../../src/db/notifications.js';
import { createLogger } from '../../src/logger.js';
import { CachedResourceServerStore } from '../../src/resources/cache.js';
import { createTestDatabase, queriesDuring, type TestDatabase } from '../support/database.js';
import { written } from '../support/changes.js';

let testDb: TestDatabase;
const countQueries = async (work: () => Promise<unknown>) => (await queriesDuring(testDb.db, work)).length;
let feed: StoppableChangeFeed;
let store: CachedResourceServerStore;


beforeAll(async () => {
  testDb = await createTestDatabase();
  feed = await startChangeFeed(testDb.db, createLogger('silent'));
  store = new CachedResourceServerStore(testDb.db, feed);
  // Its own announcement must not race the first lookups below.
  await written({ changes: feed }, () => store.create({ identifier: 'https://one.example.test', scope: 'one:read', isDefault: true }));
});

afterAll(async () => {
  await feed?.stop();
  await testDb?.destroy();
});

describe('CachedResourceServerStore', () => {
  it('caches on PostgreSQL only', () => {
    expect(feed.connected).toBe(testDb.kind === 'postgres');
  });

  it('reads an API once, then from memory, until the API changes', async () => {
    const cached = feed.connected;
    expect((await store.find('https://one.example.test'))?.accessTokenTtl).toBeNull();
    expect(await countQueries(() => store.find('https://one.example.test'))).toBe(cached ? 0 : 1);

    await written({ changes: feed }, () =>
      testDb.db('resource_servers').where({ identifier: 'https://one.example.test' }).update({ access_token_ttl: 120 }));
    expect((await store.find('https://one.example.test'))?.accessTokenTtl).toBe(120);
  });

  it('follows the default API when another one becomes the default', async () => {
    expect((await store.findDefault())?.identifier).toBe('https://one.example.test');
    expect(await countQueries(() => store.findDefault())).toBe(feed.connected ? 0 : 1);

    await written({ changes: feed }, () =>
      store.create({ identifier: 'https://two.example.test', scope: 'two:read', isDefault: true }));
    expect((await store.findDefault())?.identifier).toBe('https://two.example.test');
  });

  it('does not cache an unknown API', async () => {
    expect(await store.find('https://nobody.example.test')).toBeUndefined();
    expect(await countQueries(() => store.find('https://nobody.example.test'))).toBe(1);
  });

  it('hands every caller the same frozen API: no caller can change what the next one reads', async () => {
    const first = await store.find('https://two.example.test');
    expect(() => first!.scopes.push('tampered')).toThrow(TypeError);
    expect(() => { (first as { name: string }).name = 'tampered'; }).toThrow(TypeError);
    expect((await store.find('https://two.example.test'))?.scopes).toEqual(['two:read']);
  });
});
