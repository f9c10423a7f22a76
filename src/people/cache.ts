// The person behind a token, as oidc-provider's findAccount asks for it on every refresh and
// every userinfo call. Migration 003 announces every change to what findAccount reads (disabled,
// email, names, email_verified) and every delete, so people are cached like clients: a disabled
// person is refused on the next request on every instance. Only people found are cached.
import type { User, UserStore } from './users.js';
import type { ChangeFeed } from '../db/notifications.js';
import { CoherentCache } from '../db/coherent-cache.js';

const MAX_ENTRIES = 10_000;
const TTL_MS = 5 * 60_000;

export type PersonLookup = Pick<UserStore, 'findById'>;

export function cachedPersonLookup(users: PersonLookup, feed: ChangeFeed): PersonLookup {
  const cache = new CoherentCache<User>(feed, { name: 'people', maxEntries: MAX_ENTRIES, ttlMs: TTL_MS });
  return {
    async findById(id: string) {
      if (typeof id !== 'string') return undefined;
      const user = await cache.load(id, [`user:${id}`], () => users.findById(id));
      // Callers get their own copy: nothing they do to it can change what the next caller reads.
      return user && structuredClone(user);
    },
  };
}
