// The stores behind the ledger, the replay cache and the per-call counters. In one process they
// live in memory (bounded: least recently used entries go first, each with a time to live);
// several replicas share them through Redis (redis-store.ts), behind the same interface.

import type { Redis } from 'ioredis';
import { createExpiringMap } from './expiring-map.js';

export interface KeyValueStore<V> {
  get(key: string): Promise<V | undefined>;
  set(key: string, value: V, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface CounterStore {
  /** Adds `by` (may be negative) and returns the new value; the count expires `ttlMs` after its last change. */
  add(key: string, by: number, ttlMs: number): Promise<number>;
}

/** Where the shared state lives: one object, so a Redis connection is opened once and closed once. */
export interface SharedState {
  keyValue<V extends NonNullable<unknown>>(namespace: string): KeyValueStore<V>;
  counters(namespace: string): CounterStore;
  /** The Redis connection when state is shared, so rate limits can count there too. */
  redis?: Redis;
  close(): Promise<void>;
}

export function createMemoryStore<V extends NonNullable<unknown>>(max = 50_000): KeyValueStore<V> {
  const cache = createExpiringMap<V>(max);
  return {
    get: async (key) => cache.get(key),
    set: async (key, value, ttlMs) => cache.set(key, value, ttlMs),
    delete: async (key) => void cache.delete(key),
  };
}

export function createMemoryCounters(max = 50_000): CounterStore {
  const cache = createExpiringMap<number>(max);
  return {
    async add(key, by, ttlMs) {
      const value = Math.max(0, (cache.get(key) ?? 0) + by);
      cache.set(key, value, ttlMs);
      return value;
    },
  };
}

/** One store per namespace: after a reload, the new routes find the ledger the old ones filled. */
export function createMemoryState(): SharedState {
  const stores = new Map<string, KeyValueStore<never>>();
  const counters = new Map<string, CounterStore>();
  return {
    keyValue<V extends NonNullable<unknown>>(namespace: string) {
      let store = stores.get(namespace);
      if (!store) stores.set(namespace, (store = createMemoryStore<never>()));
      return store as unknown as KeyValueStore<V>;
    },
    counters(namespace) {
      let store = counters.get(namespace);
      if (!store) counters.set(namespace, (store = createMemoryCounters()));
      return store;
    },
    close: async () => undefined,
  };
}
