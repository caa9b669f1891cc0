// A bounded map whose entries expire: what the in-memory stores and call pinning keep. Reading or
// writing an entry is a use; the least recently used go first when it is full, and expired ones
// are dropped when read or once they reach the front.

export interface ExpiringMap<V> {
  get(key: string): V | undefined;
  /** A ttlMs of 0 or less keeps the entry until it is evicted (as lru-cache's ttl: 0 did). */
  set(key: string, value: V, ttlMs: number): void;
  delete(key: string): void;
  /** The entries that have not expired, in no particular order. */
  values(): IterableIterator<V>;
  readonly size: number;
}

interface Entry<V> {
  readonly key: string;
  readonly value: V;
  readonly expiresAt: number;
  /** Set once the Map no longer holds this entry: its key was used again, or deleted. */
  stale: boolean;
}

/**
 * Replaces lru-cache here: it preallocated arrays for `max` entries in every store (tens of
 * milliseconds at start, memory held when idle) and cost more per operation than Map lookups.
 *
 * The order of use is an array next to the Map, not the Map's own order: a Map whose oldest
 * entries are deleted keeps their slots as holes until it is rehashed, and every walk from its
 * front steps over all of them. Evicting that way cost 34 µs per write in a full 50,000-entry
 * store against about 1.2 µs in one that is not full (bench/stores.mjs), and a busy gateway's
 * stores are full.
 */
export function createExpiringMap<V>(max: number, now: () => number = () => performance.now()): ExpiringMap<V> {
  const entries = new Map<string, Entry<V>>();
  // Every use, oldest first from `head`. A stale use is skipped when it reaches the front; the
  // flag, not a Map lookup, says so: in a map of 100,000 keys every lookup is a cache miss.
  let order: (Entry<V> | undefined)[] = [];
  let head = 0;

  const isLive = (entry: Entry<V> | undefined): entry is Entry<V> => entry !== undefined && !entry.stale;

  function use(key: string, value: V, expiresAt: number, previous: Entry<V> | undefined): void {
    if (previous) previous.stale = true;
    const entry: Entry<V> = { key, value, expiresAt, stale: false };
    entries.set(key, entry);
    order.push(entry);
    // Rebuilt once stale uses are as many as live entries (plus some slack), so each use is copied
    // a bounded number of times: O(1) per operation on average, and bounded memory.
    if (order.length - head > 2 * entries.size + 64) {
      order = order.slice(head).filter(isLive);
      head = 0;
    }
  }

  function remove(entry: Entry<V>): void {
    entry.stale = true;
    entries.delete(entry.key);
  }

  function dropFront(at: number): void {
    while (head < order.length) {
      const oldest = order[head];
      if (isLive(oldest)) {
        if (entries.size <= max && oldest.expiresAt > at) break;
        remove(oldest);
      }
      order[head++] = undefined;
    }
    // The consumed front is given back once it is half of the array.
    if (head > 64 && head * 2 > order.length) {
      order = order.slice(head);
      head = 0;
    }
  }

  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAt <= now()) {
        remove(entry);
        return undefined;
      }
      use(key, entry.value, entry.expiresAt, entry);
      return entry.value;
    },
    set(key, value, ttlMs) {
      const at = now();
      use(key, value, ttlMs > 0 ? at + ttlMs : Number.POSITIVE_INFINITY, entries.get(key));
      dropFront(at);
    },
    delete(key) {
      const entry = entries.get(key);
      if (entry) remove(entry);
    },
    *values() {
      const at = now();
      for (const entry of entries.values()) if (entry.expiresAt > at) yield entry.value;
    },
    get size() {
      return entries.size;
    },
  };
}
