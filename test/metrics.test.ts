// GET /metrics end to end: every hms_router_* metric is present, moves with real traffic, and keeps
// its labels bounded (unknown tools, unknown events); prom-client's process metrics keep their names.

import t from 'tap';
import { closedPort, json, sleep, startBackend } from './helpers/backend.js';
import { envelope, scrape, send, startGateway, toolCalls } from './helpers/gateway.js';

const head = `
version: 1
account: { secrets: [test-secret] }
`;

t.test('metrics are present before any traffic, in Prometheus text format', async (t) => {
  const gateway = await startGateway(t, head);
  const m = await scrape(gateway.url);
  t.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  for (const name of ['webhooks_total', 'tool_calls_total', 'upstream_duration_seconds', 'deadline_headroom_seconds', 'fallbacks_total', 'breaker_state', 'outbox_pending', 'dead_letters', 'config_version', 'config_reload_failures_total']) {
    t.match(m.text, new RegExp(`^# TYPE hms_router_${name} `, 'm'), name);
  }
  t.equal(m.value('hms_router_config_version'), 1);
  t.equal(m.value('hms_router_config_reload_failures_total'), 0);
  t.equal(m.value('hms_router_outbox_pending'), 0);
  t.equal(m.value('hms_router_dead_letters'), 0);
  // prom-client's default process metrics, under their standard names.
  t.ok(m.value('process_cpu_user_seconds_total')! >= 0);
  t.ok(m.value('process_resident_memory_bytes')! > 0);
  t.ok(m.value('nodejs_eventloop_lag_seconds')! >= 0);
});

t.test('tool calls, fallbacks, upstream durations, headroom and webhook outcomes after traffic', async (t) => {
  const crm = await startBackend(t, async (req, res) => {
    if (req.url === '/slow') await sleep(2000);
    if (req.url === '/broken') return void res.writeHead(500).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"ok"}');
  });
  const dead = await closedPort();
  const gateway = await startGateway(
    t,
    `${head}
upstreams: { crm: { url: "${crm.url}" } }
tools:
  lookup: { upstream: crm, path: /lookup }
  slow: { upstream: crm, path: /slow, fallback: "One moment please." }
  broken: { upstream: crm, path: /broken }
  direct: { url: "http://127.0.0.1:${dead}/x" }
  checked: { upstream: crm, parameters: { type: object, required: [id], properties: { id: { type: string } } } }
fallback: { url: "${crm.url}/catch-all" }
deadlines: { tool-calls: 600ms }
`,
  );
  const res = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}], ['slow', {}], ['broken', {}], ['direct', {}], ['checked', {}], ['made-up-tool-1', {}], ['made-up-tool-2', {}]]));
  t.equal(res.status, 200);
  const rejected = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]]), { secret: 'wrong-secret' });
  t.equal(rejected.status, 401);
  const weird = await send(`${gateway.url}/webhook`, envelope('something-new'));
  t.equal(weird.status, 200);

  const m = await scrape(gateway.url);
  const calls = (tool: string, upstream: string, outcome: string) => m.value('hms_router_tool_calls_total', { tool, upstream, outcome });
  t.equal(calls('lookup', 'crm', 'ok'), 1);
  t.equal(calls('slow', 'crm', 'timeout'), 1);
  t.equal(calls('broken', 'crm', 'error'), 1);
  t.equal(calls('direct', `http://127.0.0.1:${dead}`, 'unavailable'), 1, 'a url: target is labelled with its origin');
  t.equal(calls('checked', 'crm', 'invalid_arguments'), 1);
  t.equal(calls('unknown', crm.origin, 'ok'), 2, 'tools not in routes.yaml share the label unknown');
  t.notOk(m.text.includes('made-up-tool'), 'a tool name the platform made up never becomes a label');

  t.equal(m.value('hms_router_fallbacks_total', { tool: 'slow', reason: 'timeout' }), 1);
  t.equal(m.value('hms_router_fallbacks_total', { tool: 'broken', reason: 'error' }), 1);
  t.equal(m.value('hms_router_fallbacks_total', { tool: 'direct', reason: 'unavailable' }), 1);
  t.equal(m.value('hms_router_fallbacks_total', { tool: 'checked', reason: 'invalid_arguments' }), 1);

  t.equal(m.value('hms_router_upstream_duration_seconds_count', { upstream: 'crm' }), 3, 'lookup, broken, and slow cut at the deadline');
  t.equal(m.value('hms_router_upstream_duration_seconds_count', { upstream: crm.origin }), 2, 'the fallback target, by origin');
  t.equal(m.value('hms_router_deadline_headroom_seconds_count', { event: 'tool-calls' }), 1);
  const headroom = m.value('hms_router_deadline_headroom_seconds_sum', { event: 'tool-calls' })!;
  t.ok(headroom >= 0 && headroom < 0.6, `headroom ${headroom}s`);

  t.equal(m.value('hms_router_webhooks_total', { event: 'tool-calls', outcome: 'ok' }), 1);
  t.equal(m.value('hms_router_webhooks_total', { event: 'tool-calls', outcome: 'rejected' }), 1);
  t.equal(m.value('hms_router_webhooks_total', { event: 'other', outcome: 'ok' }), 1, 'unknown events share the label other');
  t.equal(m.value('hms_router_breaker_state', { upstream: 'crm' }), 0);
});

