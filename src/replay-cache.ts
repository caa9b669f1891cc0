// A byte-identical signed webhook received again within the timestamp tolerance (a replay, or a
// platform retry) gets the reply the first one got, without running anything twice.

import { inBackground, whenRead, type KeyValueStore, type MaybePromise } from './state/memory-store.js';

/** A repeat gets the first reply's JSON text; the first copy hands its reply's text over. */
export type ReplayClaim = { earlier: Promise<string> } | { first: (reply: Promise<string>) => void };

export interface ReplayCache {
  /** Decided at once with the in-memory store; after a round trip with Redis. */
  claim(key: string): MaybePromise<ReplayClaim>;
}

/**
 * Same endpoint and same verified signature: the same timestamp and bytes, so the same request.
 * The HMAC already digested the body; hashing it again would cost as much once more.
 */
export function replayKey(scope: string, signatureDigest: string): string {
  return `${scope}\u0000${signatureDigest}`;
}

/**
 * A reply is kept as its JSON text, which the caller makes once (it is also what is sent): tens
 * of thousands of live object graphs (one per webhook for ten minutes) made every garbage
 * collection slower, and a string is one leaf object.
 */
export function createReplayCache(store: KeyValueStore<{ reply: string }>, ttlMs: number, onStoreError: (err: Error) => void = () => undefined): ReplayCache {
  const inFlight = new Map<string, Promise<string>>();
  return {
    claim(key) {
      const running = inFlight.get(key);
      if (running) return { earlier: running };
      let settle!: (reply: string) => void;
      let fail!: (err: unknown) => void;
      const reply = new Promise<string>((resolve, reject) => {
        settle = resolve;
        fail = reject;
      });
      reply.catch(() => undefined);
      inFlight.set(key, reply);
      const decide = (done: { reply: string } | undefined): ReplayClaim => {
        if (done) {
          inFlight.delete(key);
          // An entry another replica wrote before replies were kept as text is the reply itself.
          settle(typeof done.reply === 'string' ? done.reply : JSON.stringify(done.reply));
          return { earlier: reply };
        }
        return {
          first(work) {
            work.then(
              (text) => {
                inFlight.delete(key);
                settle(text);
                inBackground(() => store.set(key, { reply: text }, ttlMs), onStoreError);
              },
              (err: unknown) => {
                inFlight.delete(key);
                fail(err);
              },
            );
          },
        };
      };
      return whenRead(store, key, decide, onStoreError);
    },
  };
}
