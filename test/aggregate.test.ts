// Tool calls end to end: concurrent fan-out, every backend reply format, failures turned into
// fallbacks inside the deadline, path templating, query strings, headers and re-signing.

import t from 'tap';
import { closedPort, json, sleep, startBackend } from './helpers/backend.js';
import { eventually, send, startGateway, toolCalls } from './helpers/gateway.js';
import { signatureHex, verifySignature } from '../src/signature.js';
import { VERSION } from '../src/version.js';

const head = (extra = '') => `
version: 1
account: { secrets: [test-secret] }
${extra}
`;

t.test('tool calls run concurrently: three 300 ms backends answer in well under 900 ms', async (t) => {
  const slow = await startBackend(t, json({ result: 'done' }, 200, 300));
  const gateway = await startGateway(t, head(`
upstreams: { be: { url: "${slow.url}" } }
tools:
  a: { upstream: be }
  b: { upstream: be }
  c: { upstream: be }
`));
  const res = await send(`${gateway.url}/webhook`, toolCalls([['a', {}], ['b', {}], ['c', {}]]));
  t.equal(res.status, 200);
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', result: 'done' }, { tool_call_id: 'tc_2', result: 'done' }, { tool_call_id: 'tc_3', result: 'done' }] });
  t.ok(res.elapsedMs < 800, `answered in ${Math.round(res.elapsedMs)} ms`);
  t.strictSame(slow.requests.map((r) => r.url).sort(), ['/a', '/b', '/c']);
});

t.test('every backend reply format becomes one entry', async (t) => {
  const replies: Record<string, (res: import('node:http').ServerResponse, id: string) => void> = {
    '/object': (res, id) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: [{ tool_call_id: 'other', result: 'no' }, { tool_call_id: id, result: { name: 'John' } }] })),
    '/only': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: [{ tool_call_id: 'whatever', result: 'only entry' }] })),
    '/nomatch': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: [{ tool_call_id: 'x', result: 1 }, { tool_call_id: 'y', result: 2 }] })),
    '/simple': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: 42 })),
    '/error': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Contact not found' })),
    '/error-object': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 7 } })),
    '/direct': (res) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ name: 'John', email: 'j@example.com' })),
    '/array': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2]'),
    '/text': (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('The shop opens at nine.'),
    '/empty': (res) => res.writeHead(204).end(),
    '/problem': (res) => res.writeHead(200, { 'content-type': 'application/problem+json' }).end('{"detail":"x"}'),
  };
  const backend = await startBackend(t, (req, res) => replies[req.url]!(res, String(req.headers['x-tool-call-id'])));
  const names = Object.keys(replies).map((p) => p.slice(1));
  const gateway = await startGateway(t, head(`
upstreams: { be: { url: "${backend.url}" } }
tools:
${names.map((n) => `  "${n}": { upstream: be }`).join('\n')}
`));
  const res = await send(`${gateway.url}/webhook`, toolCalls(names.map((n) => [n, {}])));
  t.equal(res.status, 200);
  t.strictSame(res.body, {
    results: [
      { tool_call_id: 'tc_1', result: { name: 'John' } },
      { tool_call_id: 'tc_2', result: 'only entry' },
      { tool_call_id: 'tc_3', error: 'The nomatch service could not handle this request.' },
      { tool_call_id: 'tc_4', result: 42 },
      { tool_call_id: 'tc_5', error: 'Contact not found' },
      { tool_call_id: 'tc_6', error: '{"code":7}' },
      { tool_call_id: 'tc_7', result: { name: 'John', email: 'j@example.com' } },
      { tool_call_id: 'tc_8', result: [1, 2] },
      { tool_call_id: 'tc_9', result: 'The shop opens at nine.' },
      { tool_call_id: 'tc_10', result: '' },
      { tool_call_id: 'tc_11', result: { detail: 'x' } },
    ],
  });
});