t.test('breaker_state follows the breaker: 0 closed, 2 open', async (t) => {
  const dead = await closedPort();
  const gateway = await startGateway(
    t,
    `${head}
upstreams: { gone: { url: "http://127.0.0.1:${dead}", breaker: { failures: 2, open_for: 1m } } }
tools: { lookup: { upstream: gone } }
`,
  );
  await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]], { call: { id: 'call-a' } }));
  t.equal((await scrape(gateway.url)).value('hms_router_breaker_state', { upstream: 'gone' }), 0);
  await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]], { call: { id: 'call-b' } }));
  t.equal((await scrape(gateway.url)).value('hms_router_breaker_state', { upstream: 'gone' }), 2);
});

t.test('outbox_pending and dead_letters count the durable outbox', async (t) => {
  const target = await startBackend(t, (req, res) => void res.writeHead(req.url === '/reject' ? 400 : 503).end());
  const gateway = await startGateway(
    t,
    `${head}
events:
  status-update: { url: "${target.url}/later" }
  end-of-call-report: { url: "${target.url}/reject" }
delivery: { retry: { initial: 1m } }
`,
  );
  t.equal((await send(`${gateway.url}/webhook`, envelope('status-update'))).status, 200);
  t.equal((await send(`${gateway.url}/webhook`, envelope('end-of-call-report'))).status, 200);
  let m = await scrape(gateway.url);
  for (let i = 0; i < 250 && m.value('hms_router_dead_letters') !== 1; i++) {
    await sleep(20);
    m = await scrape(gateway.url);
  }
  t.equal(m.value('hms_router_outbox_pending'), 1, 'the 503 waits for its retry');
  t.equal(m.value('hms_router_dead_letters'), 1, 'the 400 is final');
});

t.test('an assistant-request backend is timed like a tool backend', async (t) => {
  const backend = await startBackend(t, json({ assistant: { first_message: 'Hi' } }));
  const gateway = await startGateway(t, `${head}\nupstreams: { cfg: { url: "${backend.url}" } }\nevents: { assistant-request: { upstream: cfg } }\n`);
  await send(`${gateway.url}/webhook`, envelope('assistant-request'));
  const m = await scrape(gateway.url);
  t.equal(m.value('hms_router_upstream_duration_seconds_count', { upstream: 'cfg' }), 1);
  t.equal(m.value('hms_router_deadline_headroom_seconds_count', { event: 'assistant-request' }), 1);
});
