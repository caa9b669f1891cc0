// The per-call ledger: canonicalJson and ledgerKey, and createLedger over createMemoryStore (join
// while running, replay after a result, failures forgotten, entries expiring after their ttl).
import t from 'tap';
import { canonicalJson, createLedger, ledgerKey, type LedgerOutcome } from '../src/ledger.js';
import { createMemoryStore } from '../src/state/memory-store.js';

/** A promise resolved or rejected from outside. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A real wait that keeps the process alive (the helper's sleep is unref'd). */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Lets the ledger's .then handlers run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const newLedger = (ttlMs = 60_000) => createLedger(createMemoryStore<{ result: unknown }>(), ttlMs);
type TestLedger = ReturnType<typeof newLedger>;

/** What an identical call would get now, leaving nothing claimed behind. */
async function peek(ledger: TestLedger, key: string) {
  const claim = await ledger.claim(key);
  if ('run' in claim) {
    claim.run(Promise.resolve(undefined));
    await settle();
    return undefined;
  }
  return claim;
}

/** Runs a call under the ledger, as the first of its kind. */
async function track(ledger: TestLedger, key: string, outcome: Promise<LedgerOutcome>) {
  const claim = await ledger.claim(key);
  if (!('run' in claim)) throw new Error(`expected to run ${key}, got ${Object.keys(claim)[0]}`);
  claim.run(outcome);
}

t.test('canonicalJson sorts keys at every level and drops undefined', async (t) => {
  t.equal(canonicalJson({ b: 1, a: 2 }), '{"a":2,"b":1}');
  t.equal(canonicalJson({ z: { y: 1, x: [{ d: 1, c: 2 }] }, a: null }), '{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}');
  t.equal(canonicalJson({ a: undefined, b: 1, c: { d: undefined } }), '{"b":1,"c":{}}');
  t.equal(canonicalJson([3, 1, 2]), '[3,1,2]', 'arrays keep their order');
  t.equal(canonicalJson([undefined, 1]), '[null,1]', 'undefined in an array is null, as in JSON');
  t.equal(canonicalJson('text "quoted"'), '"text \\"quoted\\""');
  t.equal(canonicalJson(1.5), '1.5');
  t.equal(canonicalJson(true), 'true');
  t.equal(canonicalJson(null), 'null');
  t.equal(canonicalJson(undefined), 'null');
  t.equal(canonicalJson({}), '{}');
  t.equal(canonicalJson({ 'a"b': 1, B: 2, a: 3 }), '{"B":2,"a":3,"a\\"b":1}', 'keys escaped and sorted by code unit');
  // The same as JSON.parse would read back.
  const value = { when: '2025-06-01', party: { size: 4, names: ['Ann', 'Bo'] }, vip: false };
  t.strictSame(JSON.parse(canonicalJson(value)), value);
});

t.test('ledgerKey: stable for reordered keys, different for a different call, tool or arguments', async (t) => {
  const key = ledgerKey('call-1', 'book', { date: '2025-06-01', party: { size: 4, name: 'Ann' } });
  t.match(key, /^[0-9a-f]{64}$/);
  t.equal(ledgerKey('call-1', 'book', { party: { name: 'Ann', size: 4 }, date: '2025-06-01' }), key);
  t.equal(ledgerKey('call-1', 'book', { party: { name: 'Ann', size: 4 }, date: '2025-06-01', note: undefined }), key);
  const others = [
    ledgerKey('call-2', 'book', { date: '2025-06-01', party: { size: 4, name: 'Ann' } }),
    ledgerKey('call-1', 'cancel', { date: '2025-06-01', party: { size: 4, name: 'Ann' } }),
    ledgerKey('call-1', 'book', { date: '2025-06-02', party: { size: 4, name: 'Ann' } }),
    ledgerKey('call-1', 'book', { date: '2025-06-01', party: { size: '4', name: 'Ann' } }),
    ledgerKey('call-1', 'book', { date: '2025-06-01' }),
    ledgerKey('call-1', 'book', {}),
  ];
  t.equal(new Set([key, ...others]).size, 7, 'all different');
  // The separator keeps the parts apart: moving a character from tool to call id changes the key.
  t.not(ledgerKey('ab', 'c', {}), ledgerKey('a', 'bc', {}));
  t.equal(ledgerKey('call-1', 'book', {}), ledgerKey('call-1', 'book', {}));
});