t.test('failing backends answer with the fallback sentence, or a speakable error, inside the deadline', async (t) => {
  const backend = await startBackend(t, async (req, res) => {
    if (req.url === '/slow') {
      await sleep(5000);
      if (!res.destroyed) res.end('{}');
      return;
    }
    if (req.url === '/reset') return void res.socket?.destroy();
    if (req.url === '/bad-json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"result": ');
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ stack: 'at crm.internal:3000' }));
  });
  const dead = await closedPort();
  const gateway = await startGateway(t, head(`
upstreams:
  be: { url: "${backend.url}", timeout: 300ms }
  down: { url: "http://127.0.0.1:${dead}" }
tools:
  slow_tool: { upstream: be, path: /slow }
  slow_with_fallback: { upstream: be, path: /slow, fallback: "One moment, the system is slow today." }
  reset_tool: { upstream: be, path: /reset }
  bad_json: { upstream: be, path: /bad-json }
  server_error: { upstream: be, path: /500 }
  book_appointment: { upstream: down, fallback: "I can't reach the calendar right now. Shall I ask a colleague to call you back?" }
  dead_tool: { upstream: down }
`));
  const res = await send(`${gateway.url}/webhook`, toolCalls([['slow_tool', {}], ['slow_with_fallback', {}], ['reset_tool', {}], ['bad_json', {}], ['server_error', {}], ['book_appointment', {}], ['dead_tool', {}]]));
  t.equal(res.status, 200);
  t.strictSame(res.body, {
    results: [
      { tool_call_id: 'tc_1', error: 'The slow tool service did not answer in time.' },
      { tool_call_id: 'tc_2', result: 'One moment, the system is slow today.' },
      { tool_call_id: 'tc_3', error: 'The reset tool service is not reachable right now.' },
      { tool_call_id: 'tc_4', error: 'The bad json service could not handle this request.' },
      { tool_call_id: 'tc_5', error: 'The server error service could not handle this request.' },
      { tool_call_id: 'tc_6', result: "I can't reach the calendar right now. Shall I ask a colleague to call you back?" },
      { tool_call_id: 'tc_7', error: 'The dead tool service is not reachable right now.' },
    ],
  });
  t.ok(res.elapsedMs < 2000, `answered in ${Math.round(res.elapsedMs)} ms (upstream timeout 300 ms)`);
  t.notMatch(res.text, /127\.0\.0\.1|crm\.internal|stack/);
  // One log line per upstream attempt (a reason for transport failures, a status otherwise), and
  // one more for replies that arrived but could not be used.
  const attempts = gateway.logs.filter((l) => l.msg === 'upstream attempt').map((l) => [l.tool, l.reason ?? l.status]);
  t.strictSame(attempts.sort(), [['bad_json', 200], ['book_appointment', 'unavailable'], ['dead_tool', 'unavailable'], ['reset_tool', 'unavailable'], ['server_error', 500], ['slow_tool', 'timeout'], ['slow_with_fallback', 'timeout']]);
  const unusable = gateway.logs.filter((l) => l.msg === 'tool call failed').map((l) => [l.tool, l.reason, l.detail]);
  t.strictSame(unusable.sort(), [['bad_json', 'error', 'reply is not valid JSON'], ['server_error', 'error', 'HTTP 500']]);
});

t.test('the deadline cuts every upstream request: a 30 s backend with a 1 s deadline answers in < 1.5 s', async (t) => {
  let closedEarly = 0;
  const backend = await startBackend(t, async (_req, res) => {
    res.on('close', () => closedEarly++);
    await sleep(30_000);
  });
  const gateway = await startGateway(t, head(`
upstreams: { be: { url: "${backend.url}", timeout: 20s } }
tools:
  lookup: { upstream: be }
deadlines: { tool-calls: 1s }
`));
  const res = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}], ['lookup', { again: true }]]));
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', error: 'The lookup service did not answer in time.' }, { tool_call_id: 'tc_2', error: 'The lookup service did not answer in time.' }] });
  t.ok(res.elapsedMs >= 900 && res.elapsedMs < 1500, `answered in ${Math.round(res.elapsedMs)} ms`);
  // The upstream connections were closed at the deadline, not left running.
  const until = Date.now() + 2000;
  while (closedEarly < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.equal(closedEarly, 2);
  const answered = gateway.logs.find((l) => l.msg === 'webhook answered')!;
  // The reply left before the deadline (counted from when the request arrived), not after it.
  t.ok((answered.headroom_ms as number) >= 0 && (answered.headroom_ms as number) <= 200, `headroom ${String(answered.headroom_ms)} ms`);
});

