// The log lines a webhook produces, through the real gateway and its production logger: whole
// records, with phone numbers masked, secrets and signatures absent, and payloads only on request.

import t from 'tap';
import { json, startBackend } from '../helpers/backend.js';
import { send, startGateway, toolCalls } from '../helpers/gateway.js';

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A record without the fields every line has, and with timings (which vary) checked and fixed. */
function stable(record: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!record) return undefined;
  const { time, pid, hostname, ...rest } = record;
  for (const key of ['ms', 'headroom_ms']) if (typeof rest[key] === 'number') rest[key] = 'n';
  if (Array.isArray(rest.tools)) rest.tools = rest.tools.map((tool: Record<string, unknown>) => (typeof tool.ms === 'number' ? { ...tool, ms: 'n' } : tool));
  return rest;
}

const routes = (url: string, payloads: boolean) => `
version: 1
account: { secrets: [test-secret, second-secret] }
tools: { lookup: { url: "${url}/lookup", headers: { authorization: "Bearer sk-live-123", x-api-key: "k-999" } } }
logging: { payloads: ${payloads} }
`;

t.test('default: one line per webhook that sums up each tool call (the attempt at debug), phone numbers masked, no payloads or secrets', async (t) => {
  const backend = await startBackend(t, json({ result: { phone: '+31612345678', name: 'Jan' } }));
  const gateway = await startGateway(t, routes(backend.url, false));
  await send(`${gateway.url}/webhook`, toolCalls([['lookup', { phone: '+31612345678' }]], { call: { id: 'call_+31612345678_x' } }), { headers: { traceparent: TRACE } });
  const lines = gateway.logs.filter((l) => l.msg !== 'Server listening at ' + gateway.url).map(stable);
  t.strictSame(lines, [
    { level: 20, call_id: 'call_+31*******678_x', tool: 'lookup', tool_call_id: 'tc_1', upstream: backend.origin, matched: 'account', attempt: 1, ms: 'n', timeout_ms: 5000, status: 200, outcome: 'ok', msg: 'upstream attempt' },
    {
      level: 30,
      reqId: 'req-1',
      call_id: 'call_+31*******678_x',
      event: 'tool-calls',
      outcome: 'ok',
      ms: 'n',
      headroom_ms: 'n',
      routes_version: 1,
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      tools: [{ tool: 'lookup', tool_call_id: 'tc_1', upstream: backend.origin, matched: 'account', outcome: 'ok', attempts: 1, status: 200, ms: 'n' }],
      msg: 'webhook answered',
    },
  ]);
  const text = JSON.stringify(gateway.logs);
  for (const secret of ['sk-live-123', 'k-999', 'test-secret', 'second-secret', '612345678', 'Jan']) t.notOk(text.includes(secret), `${secret} is not logged`);
});

t.test("the webhook's line sums up every tool call: answered, unavailable and unrouted alike; failed attempts keep their own line", async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, `
version: 1
account: { secrets: [test-secret] }
tools:
  lookup: { url: "${backend.url}/lookup" }
  down: { url: "http://127.0.0.1:9/down" }
`);
  const res = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}], ['down', {}], ['nowhere', {}]], { call: { id: 'c-2' } }));
  t.equal(res.status, 200);
  const answered = stable(gateway.logs.find((l) => l.msg === 'webhook answered'));
  t.strictSame(answered?.tools, [
    { tool: 'lookup', tool_call_id: 'tc_1', upstream: backend.origin, matched: 'account', outcome: 'ok', attempts: 1, status: 200, ms: 'n' },
    { tool: 'down', tool_call_id: 'tc_2', upstream: 'http://127.0.0.1:9', matched: 'account', outcome: 'unavailable', attempts: 1 },
    { tool: 'nowhere', tool_call_id: 'tc_3', outcome: 'error' },
  ]);
  const info = gateway.logs.filter((l) => l.msg === 'upstream attempt' && (l.level as number) >= 30).map((l) => [l.level, l.tool, l.reason]);
  t.strictSame(info, [[40, 'down', 'unavailable']]);
});

t.test('logging.payloads: true adds arguments, results and the message, still masked', async (t) => {
  const backend = await startBackend(t, json({ result: { phone: '+31612345678', name: 'Jan' } }));
  const gateway = await startGateway(t, routes(backend.url, true));
  const body = toolCalls([['lookup', { phone: '+31612345678' }]], { call: { id: 'c-1' } });
  await send(`${gateway.url}/webhook`, body);
  t.strictSame(stable(gateway.logs.find((l) => l.msg === 'tool call payload')), {
    level: 30,
    call_id: 'c-1',
    tool: 'lookup',
    tool_call_id: 'tc_1',
    arguments: { phone: '+31*******678' },
    result: { phone: '+31*******678', name: 'Jan' },
    msg: 'tool call payload',
  });
  const answered = gateway.logs.find((l) => l.msg === 'webhook answered')!;
  t.strictSame(answered.payload, {
    ...body.message,
    call: { id: 'c-1' },
    phone_number: { number: '+31*******037', name: 'Demo' },
    customer: { number: '+31*******678' },
    tool_call_list: [{ id: 'tc_1', type: 'function', function: { name: 'lookup', arguments: { phone: '+31*******678' } } }],
  });
  t.notOk(JSON.stringify(gateway.logs).includes('sk-live-123'));
});

t.test('signature failures say why, without the secret or the expected signature', async (t) => {
  const gateway = await startGateway(t, routes('http://127.0.0.1:9', false));
  const cases: [Parameters<typeof send>[2], string, string][] = [
    [{ secret: 'wrong' }, 'GW_ERR_SIGNATURE_INVALID', 'no configured secret matched (tried 2)'],
    [{ secret: '' }, 'GW_ERR_SIGNATURE_MISSING', 'no X-Webhook-Signature header'],
    [{ timestamp: Math.floor(Date.now() / 1000) - 3600 }, 'GW_ERR_TIMESTAMP_STALE', "timestamp is 3600s away from this host's clock (tolerance 300s)"],
    [{ headers: { 'x-webhook-signature': 'sha256=nothex' } }, 'GW_ERR_SIGNATURE_INVALID', 'signature is not 64 lowercase hex characters (optionally prefixed sha256=)'],
  ];
  for (const [options, code, reason] of cases) {
    gateway.logs.length = 0;
    const res = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]]), options);
    t.equal(res.status, 401, code);
    const rejected = gateway.logs.find((l) => l.msg === 'webhook signature rejected');
    t.strictSame(stable(rejected), { level: 40, reqId: rejected?.reqId, error: code, reason, msg: 'webhook signature rejected' }, reason);
  }
  const text = JSON.stringify(gateway.logs);
  t.notOk(/test-secret|second-secret|[0-9a-f]{64}/.test(text), 'no secret and no hex digest in any line');
});

t.test('a refused webhook has its own line: event, outcome, status, code and time', async (t) => {
  const gateway = await startGateway(t, routes('http://127.0.0.1:9', false));
  const res = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]]), { contentType: 'text/plain' });
  t.equal(res.status, 415);
  t.strictSame(stable(gateway.logs.find((l) => l.msg === 'request rejected')), {
    level: 30,
    reqId: 'req-1',
    url: '/webhook',
    event: 'tool-calls',
    outcome: 'rejected',
    status: 415,
    error: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
    ms: 'n',
    msg: 'request rejected',
  });
});
