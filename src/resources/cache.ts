// The APIs (resource servers) as the token endpoint sees them: every token request with a
// `resource`, and every one without (the default API), asks. They change rarely, and migration 003
// announces every change, so they are cached like clients. Only what was found is cached: an
// unknown identifier is a client's mistake (or a probe), and must not evict what is in use.
import type { Database } from '../db/knex.js';
import type { ChangeFeed } from '../db/notifications.js';
import { ResourceServerStore, type ResourceServer } from './store.js';
import { CoherentCache } from '../db/coherent-cache.js';
import { deepFrozen } from '../db/frozen.js';

const MAX_ENTRIES = 1_000;
const TTL_MS = 10 * 60_000;
/** Tags the default-API entry: any API's change can make another one the default. */
const DEFAULT_TAG = 'resource-default';
/** Keys: `id <identifier>` for one API, `default` for the default: no identifier can name the default's entry. */
const DEFAULT_KEY = 'default';

/**
 * A ResourceServerStore whose `find` and `findDefault` are cached; everything else (and every
 * write) goes to the database as before. A subclass so it can stand wherever the store does.
 * What it finds is frozen and shared by every caller (src/db/frozen.ts): no copy per request.
 */
export class CachedResourceServerStore extends ResourceServerStore {
  readonly #cache: CoherentCache<{ found: ResourceServer | undefined }>;

  constructor(db: Database, feed: ChangeFeed) {
    super(db);
    this.#cache = new CoherentCache(feed, { name: 'resource_servers', maxEntries: MAX_ENTRIES, ttlMs: TTL_MS });
    feed.on('change', (key: string) => {
      if (key.startsWith('resource:')) this.#cache.invalidate(DEFAULT_TAG);
    });
  }

  override async find(identifier: string): Promise<ResourceServer | undefined> {
    if (typeof identifier !== 'string') return undefined;
    const cached = await this.#cache.load(`id ${identifier}`, [`resource:${identifier}`], async () => {
      const found = await super.find(identifier);
      return found ? deepFrozen({ found }) : undefined;
    });
    return cached?.found;
  }

  override async findDefault(): Promise<ResourceServer | undefined> {
    const cached = await this.#cache.load(DEFAULT_KEY, [DEFAULT_TAG], async () => deepFrozen({ found: await super.findDefault() }));
    return cached?.found;
  }
}
