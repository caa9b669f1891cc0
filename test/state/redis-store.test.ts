// Shared state in a real Redis: the store itself, and two gateways sharing one Redis, where a
// duplicate write answered by the second gateway is a replay (the backend sees one request).

import t from 'tap';
import { createRedisState } from '../../src/state/redis-store.js';
import { json, sleep, startBackend } from '../helpers/backend.js';
import { send, startGateway, toolCalls } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis.js';

t.test('key-value entries with a time to live, and counters', async (t) => {
  const url = await startRedis(t);
  const state = createRedisState(url, () => undefined);
  t.teardown(() => state.close());
  const store = state.keyValue<{ result: unknown }>(`kv-${process.pid}`);
  await store.set('a', { result: { ok: 1 } }, 60_000);
  await store.set('short', { result: 'S' }, 100);
  t.strictSame([await store.get('a'), await store.get('short'), await store.get('missing')], [{ result: { ok: 1 } }, { result: 'S' }, undefined]);
  await sleep(300);
  t.equal(await store.get('short'), undefined, 'expired');
  await store.delete('a');
  t.equal(await store.get('a'), undefined);
  const counters = state.counters(`count-${process.pid}`);
  t.strictSame([await counters.add('c', 1, 60_000), await counters.add('c', 1, 60_000), await counters.add('c', -1, 60_000)], [1, 2, 1]);
});

t.test('two gateways sharing one Redis: a duplicate write answered by the second is a replay', async (t) => {
  const url = await startRedis(t);
  const backend = await startBackend(t, json({ result: { booked: true, ref: 'B-17' } }));
  const routes = `version: 1
account: { secrets: [test-secret] }
store: { redis: "${url}" }
tools:
  book: { url: "${backend.url}/book", side_effects: true }
`;
  // Each gateway has its own outbox file; only the ledger and replay cache are shared.
  const a = await startGateway(t, routes.replace('store: {', `store: { path: "${t.testdirName}-a.db",`));
  const b = await startGateway(t, routes.replace('store: {', `store: { path: "${t.testdirName}-b.db",`));
  const callId = `call-${Date.now()}`;
  const first = await send(`${a.url}/webhook`, toolCalls([['book', { date: '2026-12-01', slot: 9 }]], { call: { id: callId } }));
  const again = await send(`${b.url}/webhook`, toolCalls([['book', { slot: 9, date: '2026-12-01' }]], { call: { id: callId } }));
  const expected = { results: [{ tool_call_id: 'tc_1', result: { booked: true, ref: 'B-17' } }] };
  t.strictSame([first.body, again.body], [expected, expected]);
  t.equal(backend.requests.length, 1, 'the backend saw one request');
  t.ok(b.logs.some((l) => l.msg === 'tool call replayed from the ledger'), 'gateway B replayed it');
});
