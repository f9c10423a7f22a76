// A small cache that never knowingly serves stale truth. Entries carry tags — the change keys of
// the rows they were read from ('client:<id>', 'grant:<digest>', ...) — and the change feed
// (src/db/notifications.ts) drops exactly the entries a committed change touches. While the feed
// is not connected, nothing is read from or written to the cache.
//
// A fill races with changes: the database may answer from a snapshot older than a change whose
// notification arrives before the answer does. So a fill remembers its tags, any change to one of
// them (or a reset) while it is in flight marks it stale, and a stale fill is returned to its
// caller but not stored.
//
// Bounded: least recently used entries go first once maxEntries is reached; every entry also has
// a TTL, a backstop that never replaces invalidation. No dependency: a Map keeps insertion order,
// and re-inserting on read makes that order recency.
import { cacheRequests } from '../observability/metrics.js';
import type { ChangeFeed } from './notifications.js';

export interface CacheOptions {
  /** The cache's name in the metrics (gatehouse_cache_requests_total{cache}): one per kind of cache. */
  name: string;
  maxEntries: number;
  /** The longest an entry may live; a fill may ask for less. */
  ttlMs: number;
  now?: () => number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
  tags: readonly string[];
}

interface Fill {
  tags: readonly string[];
  stale: boolean;
}

export class CoherentCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #keysByTag = new Map<string, Set<string>>();
  readonly #fills = new Set<Fill>();
  readonly #now: () => number;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly options: CacheOptions,
  ) {
    this.#now = options.now ?? Date.now;
    feed.on('change', (tag: string) => this.invalidate(tag));
    feed.on('reset', () => this.clear());
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cached value, if the feed is connected and the entry is live. `countMisses: false` is for
   * a caller that loads on a miss, which load() then counts.
   */
  get(key: string, countMisses = true): V | undefined {
    const { name } = this.options;
    if (!this.feed.connected) {
      if (countMisses) cacheRequests.inc({ cache: name, result: 'bypass' });
      return undefined;
    }
    const entry = this.#entries.get(key);
    if (!entry || entry.expiresAt <= this.#now()) {
      if (entry) this.#delete(key);
      if (countMisses) cacheRequests.inc({ cache: name, result: 'miss' });
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    cacheRequests.inc({ cache: name, result: 'hit' });
    return entry.value;
  }

  /**
   * The cached value, or what `load` finds. A found value is stored under `tags` unless one of
   * them changed while loading; `undefined` (not found) is never stored. `tags` may be a function,
   * called only on a miss: on the hot paths they are digests, which a hit does not need.
   */
  async load(key: string, tags: readonly string[] | (() => readonly string[]), load: () => Promise<V | undefined>, ttlMs?: (value: V) => number): Promise<V | undefined> {
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const fill: Fill = { tags: typeof tags === 'function' ? tags() : tags, stale: !this.feed.connected };
    this.#fills.add(fill);
    let value: V | undefined;
    try {
      value = await load();
    } finally {
      this.#fills.delete(fill);
    }
    if (value !== undefined && !fill.stale && this.feed.connected) {
      this.#set(key, value, fill.tags, Math.min(this.options.ttlMs, ttlMs ? ttlMs(value) : Infinity));
    }
    return value;
  }

  /** Drops every entry read from rows that `tag` names, including fills still in flight. */
  invalidate(tag: string): void {
    for (const fill of this.#fills) if (fill.tags.includes(tag)) fill.stale = true;
    for (const key of [...(this.#keysByTag.get(tag) ?? [])]) this.#delete(key);
  }

  clear(): void {
    for (const fill of this.#fills) fill.stale = true;
    this.#entries.clear();
    this.#keysByTag.clear();
  }

  #set(key: string, value: V, tags: readonly string[], ttlMs: number): void {
    if (!(ttlMs > 0)) return;
    this.#delete(key);
    this.#entries.set(key, { value, tags, expiresAt: this.#now() + ttlMs });
    for (const tag of tags) {
      let keys = this.#keysByTag.get(tag);
      if (!keys) this.#keysByTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
    while (this.#entries.size > this.options.maxEntries) {
      this.#delete(this.#entries.keys().next().value!);
    }
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    for (const tag of entry.tags) {
      const keys = this.#keysByTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.#keysByTag.delete(tag);
    }
  }
}