t.test('path placeholders are URL-encoded; GET and DELETE send the other arguments as the query', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, head(`
upstreams: { orders: { url: "${backend.url}/api/" } }
tools:
  order_status: { upstream: orders, path: "/orders/{order_id}", method: GET }
  cancel_order: { url: "${backend.url}/orders/{order_id}?reason=caller", method: DELETE }
  update_order: { upstream: orders, path: "orders/{order_id}/notes", method: PATCH }
`));
  const res = await send(
    `${gateway.url}/webhook`,
    toolCalls([
      ['order_status', { order_id: '../A 7/3?x=1#y', verbose: true, limit: 3, filter: { state: 'open' }, tags: ['a', 'b'], note: 'a&b=c', empty: null }],
      ['cancel_order', { order_id: 42, by: 'phone' }],
      ['update_order', { order_id: 'A-1', note: 'call back' }],
      ['order_status', { verbose: true }],
      ['order_status', { order_id: '..' }],
      ['order_status', { order_id: '' }],
    ]),
  );
  t.strictSame(res.body, {
    results: [
      { tool_call_id: 'tc_1', result: 'ok' },
      { tool_call_id: 'tc_2', result: 'ok' },
      { tool_call_id: 'tc_3', result: 'ok' },
      { tool_call_id: 'tc_4', error: 'The tool order_status needs the argument "order_id".' },
      { tool_call_id: 'tc_5', error: 'The argument "order_id" of order_status is not a valid value.' },
      { tool_call_id: 'tc_6', error: 'The tool order_status needs the argument "order_id".' },
    ],
  });
  const seen = backend.requests.map((r) => [r.method, r.url, r.text]).sort((a, b) => a[0]!.localeCompare(b[0]!));
  t.strictSame(seen, [
    ['DELETE', '/orders/42?reason=caller&by=phone', ''],
    ['GET', '/api/orders/..%2FA%207%2F3%3Fx%3D1%23y?verbose=true&limit=3&filter=%7B%22state%22%3A%22open%22%7D&tags=%5B%22a%22%2C%22b%22%5D&note=a%26b%3Dc', ''],
    ['PATCH', '/api/orders/A-1/notes', '{"order_id":"A-1","note":"call back"}'],
  ]);
});

t.test('headers sent to a backend, and arguments given as a JSON string', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, head(`
upstreams: { crm: { url: "${backend.url}", headers: { Authorization: "Bearer up", x-env: up } } }
tools:
  lookup_contact: { upstream: crm, path: /contacts/search, headers: { x-env: target } }
assistants:
  sales:
    tools: { lookup_contact: { upstream: crm, path: /sales } }
`));
  const body = toolCalls([['lookup_contact', '{"query":"John Smith"}']]);
  const res = await send(`${gateway.url}/webhook/sales`, body);
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', result: 'ok' }] });
  const req = backend.requests[0]!;
  t.equal(req.url, '/sales');
  t.equal(req.text, '{"query":"John Smith"}');
  t.strictSame(
    { ...Object.fromEntries(['content-type', 'user-agent', 'x-call-id', 'x-tool-call-id', 'x-tool-name', 'x-assistant', 'authorization', 'x-env', 'x-webhook-signature'].map((h) => [h, req.headers[h]])) },
    {
      'content-type': 'application/json',
      'user-agent': `hms-tool-router/${VERSION}`,
      'x-call-id': 'call-1',
      'x-tool-call-id': 'tc_1',
      'x-tool-name': 'lookup_contact',
      'x-assistant': 'sales',
      authorization: 'Bearer up',
      'x-env': 'up',
      'x-webhook-signature': undefined,
    },
  );
  // The account-level table: the target's own header wins over the upstream's.
  await send(`${gateway.url}/webhook`, body);
  t.equal(backend.requests[1]!.headers['x-env'], 'target');
  t.equal(backend.requests[1]!.headers['x-assistant'], undefined);
});

