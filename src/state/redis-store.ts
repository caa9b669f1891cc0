// Shared state for several replicas in Redis (ioredis): the side-effect ledger, the replay cache
// and the per-call counters, so a duplicate arriving at replica B after A served it is replayed.

import { Redis } from 'ioredis';
import type { CounterStore, KeyValueStore, SharedState } from './memory-store.js';

const PREFIX = 'hms-tool-router:';
const COMMAND_TIMEOUT_MS = 500;

export function createRedisState(url: string, onError: (err: Error) => void): SharedState {
  // A command waits at most half a second (also while reconnecting), so a Redis outage costs a
  // call that much, never its deadline; the gateway then answers from this replica alone.
  const redis = new Redis(url, { commandTimeout: COMMAND_TIMEOUT_MS, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  redis.on('error', onError);
  return {
    redis,
    keyValue<V extends NonNullable<unknown>>(namespace: string): KeyValueStore<V> {
      const name = (key: string) => `${PREFIX}${namespace}:${key}`;
      return {
        async get(key) {
          const text = await redis.get(name(key));
          return text === null ? undefined : (JSON.parse(text) as V);
        },
        async set(key, value, ttlMs) {
          await redis.set(name(key), JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlMs)));
        },
        async delete(key) {
          await redis.del(name(key));
        },
      };
    },
    counters(namespace: string): CounterStore {
      return {
        async add(key, by, ttlMs) {
          const name = `${PREFIX}${namespace}:${key}`;
          const [[, value]] = (await redis.multi().incrby(name, by).pexpire(name, Math.max(1, Math.round(ttlMs))).exec()) as [[Error | null, number]];
          return value;
        },
      };
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
