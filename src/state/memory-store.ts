// The stores behind the ledger, the replay cache and the per-call counters. In one process they
// live in memory (bounded: least recently used entries go first, each with a time to live);
// several replicas share them through Redis (redis-store.ts), behind the same interface.

import type { Redis } from 'ioredis';
import { createExpiringMap } from './expiring-map.js';

/**
 * A value now or later. The in-memory stores answer now: an await on every lookup of every
 * webhook cost a turn of the microtask queue and a promise each. Redis answers later.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/**
 * Runs `operation` on a store whose outcome nobody waits for (a write, a refund): a failure, now
 * or later, goes to `onError` instead of becoming an unhandled rejection.
 */
export function inBackground(operation: () => MaybePromise<unknown>, onError: (err: Error) => void): void {
  try {
    const result = operation();
    if (isPromise(result)) result.catch((err: unknown) => onError(err as Error));
  } catch (err) {
    onError(err as Error);
  }
}

/**
 * Reads `key` and hands the value to `use`: at once when the store answers at once. A store that
 * cannot be read counts as a miss, reported to `onError`: the caller answers from this replica.
 */
export function whenRead<V, R>(store: KeyValueStore<V>, key: string, use: (value: V | undefined) => R, onError: (err: Error) => void): MaybePromise<R> {
  const miss = (err: unknown) => {
    onError(err as Error);
    return use(undefined);
  };
  let value: MaybePromise<V | undefined>;
  try {
    value = store.get(key);
  } catch (err) {
    return miss(err);
  }
  return isPromise(value) ? value.then(use, miss) : use(value);
}

export interface KeyValueStore<V> {
  get(key: string): MaybePromise<V | undefined>;
  set(key: string, value: V, ttlMs: number): MaybePromise<void>;
  delete(key: string): MaybePromise<void>;
}

export interface CounterStore {
  /** Adds `by` (may be negative) and returns the new value; the count expires `ttlMs` after its last change. */
  add(key: string, by: number, ttlMs: number): MaybePromise<number>;
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
    get: (key) => cache.get(key),
    set: (key, value, ttlMs) => cache.set(key, value, ttlMs),
    delete: (key) => cache.delete(key),
  };
}

export function createMemoryCounters(max = 50_000): CounterStore {
  const cache = createExpiringMap<number>(max);
  return {
    add(key, by, ttlMs) {
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