t.test('entries that cannot be forwarded get an error entry and no request', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, head(`
upstreams: { be: { url: "${backend.url}" } }
tools: { known: { upstream: be } }
`));
  const body = toolCalls([['known', {}]]);
  const list = body.message.tool_call_list as Record<string, unknown>[];
  list.push({ id: 'no_name', type: 'function', function: { arguments: {} } });
  list.push({ id: 'bad_args', type: 'function', function: { name: 'known', arguments: '{"query": ' } });
  list.push({ id: 'array_args', type: 'function', function: { name: 'known', arguments: '[1]' } });
  list.push({ id: 'unrouted', type: 'function', function: { name: 'transfer_to_mars', arguments: {} } });
  const res = await send(`${gateway.url}/webhook`, body);
  t.strictSame(res.body, {
    results: [
      { tool_call_id: 'tc_1', result: 'ok' },
      { tool_call_id: 'no_name', error: 'The tool call has no function name.' },
      { tool_call_id: 'bad_args', error: 'The arguments for known could not be read: the arguments string is not valid JSON.' },
      { tool_call_id: 'array_args', error: 'The arguments for known could not be read: the arguments string is JSON but not an object.' },
      { tool_call_id: 'unrouted', error: 'No route for tool transfer_to_mars.' },
    ],
  });
  t.equal(backend.requests.length, 1);
});

t.test('body: message forwards the envelope narrowed to one call, re-signed the platform way', async (t) => {
  const legacy = await startBackend(t, (req, res) => {
    const verdict = verifySignature({
      signature: req.headers['x-webhook-signature'] as string,
      timestamp: req.headers['x-webhook-timestamp'] as string,
      body: req.body,
      secrets: ['legacy-secret'],
      toleranceMs: 300_000,
      allowUnsigned: false,
      nowMs: Date.now(),
    });
    const id = (req.json() as { message: { tool_call_list: { id: string }[] } }).message.tool_call_list[0]!.id;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: [{ tool_call_id: id, result: verdict.ok ? `verified ${id}` : 'bad signature' }] }));
  });
  const gateway = await startGateway(t, head(`
tools:
  legacy_lookup: { url: "${legacy.url}/hms-webhook", body: message, secret: legacy-secret }
fallback: { url: "${legacy.url}/fallback", secret: legacy-secret }
`));
  const inbound = toolCalls([['legacy_lookup', { q: 1 }], ['unknown_tool', { q: 2 }]]);
  const res = await send(`${gateway.url}/webhook`, inbound);
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', result: 'verified tc_1' }, { tool_call_id: 'tc_2', result: 'verified tc_2' }] });
  t.equal(legacy.requests.length, 2);
  for (const req of legacy.requests) {
    const id = req.headers['x-tool-call-id'] as string;
    const expected = { message: { ...inbound.message, tool_call_list: (inbound.message.tool_call_list as { id: string }[]).filter((c) => c.id === id) } };
    t.strictSame(req.json(), expected, `${req.url} carries only ${id}`);
    t.equal(req.headers['x-webhook-event'], 'tool-calls');
    t.match(req.headers['x-webhook-signature'], /^sha256=[0-9a-f]{64}$/);
    t.equal(req.headers['x-webhook-signature'], `sha256=${signatureHex('legacy-secret', req.headers['x-webhook-timestamp'] as string, req.body)}`);
    t.ok(Math.abs(Number(req.headers['x-webhook-timestamp']) - Date.now() / 1000) < 5, 'fresh timestamp');
  }
  t.strictSame(legacy.requests.map((r) => r.url).sort(), ['/fallback', '/hms-webhook']);
});

