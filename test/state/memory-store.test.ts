// The store contract's two halves: the in-memory stores answer at once (no promise), and callers
// that read (whenRead) or write in the background (inBackground) work with stores that answer at
// once, later, or fail either way, without an unhandled rejection.

import t from 'tap';
import { createMemoryCounters, createMemoryStore, inBackground, whenRead, type KeyValueStore } from '../../src/state/memory-store.js';

t.test('the in-memory stores answer at once, not with a promise', async (t) => {
  const store = createMemoryStore<{ n: number }>();
  t.equal(store.set('a', { n: 1 }, 60_000), undefined);
  t.strictSame(store.get('a'), { n: 1 });
  t.equal(store.get('b'), undefined);
  t.equal(store.delete('a'), undefined);
  t.equal(store.get('a'), undefined);
  const counters = createMemoryCounters();
  t.equal(counters.add('call', 1, 60_000), 1);
  t.equal(counters.add('call', 2, 60_000), 3);
  // Never below zero: a refund after an eviction does not go negative.
  t.equal(counters.add('other', -1, 60_000), 0);
});

const failing = (how: 'throws' | 'rejects'): KeyValueStore<string> => {
  const fail = () => {
    if (how === 'throws') throw new Error('store down (sync)');
    return Promise.reject(new Error('store down (async)'));
  };
  return { get: fail, set: fail, delete: fail };
};

t.test('whenRead: at once from a store that answers at once, later from one that answers later', async (t) => {
  const errors: string[] = [];
  const memory = createMemoryStore<string>();
  memory.set('k', 'v', 60_000);
  const now = whenRead(memory, 'k', (value) => `got ${value}`, (err) => errors.push(err.message));
  t.equal(now, 'got v');
  const later: KeyValueStore<string> = { get: async () => 'w', set: async () => undefined, delete: async () => undefined };
  const pending = whenRead(later, 'k', (value) => `got ${value}`, (err) => errors.push(err.message));
  t.ok(pending instanceof Promise);
  t.equal(await pending, 'got w');
  t.strictSame(errors, []);
});

t.test('whenRead: a store that throws or rejects counts as a miss and is reported', async (t) => {
  const errors: string[] = [];
  const seen: unknown[] = [];
  const use = (value: string | undefined) => (seen.push(value), 'answered');
  t.equal(whenRead(failing('throws'), 'k', use, (err) => errors.push(err.message)), 'answered');
  t.equal(await whenRead(failing('rejects'), 'k', use, (err) => errors.push(err.message)), 'answered');
  t.strictSame(seen, [undefined, undefined]);
  t.strictSame(errors, ['store down (sync)', 'store down (async)']);
});

t.test('inBackground: a write that throws or rejects is reported, not thrown and not unhandled', async (t) => {
  const errors: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  inBackground(() => failing('throws').set('k', 'v', 1000), (err) => errors.push(err.message));
  inBackground(() => failing('rejects').set('k', 'v', 1000), (err) => errors.push(err.message));
  inBackground(() => createMemoryStore<string>().set('k', 'v', 1000), (err) => errors.push(err.message));
  await new Promise((resolve) => setImmediate(resolve));
  t.strictSame(errors, ['store down (sync)', 'store down (async)']);
  t.strictSame(unhandled, []);
});
