// What a cache hands to every caller at once: frozen, all the way down, so that no caller can
// change what the next one reads, without a copy per read. A caller that tries gets a TypeError
// (every module here is strict), not a quietly changed cache.

/** `value`, and every object it holds, frozen in place; returned for chaining. */
export function deepFrozen<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFrozen(inner);
    Object.freeze(value);
  }
  return value;
}