t.test('gateway stops cleanly while a tool call is in flight', async (t) => {
  const backend = await startBackend(t, json({ result: 'late but fine' }, 200, 300));
  const gateway = await startGateway(t, head(`
upstreams: { be: { url: "${backend.url}" } }
tools: { slow: { upstream: be } }
`));
  const pending = send(`${gateway.url}/webhook`, toolCalls([['slow', {}]]));
  await eventually(() => backend.requests.length === 1);
  const closing = gateway.app.close();
  const res = await pending;
  await closing;
  t.strictSame([res.status, res.body], [200, { results: [{ tool_call_id: 'tc_1', result: 'late but fine' }] }]);
});

t.test('a secret on a tool that sends its arguments signs those bytes the same way', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, head(`
tools:
  signed_write: { url: "${backend.url}/write", secret: backend-secret }
`));
  const res = await send(`${gateway.url}/webhook`, toolCalls([['signed_write', { amount: 5 }]]));
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', result: 'ok' }] });
  const req = backend.requests[0]!;
  t.equal(req.text, '{"amount":5}');
  t.equal(req.headers['x-webhook-event'], 'tool-calls');
  t.equal(req.headers['x-webhook-signature'], `sha256=${signatureHex('backend-secret', req.headers['x-webhook-timestamp'] as string, req.body)}`);
});

t.test("a tool's fallback sentence also covers non-2xx and unreadable replies", async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/bad-json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"result": ');
    res.writeHead(502).end();
  });
  const gateway = await startGateway(t, head(`
tools:
  bad_json: { url: "${backend.url}/bad-json", fallback: "Let me check that another way." }
  bad_gateway: { url: "${backend.url}/502", fallback: "The system is busy, one moment." }
`));
  const res = await send(`${gateway.url}/webhook`, toolCalls([['bad_json', {}], ['bad_gateway', {}]]));
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', result: 'Let me check that another way.' }, { tool_call_id: 'tc_2', result: 'The system is busy, one moment.' }] });
});

t.test("the gateway's own headers cannot be replaced by configuration, and payload values are made header-safe", async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, head(`
upstreams: { be: { url: "${backend.url}", headers: { user-agent: curl/8, content-type: text/plain, x-call-id: fixed, x-team: voice } } }
tools:
  "book\u00e9": { upstream: be, path: /book }
`));
  const body = toolCalls([['book\u00e9', { a: 1 }]], { call: { id: 'call-\u20ac\ninjected: yes' } });
  (body.message.tool_call_list as { id: string }[])[0]!.id = 'tc-\u00fc';
  const res = await send(`${gateway.url}/webhook`, body);
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc-\u00fc', result: 'ok' }] });
  const req = backend.requests[0]!;
  t.strictSame(
    ['user-agent', 'content-type', 'x-call-id', 'x-tool-call-id', 'x-tool-name', 'x-team', 'injected'].map((h) => req.headers[h]),
    [`hms-tool-router/${VERSION}`, 'application/json', 'call-%E2%82%AC%0Ainjected: yes', 'tc-%C3%BC', 'book%C3%A9', 'voice', undefined],
  );
});

t.test('a call that joins an identical write in flight hears what that call heard', async (t) => {
  const backend = await startBackend(t, async (_req, res) => {
    await sleep(100);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'The slot is taken.' }));
  });
  const gateway = await startGateway(t, head(`
tools:
  book: { url: "${backend.url}/book", side_effects: true, fallback: { error: "Booking failed." } }
`));
  const res = await send(`${gateway.url}/webhook`, toolCalls([['book', { at: 9 }], ['book', { at: 9 }]]));
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', error: 'The slot is taken.' }, { tool_call_id: 'tc_2', error: 'The slot is taken.' }] });
  t.equal(backend.requests.length, 1);
  // Failures are not remembered: the next identical call reaches the backend again.
  await send(`${gateway.url}/webhook`, toolCalls([['book', { at: 9 }]]));
  t.equal(backend.requests.length, 2);
});
