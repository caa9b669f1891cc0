// limits.rate end to end: 429 with Retry-After for events, the spoken rate_limited fallback for
// tool calls, checked only after the signature, one bucket per assistant, and shared through Redis.

import t from 'tap';
import { json, startBackend } from '../helpers/backend.js';
import { envelope, scrape, send, startGateway, toolCalls } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis.js';

const RATE_LIMITED = { error: 'GW_ERR_RATE_LIMITED', message: 'Too many webhooks for this assistant; retry after the number of seconds in Retry-After.' };

/** Each webhook unique (the replay cache answers byte-identical copies without counting anything). */
const statusUpdate = (n: number) => envelope('status-update', { call: { id: `call-${n}` }, status: 'in-progress' });

t.test('per assistant: over the cap, events get 429 with Retry-After; tool calls get the rate_limited sentence', async (t) => {
  const backend = await startBackend(t, json({ result: 'found' }));
  const gateway = await startGateway(
    t,
    `
version: 1
assistants:
  sales:
    secrets: [test-secret]
    tools: { lookup: { url: "${backend.url}/lookup", fallback: { rate_limited: "I am a bit busy, give me a moment." } } }
  support:
    secrets: [test-secret]
limits: { rate: { per_assistant: { max: 2, window: 1m } } }
`,
  );
  const sales = `${gateway.url}/webhook/sales`;
  t.equal((await send(sales, statusUpdate(1))).status, 200);
  t.equal((await send(sales, toolCalls([['lookup', {}]], { call: { id: 'call-2' } }))).status, 200);
  const refused = await send(sales, statusUpdate(3));
  t.strictSame([refused.status, refused.body], [429, RATE_LIMITED]);
  const retryAfter = Number(refused.headers['retry-after']);
  t.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);

  const spoken = await send(sales, toolCalls([['lookup', {}], ['nowhere', {}]], { call: { id: 'call-4' } }));
  t.strictSame([spoken.status, spoken.body], [200, { results: [{ tool_call_id: 'tc_1', result: 'I am a bit busy, give me a moment.' }, { tool_call_id: 'tc_2', error: 'No route for tool nowhere.' }] }]);
  t.equal(backend.requests.length, 1, 'nothing reached the backend once over the limit');

  // Another assistant has its own bucket.
  t.equal((await send(`${gateway.url}/webhook/support`, statusUpdate(5))).status, 200);

  const m = await scrape(gateway.url);
  t.equal(m.value('hms_router_tool_calls_total', { tool: 'lookup', upstream: backend.origin, outcome: 'rate_limited' }), 1);
  t.equal(m.value('hms_router_fallbacks_total', { tool: 'lookup', reason: 'rate_limited' }), 1);
  t.equal(m.value('hms_router_webhooks_total', { event: 'status-update', outcome: 'rejected' }), 1);
  const logged = gateway.logs.find((l) => l.msg === 'webhook rate limited');
  t.strictSame(logged && { assistant: logged.assistant, event: logged.event, retry_after_s: logged.retry_after_s }, { assistant: 'sales', event: 'status-update', retry_after_s: retryAfter });
});

t.test('the limit is checked after the signature: an unsigned flood spends nothing', async (t) => {
  const gateway = await startGateway(t, `
version: 1
account: { secrets: [test-secret] }
limits: { rate: { per_assistant: { max: 1, window: 1m }, global: { max: 1, window: 1m } } }
`);
  for (let i = 0; i < 20; i++) t.equal((await send(`${gateway.url}/webhook`, statusUpdate(i), { secret: 'forged' })).status, 401);
  t.equal((await send(`${gateway.url}/webhook`, statusUpdate(100))).status, 200, 'the real platform still gets through');
  t.equal((await send(`${gateway.url}/webhook`, statusUpdate(101))).status, 429);
});

