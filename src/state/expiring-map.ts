// A bounded map whose entries expire: what the in-memory stores keep. A plain Map in order of use
// (reading or writing an entry moves it to the end), so the least recently used go first when it
// is full, and expired ones are dropped when read or once they reach the front.

export interface ExpiringMap<V> {
  get(key: string): V | undefined;
  /** A ttlMs of 0 or less keeps the entry until it is evicted (as lru-cache's ttl: 0 did). */
  set(key: string, value: V, ttlMs: number): void;
  delete(key: string): void;
  readonly size: number;
}

/**
 * Replaces lru-cache here: it preallocated arrays for `max` entries in every store (tens of
 * milliseconds at start, memory held when idle) and cost more per operation than Map lookups.
 */
export function createExpiringMap<V>(max: number, now: () => number = () => performance.now()): ExpiringMap<V> {
  const entries = new Map<string, { value: V; expiresAt: number }>();
  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      if (entry.expiresAt <= now()) return undefined;
      entries.set(key, entry);
      return entry.value;
    },
    set(key, value, ttlMs) {
      const at = now();
      entries.delete(key);
      entries.set(key, { value, expiresAt: ttlMs > 0 ? at + ttlMs : Number.POSITIVE_INFINITY });
      // Each entry is dropped here at most once, so a write stays O(1) on average.
      for (const [oldest, entry] of entries) {
        if (entries.size <= max && entry.expiresAt > at) break;
        entries.delete(oldest);
      }
    },
    delete(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}
