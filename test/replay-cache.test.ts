// A byte-identical signed webhook received again (a replay or a platform retry) gets the first
// reply from cache for tool calls and assistant-request, and is not re-delivered for events.

import t from 'tap';
import { createReplayCache } from '../src/replay-cache.js';
import { createMemoryStore } from '../src/state/memory-store.js';
import { json, sleep, startBackend } from './helpers/backend.js';
import { envelope, eventually, send, startGateway, toolCalls } from './helpers/gateway.js';

const head = 'version: 1\naccount: { secrets: [test-secret] }\n';

t.test('a repeated tool-calls webhook gets the same reply without reaching the backend again', async (t) => {
  let n = 0;
  const backend = await startBackend(t, async (_req, res) => {
    n++;
    await sleep(100);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: `answer ${n}` }));
  });
  const gateway = await startGateway(t, `${head}tools: { lookup: { url: "${backend.url}/lookup" } }\n`);
  const body = JSON.stringify(toolCalls([['lookup', { q: 1 }]]));
  const timestamp = Math.floor(Date.now() / 1000);
  // Two at once (joined) and one after (from the cache): all the first reply.
  const [a, b] = await Promise.all([send(`${gateway.url}/webhook`, body, { timestamp }), send(`${gateway.url}/webhook`, body, { timestamp })]);
  const c = await send(`${gateway.url}/webhook`, body, { timestamp });
  const expected = { results: [{ tool_call_id: 'tc_1', result: 'answer 1' }] };
  t.strictSame([a.body, b.body, c.body], [expected, expected, expected]);
  t.equal(b.text, a.text, 'the joined copy gets the same bytes');
  t.equal(c.text, a.text, 'the cached copy gets the same bytes');
  t.equal(c.headers['content-type'], 'application/json; charset=utf-8');
  t.equal(backend.requests.length, 1);
  t.strictSame(gateway.logs.filter((l) => l.msg === 'webhook answered').map((l) => l.outcome).sort(), ['ok', 'replayed', 'replayed']);
  // A new timestamp is a new request (the platform sending the same call again, signed anew).
  const d = await send(`${gateway.url}/webhook`, body, { timestamp: timestamp + 1 });
  t.strictSame(d.body, { results: [{ tool_call_id: 'tc_1', result: 'answer 2' }] });
});

t.test('a repeated status-update is acknowledged but delivered once', async (t) => {
  const backend = await startBackend(t, json({}));
  const gateway = await startGateway(t, `${head}events: { status-update: { url: "${backend.url}/status" } }\n`);
  const body = JSON.stringify(envelope('status-update'));
  const timestamp = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 3; i++) t.strictSame((await send(`${gateway.url}/webhook`, body, { timestamp })).body, {});
  await eventually(() => backend.requests.length === 1);
  await sleep(100);
  t.equal(backend.requests.length, 1);
});

t.test('unsigned requests (allow_unsigned) are not cached', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, `version: 1\nsecurity: { allow_unsigned: true }\ntools: { lookup: { url: "${backend.url}/lookup" } }\n`);
  const body = JSON.stringify(toolCalls([['lookup', {}]]));
  await send(`${gateway.url}/webhook`, body, { secret: '' });
  await send(`${gateway.url}/webhook`, body, { secret: '' });
  t.equal(backend.requests.length, 2);
});

t.test('a copy is still recognised for as long as its timestamp is accepted', async (t) => {
  const backend = await startBackend(t, json({ result: 'once' }));
  const gateway = await startGateway(t, `${head}tools: { lookup: { url: "${backend.url}/lookup" } }\nsecurity: { timestamp_tolerance: 1s }\n`);
  const body = JSON.stringify(toolCalls([['lookup', {}]]));
  // Signed one second ahead: accepted now and for two more seconds.
  const timestamp = Math.floor(Date.now() / 1000) + 1;
  t.strictSame((await send(`${gateway.url}/webhook`, body, { timestamp })).status, 200);
  await sleep(1600);
  const again = await send(`${gateway.url}/webhook`, body, { timestamp });
  t.strictSame([again.status, again.body], [200, { results: [{ tool_call_id: 'tc_1', result: 'once' }] }]);
  t.equal(backend.requests.length, 1);
});

t.test('an entry an older version wrote (the reply as an object, not text) is still answered from', async (t) => {
  const store = createMemoryStore<{ reply: string }>();
  const old = { body: { results: [{ tool_call_id: 'tc_1', result: 'kept' }] }, ctx: { callId: 'c1', event: 'tool-calls' }, deadlineAt: 1 };
  await store.set('k', { reply: old as unknown as string }, 60_000);
  const claim = await createReplayCache(store, 60_000).claim('k');
  t.ok('earlier' in claim);
  if ('earlier' in claim) t.strictSame(JSON.parse(await claim.earlier), old);
});