t.test('the global cap covers every assistant; account requests share the account bucket', async (t) => {
  const gateway = await startGateway(t, `
version: 1
account: { secrets: [test-secret] }
assistants: { a: { phone_numbers: ["+31850000001"] }, b: {} }
limits: { rate: { global: { max: 4, window: 1m }, per_assistant: { max: 2, window: 1m } } }
`);
  // The global cap counts every signed webhook, including ones an assistant's cap then refuses.
  const toA = (n: number) => envelope('status-update', { call: { id: `call-${n}` }, phone_number: { number: '+31850000001' } });
  const codes = [
    (await send(`${gateway.url}/webhook`, statusUpdate(1))).status, // account bucket
    (await send(`${gateway.url}/webhook`, statusUpdate(2))).status, // account bucket (2 of 2)
    (await send(`${gateway.url}/webhook`, statusUpdate(3))).status, // account bucket full (global 3 of 4)
    (await send(`${gateway.url}/webhook`, toA(4))).status, // assistant a, picked by phone number: global 4 of 4
    (await send(`${gateway.url}/webhook/b`, statusUpdate(5))).status, // global cap reached
  ];
  t.strictSame(codes, [200, 200, 429, 200, 429]);
});

t.test('rate-limited tool calls do not count toward limits.tool_calls_per_call', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, `
version: 1
account: { secrets: [test-secret] }
limits: { tool_calls_per_call: 2, rate: { per_assistant: { max: 1, window: 1s } } }
tools: { lookup: { url: "${backend.url}", fallback: { rate_limited: "Too many requests right now." } } }
`);
  const call = (n: number) => toolCalls([['lookup', { n }]], { call: { id: 'same-call' } });
  t.strictSame((await send(`${gateway.url}/webhook`, call(1))).body, { results: [{ tool_call_id: 'tc_1', result: 'ok' }] }, 'forwarded: 1 of 2');
  t.strictSame((await send(`${gateway.url}/webhook`, call(2))).body, { results: [{ tool_call_id: 'tc_1', result: 'Too many requests right now.' }] }, 'over the rate limit');
  // Once the window has passed, the call's second forwarded tool call is still allowed: the
  // rate-limited one did not use up limits.tool_calls_per_call.
  let third = await send(`${gateway.url}/webhook`, call(3));
  for (let i = 0; i < 40 && (third.body as { results: { result: unknown }[] }).results[0]!.result !== 'ok'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    third = await send(`${gateway.url}/webhook`, call(4 + i));
  }
  t.strictSame(third.body, { results: [{ tool_call_id: 'tc_1', result: 'ok' }] }, 'forwarded: 2 of 2');
  t.equal(backend.requests.length, 2);
});

t.test('with store.redis, replicas share one budget', async (t) => {
  const redis = await startRedis(t);
  // A fresh assistant name, so a shared REDIS_URL does not carry counts over from another run.
  const name = `a${process.pid}${Date.now()}`;
  const yaml = `
version: 1
assistants: { ${name}: { secrets: [test-secret] } }
store: { redis: "${redis}" }
limits: { rate: { per_assistant: { max: 2, window: 1m } } }
`;
  const one = await startGateway(t, yaml);
  const two = await startGateway(t, yaml);
  const codes = [
    (await send(`${one.url}/webhook/${name}`, statusUpdate(1))).status,
    (await send(`${two.url}/webhook/${name}`, statusUpdate(2))).status,
    (await send(`${one.url}/webhook/${name}`, statusUpdate(3))).status,
    (await send(`${two.url}/webhook/${name}`, statusUpdate(4))).status,
  ];
  t.strictSame(codes, [200, 200, 429, 429]);
});

t.test('a repeated copy of an answered webhook gets the first reply and spends no budget', async (t) => {
  const backend = await startBackend(t, json({ result: 'found' }));
  const gateway = await startGateway(t, `
version: 1
account: { secrets: [test-secret] }
tools: { lookup: { url: "${backend.url}" } }
limits: { rate: { per_assistant: { max: 2, window: 1m } } }
`);
  const timestamp = Math.floor(Date.now() / 1000);
  const body = toolCalls([['lookup', {}]], { call: { id: 'call-r' } });
  const first = await send(`${gateway.url}/webhook`, body, { timestamp });
  const copy = await send(`${gateway.url}/webhook`, body, { timestamp });
  t.strictSame([first.status, first.body], [200, { results: [{ tool_call_id: 'tc_1', result: 'found' }] }]);
  t.strictSame([copy.status, copy.body], [200, first.body], 'the copy gets the first reply');
  t.equal(backend.requests.length, 1);
  t.equal((await send(`${gateway.url}/webhook`, statusUpdate(2))).status, 200, 'the copy did not spend the second slot');
  t.equal((await send(`${gateway.url}/webhook`, statusUpdate(3))).status, 429);
});