t.test('a running call is joined; after a result it is replayed', async (t) => {
  const ledger = newLedger();
  const key = ledgerKey('call-1', 'book', { date: '2025-06-01' });
  t.equal(await peek(ledger, key), undefined);
  const run = deferred<LedgerOutcome>();
  await track(ledger, key, run.promise);
  const found = await peek(ledger, key);
  t.ok(found && 'join' in found);
  const joined = found && 'join' in found ? found.join : undefined;
  t.equal(await peek(ledger, ledgerKey('call-2', 'book', { date: '2025-06-01' })), undefined, 'another call does not see it');
  run.resolve({ result: { booked: true, ref: 'B-17' } });
  t.strictSame(await joined, { result: { booked: true, ref: 'B-17' } }, 'the joiner gets the outcome');
  await settle();
  t.strictSame(await peek(ledger, key), { replay: { result: { booked: true, ref: 'B-17' } } });
  t.strictSame(await peek(ledger, key), { replay: { result: { booked: true, ref: 'B-17' } } }, 'replayed every time');
});

t.test('a result that is a falsy value is still replayed', async (t) => {
  const ledger = newLedger();
  for (const [i, result] of [0, '', false, null].entries()) {
    await track(ledger, `k${i}`, Promise.resolve({ result }));
  }
  await settle();
  t.strictSame(await Promise.all([0, 1, 2, 3].map((i) => peek(ledger, `k${i}`))), [{ replay: { result: 0 } }, { replay: { result: "" } }, { replay: { result: false } }, { replay: { result: null } }]);
});

t.test('an {error} outcome is forgotten', async (t) => {
  const ledger = newLedger();
  const run = deferred<LedgerOutcome>();
  await track(ledger, 'k', run.promise);
  t.ok('join' in (await peek(ledger, 'k') ?? {}));
  run.resolve({ error: 'The booking service could not handle this request.' });
  await settle();
  t.equal(await peek(ledger, 'k'), undefined);
});

t.test('an undefined outcome is forgotten', async (t) => {
  const ledger = newLedger();
  await track(ledger, 'k', Promise.resolve(undefined));
  await settle();
  t.equal(await peek(ledger, 'k'), undefined);
});

t.test('a rejected call is forgotten, without an unhandled rejection', async (t) => {
  const ledger = newLedger();
  const run = deferred<LedgerOutcome>();
  await track(ledger, 'k', run.promise);
  const found = await peek(ledger, 'k');
  run.reject(new Error('boom'));
  // A joiner hears nothing it could use: undefined, and answers its own fallback.
  if (found && 'join' in found) t.equal(await found.join, undefined);
  else t.fail('expected a join');
  await settle();
  t.equal(await peek(ledger, 'k'), undefined);
});

t.test('a failure can be tried again and its success is then remembered', async (t) => {
  const ledger = newLedger();
  await track(ledger, 'k', Promise.resolve({ error: 'no' }));
  await settle();
  t.equal(await peek(ledger, 'k'), undefined);
  await track(ledger, 'k', Promise.resolve({ result: 'yes' }));
  await settle();
  t.strictSame(await peek(ledger, 'k'), { replay: { result: 'yes' } });
});

t.test('entries expire after the ttl', async (t) => {
  const ledger = newLedger(50);
  await track(ledger, 'k', Promise.resolve({ result: 'booked' }));
  await settle();
  t.strictSame(await peek(ledger, 'k'), { replay: { result: 'booked' } });
  await sleep(250);
  t.equal(await peek(ledger, 'k'), undefined);
});

t.test('the ttl counts from the result, not from the start', async (t) => {
  const ledger = newLedger(300);
  const run = deferred<LedgerOutcome>();
  await track(ledger, 'k', run.promise);
  await sleep(400); // longer than the ttl, still running
  t.ok('join' in (await peek(ledger, 'k') ?? {}), 'still joinable while running');
  run.resolve({ result: 'late' });
  await settle();
  t.strictSame(await peek(ledger, 'k'), { replay: { result: 'late' } });
});

t.test('createMemoryStore: get/set/delete, ttl and the size bound (least recently used goes first)', async (t) => {
  const store = createMemoryStore<string>(2);
  await store.set('a', 'A', 60_000);
  await store.set('b', 'B', 60_000);
  t.equal(await store.get('a'), 'A'); // a is now the most recently used
  await store.set('c', 'C', 60_000);
  t.strictSame([await store.get('a'), await store.get('b'), await store.get('c')], ['A', undefined, 'C']);
  await store.delete('a');
  t.equal(await store.get('a'), undefined);
  await store.set('short', 'S', 50);
  t.equal(await store.get('short'), 'S');
  await sleep(250);
  t.equal(await store.get('short'), undefined);
  t.equal(await store.get('c'), 'C', 'an entry with a long ttl outlives a short one');
});
