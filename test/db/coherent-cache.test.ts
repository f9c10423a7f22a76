// The cache the introspection path relies on: it drops exactly what a change names, never stores
// what a change overtook while it was being read, and is bypassed while the feed is down. The
// feed here is a plain EventEmitter, standing in for the listener (tested in test/db/).
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ChangeFeed } from '../../src/db/notifications.js';
import { CoherentCache } from '../../src/db/coherent-cache.js';

class Feed extends EventEmitter implements ChangeFeed {
  connected = true;
}

function setup(options: { maxEntries?: number; ttlMs?: number } = {}) {
  const feed = new Feed();
  let clock = 1_000_000;
  const cache = new CoherentCache<string>(feed, { name: 'test', maxEntries: options.maxEntries ?? 10, ttlMs: options.ttlMs ?? 60_000, now: () => clock });
  let loads = 0;
  /** `found: false` loads "not found". */
  const load = (key: string, tags: string[], found = true) =>
    cache.load(key, tags, async () => {
      loads += 1;
      return found ? `value of ${key}` : undefined;
    });
  return { feed, cache, load, loads: () => loads, advance: (ms: number) => { clock += ms; } };
}

/** A load the test finishes by hand, to interleave changes with it. */
function deferred() {
  let resolve!: (value: string) => void;
  const promise = new Promise<string>((r) => { resolve = r; });
  return { promise, resolve };
}

describe('CoherentCache', () => {
  it('loads once, then answers from memory', async () => {
    const { load, loads } = setup();
    expect(await load('k', ['a:1'])).toBe('value of k');
    expect(await load('k', ['a:1'])).toBe('value of k');
    expect(loads()).toBe(1);
  });

  it('never stores "not found"', async () => {
    const { load, loads } = setup();
    expect(await load('k', ['a:1'], false)).toBeUndefined();
    expect(await load('k', ['a:1'], false)).toBeUndefined();
    expect(loads()).toBe(2);
  });

  it('drops exactly the entries a change names', async () => {
    const { feed, cache, load } = setup();
    await load('one', ['grant:g1', 'user:u1']);
    await load('two', ['grant:g2', 'user:u1']);
    await load('three', ['grant:g3', 'user:u2']);
    feed.emit('change', 'grant:g1');
    expect(cache.get('one')).toBeUndefined();
    expect(cache.get('two')).toBeDefined();
    feed.emit('change', 'user:u1');
    expect(cache.get('two')).toBeUndefined();
    expect(cache.get('three')).toBeDefined();
    expect(cache.size).toBe(1);
  });

  it('does not store a value whose rows changed while it was being read', async () => {
    const { feed, cache } = setup();
    const read = deferred();
    const loading = cache.load('k', ['client:c'], () => read.promise);
    feed.emit('change', 'client:c');
    read.resolve('old');
    expect(await loading).toBe('old'); // the caller asked before the change: it may have it
    expect(cache.get('k')).toBeUndefined();
  });

  it('does store a value when only unrelated rows changed meanwhile', async () => {
    const { feed, cache } = setup();
    const read = deferred();
    const loading = cache.load('k', ['client:c'], () => read.promise);
    feed.emit('change', 'client:other');
    read.resolve('fresh');
    await loading;
    expect(cache.get('k')).toBe('fresh');
  });

  it('is bypassed while the feed is down, and flushed by a reset', async () => {
    const { feed, cache, load, loads } = setup();
    await load('k', ['a:1']);
    feed.connected = false;
    expect(cache.get('k')).toBeUndefined();
    await load('other', ['a:2']);
    feed.connected = true;
    expect(cache.get('other')).toBeUndefined(); // read while down: not stored
    expect(loads()).toBe(2);

    const read = deferred();
    const loading = cache.load('late', ['a:3'], () => read.promise);
    feed.emit('reset');
    read.resolve('late value');
    await loading;
    expect(cache.get('late')).toBeUndefined();
    expect(cache.get('k')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('forgets entries after their TTL, or the shorter one a fill asks for', async () => {
    const { cache, advance } = setup({ ttlMs: 60_000 });
    await cache.load('long', [], async () => 'v');
    await cache.load('short', [], async () => 'v', () => 1_000);
    await cache.load('expired', [], async () => 'v', () => -5);
    expect(cache.get('expired')).toBeUndefined();
    advance(1_000);
    expect(cache.get('short')).toBeUndefined();
    expect(cache.get('long')).toBe('v');
    advance(59_000);
    expect(cache.get('long')).toBeUndefined();
  });

  it('holds at most maxEntries, dropping the least recently used first', async () => {
    const { cache, load, feed } = setup({ maxEntries: 2 });
    await load('a', ['t:a']);
    await load('b', ['t:b']);
    cache.get('a');
    await load('c', ['t:c']);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
    feed.emit('change', 't:b'); // its tag index went with it
    expect(cache.size).toBe(2);
  });
});
