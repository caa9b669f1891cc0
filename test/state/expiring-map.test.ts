// The in-memory stores' map: entries expire by their own TTL, the least recently used go first
// when it is full, and expired entries stop taking room once they reach the front.

import t from 'tap';
import { createExpiringMap } from '../../src/state/expiring-map.js';

function clock(start = 1000) {
  let at = start;
  return { now: () => at, advance: (ms: number) => void (at += ms) };
}

t.test('an entry is there until its TTL has passed, then gone', async (t) => {
  const time = clock();
  const map = createExpiringMap<string>(10, time.now);
  map.set('a', 'A', 100);
  time.advance(99);
  t.equal(map.get('a'), 'A');
  time.advance(1);
  t.equal(map.get('a'), undefined);
  t.equal(map.size, 0, 'an expired entry is dropped when read');
});

t.test('writing an entry again gives it a new TTL and a new value', async (t) => {
  const time = clock();
  const map = createExpiringMap<number>(10, time.now);
  map.set('a', 1, 100);
  time.advance(80);
  map.set('a', 2, 100);
  time.advance(80);
  t.equal(map.get('a'), 2);
});

t.test('full: the least recently used entry goes first (a read or a write is a use)', async (t) => {
  const time = clock();
  const map = createExpiringMap<number>(3, time.now);
  map.set('a', 1, 60_000);
  map.set('b', 2, 60_000);
  map.set('c', 3, 60_000);
  map.set('a', 10, 60_000); // written again: now the most recent
  t.equal(map.get('b'), 2); // read: now the most recent
  map.set('d', 4, 60_000);
  t.strictSame(['a', 'b', 'c', 'd'].map((key) => map.get(key)), [10, 2, undefined, 4]);
  t.equal(map.size, 3);
});

t.test('expired entries at the front are dropped by the next write, so they take no room', async (t) => {
  const time = clock();
  const map = createExpiringMap<number>(1000, time.now);
  for (let i = 0; i < 500; i++) map.set(`old${i}`, i, 100);
  time.advance(100);
  map.set('new', 1, 100);
  t.equal(map.size, 1);
  t.equal(map.get('new'), 1);
});

t.test('an entry with a longer TTL behind the front keeps its place until it expires', async (t) => {
  const time = clock();
  const map = createExpiringMap<number>(10, time.now);
  map.set('short', 1, 50);
  map.set('long', 2, 500);
  time.advance(60);
  map.set('next', 3, 50);
  t.strictSame([map.get('short'), map.get('long'), map.get('next')], [undefined, 2, 3]);
  t.equal(map.size, 2);
});

t.test('a TTL of 0 keeps the entry until it is evicted', async (t) => {
  const time = clock();
  const map = createExpiringMap<number>(2, time.now);
  map.set('a', 1, 0);
  time.advance(1e9);
  t.equal(map.get('a'), 1);
  map.set('b', 2, 0);
  map.set('c', 3, 0);
  t.equal(map.get('a'), undefined);
});

t.test('delete removes an entry', async (t) => {
  const map = createExpiringMap<number>(10);
  map.set('a', 1, 1000);
  map.delete('a');
  t.equal(map.get('a'), undefined);
  t.equal(map.size, 0);
});

t.test('the default clock is monotonic time: entries live for their TTL in real time', async (t) => {
  const map = createExpiringMap<number>(10);
  map.set('a', 1, 30);
  t.equal(map.get('a'), 1);
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.equal(map.get('a'), undefined);
});

t.test('values() gives the entries that have not expired', async (t) => {
  const time = clock();
  const map = createExpiringMap<string>(10, time.now);
  map.set('short', 'S', 50);
  map.set('long', 'L', 500);
  map.set('forever', 'F', 0);
  time.advance(60);
  t.strictSame([...map.values()].sort(), ['F', 'L']);
});

t.test('over many writes and reads a full map keeps exactly the most recently used entries', async (t) => {
  // Enough operations for the order of use to be compacted many times over (its front, and the
  // places left behind by keys used again): what survives must still be exactly right.
  const time = clock();
  const max = 100;
  const map = createExpiringMap<number>(max, time.now);
  let k0Missing = 0;
  for (let i = 0; i < 5000; i++) {
    map.set(`k${i}`, i, 60_000);
    // Key k0 is read after every write: always recently used, so it is never evicted.
    if (map.get('k0') !== 0) k0Missing++;
  }
  t.equal(k0Missing, 0);
  t.equal(map.size, max);
  const expected = ['k0', ...Array.from({ length: max - 1 }, (_, i) => `k${5000 - max + 1 + i}`)];
  t.strictSame(expected.map((key) => map.get(key) !== undefined), expected.map(() => true));
  t.equal(map.get(`k${5000 - max}`), undefined);
});
