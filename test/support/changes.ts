// Waiting for the change feed (src/db/notifications.ts): caches learn of a write a moment after it
// commits, when the database's notification arrives. A test that writes behind Gatehouse's back
// and then asks it something waits for that moment, as any later request would find it passed.
import type { ChangeFeed } from '../../src/db/notifications.js';

/**
 * Runs `write`, a write straight to a store or in SQL (as an operator's tool would make), and
 * resolves with its result once the caches of `servers` (one, or every instance a test asks) have
 * heard of every change committed so far, as an admin act waits before it answers. Without it, a
 * request right after could meet a cache a moment early.
 */
export async function written<T>(servers: { changes: ChangeFeed } | ReadonlyArray<{ changes: ChangeFeed }>, write: () => Promise<T>): Promise<T> {
  const result = await write();
  await Promise.all((Array.isArray(servers) ? servers : [servers]).map((server: { changes: ChangeFeed }) => server.changes.caughtUp?.()));
  return result;
}
