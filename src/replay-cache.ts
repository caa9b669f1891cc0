// A byte-identical signed webhook received again within the timestamp tolerance (a replay, or a
// platform retry) gets the reply the first one got, without running anything twice.

import { createHash } from 'node:crypto';
import type { KeyValueStore } from './state/memory-store.js';

export interface ReplayCache {
  /** The first request's reply: done, or still being worked out. */
  find(key: string): Promise<unknown> | undefined;
  remember(key: string, reply: Promise<unknown>): void;
}

/** Same endpoint, same timestamp, same bytes: the same signed request. */
export function replayKey(scope: string, timestamp: string, raw: Buffer): string {
  return createHash('sha256').update(`${scope}\u0000${timestamp}\u0000`).update(raw).digest('hex');
}

export function createReplayCache(store: KeyValueStore<{ reply: unknown }>, ttlMs: number): ReplayCache {
  const inFlight = new Map<string, Promise<unknown>>();
  return {
    find(key) {
      const done = store.get(key);
      if (done) return Promise.resolve(done.reply);
      return inFlight.get(key);
    },
    remember(key, reply) {
      inFlight.set(key, reply);
      void reply.then(
        (value) => {
          inFlight.delete(key);
          store.set(key, { reply: value }, ttlMs);
        },
        () => inFlight.delete(key),
      );
    },
  };
}
