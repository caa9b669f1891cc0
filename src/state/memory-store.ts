// The in-memory store behind the ledger, the replay cache and the per-call counters: bounded
// (least recently used entries go first) and with a time to live per entry. A shared store
// (Redis) implements the same interface for several replicas.

import { LRUCache } from 'lru-cache';

export interface KeyValueStore<V> {
  get(key: string): V | undefined;
  set(key: string, value: V, ttlMs: number): void;
  delete(key: string): void;
}

export function createMemoryStore<V extends NonNullable<unknown>>(max = 50_000): KeyValueStore<V> {
  const cache = new LRUCache<string, V>({ max, ttlAutopurge: false, allowStale: false });
  return {
    get: (key) => cache.get(key),
    set: (key, value, ttlMs) => void cache.set(key, value, { ttl: ttlMs }),
    delete: (key) => void cache.delete(key),
  };
}
