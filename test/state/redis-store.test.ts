// Shared state in a real Redis: the store itself, and two gateway processes sharing one Redis,
// where a duplicate write answered by the second is a replay (the backend sees one request).

const SECRET = 'replica-secret-0123456789';

import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisState } from '../../src/state/redis-store.js';
import { requireBuiltCli, serveCli, waitForLog } from '../helpers/cli.js';
import { json, sleep, startBackend } from '../helpers/backend.js';
import { send, toolCalls } from '../helpers/gateway.js';
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

t.test('two gateway processes sharing one Redis: a duplicate write answered by the second is a replay', async (t) => {
  requireBuiltCli();
  const url = await startRedis(t);
  const backend = await startBackend(t, json({ result: { booked: true, ref: 'B-17' } }));
  const dir = mkdtempSync(join(tmpdir(), 'hms-replicas-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Each replica has its own outbox file; the ledger and replay cache are shared through Redis.
  const routes = (name: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `version: 1
account: { secrets: [${SECRET}] }
store: { path: "${join(dir, `${name}.db`)}", redis: "${url}" }
tools:
  book: { url: "${backend.url}/book", side_effects: true }
`,
    );
    return file;
  };
  const a = await serveCli(t, routes('a'));
  const b = await serveCli(t, routes('b'));
  const callId = `call-${Date.now()}`;
  const first = await send(`${a.url}/webhook`, toolCalls([['book', { date: '2026-12-01', slot: 9 }]], { call: { id: callId } }), { secret: SECRET });
  const again = await send(`${b.url}/webhook`, toolCalls([['book', { slot: 9, date: '2026-12-01' }]], { call: { id: callId } }), { secret: SECRET });
  const expected = { results: [{ tool_call_id: 'tc_1', result: { booked: true, ref: 'B-17' } }] };
  t.strictSame([first.body, again.body], [expected, expected]);
  t.equal(backend.requests.length, 1, 'the backend saw one request');
  // Log lines reach stdout in batches, at most 200 ms after they were logged.
  t.match(await waitForLog(b, (line) => line.msg === 'tool call replayed from the ledger', 2000), { tool: 'book', outcome: 'replayed' }, 'replica B replayed it');
  // A repeated webhook reaching the other replica is recognised too.
  const body = JSON.stringify(toolCalls([['book', { slot: 10 }]], { call: { id: callId } }));
  const timestamp = Math.floor(Date.now() / 1000);
  const viaA = await send(`${a.url}/webhook`, body, { secret: SECRET, timestamp });
  const viaB = await send(`${b.url}/webhook`, body, { secret: SECRET, timestamp });
  t.strictSame(viaB.body, viaA.body);
  t.equal(backend.requests.length, 2, 'the repeat did not reach the backend');
});
