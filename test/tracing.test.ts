// W3C trace context end to end: an incoming traceparent reaches every upstream request (each its
// own span id), a trace starts when none came in, events and async calls carry it through the
// outbox (also across a restart), and spans are exported over OTLP when configured.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseTraceparent } from '../src/trace-context.js';
import { json, startBackend } from './helpers/backend.js';
import { cleanEnv, requireBuiltCli, serveCli, exitWithin } from './helpers/cli.js';
import { envelope, eventually, send, startGateway, toolCalls } from './helpers/gateway.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const head = `
version: 1
account: { secrets: [test-secret] }
`;

t.test('parseTraceparent accepts the spec format and refuses the rest', async (t) => {
  t.strictSame(parseTraceparent(INCOMING), { traceId: TRACE_ID, parentId: '00f067aa0ba902b7', flags: '01' });
  t.strictSame(parseTraceparent(`01-${TRACE_ID}-00f067aa0ba902b7-00-future`), { traceId: TRACE_ID, parentId: '00f067aa0ba902b7', flags: '00' }, 'a later version is read by its first fields');
  for (const bad of [undefined, '', 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `00-${TRACE_ID}-${'0'.repeat(16)}-01`, `ff-${TRACE_ID}-00f067aa0ba902b7-01`, `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`, `00-${TRACE_ID}-00f067aa0ba902b7-01-extra`]) {
    t.equal(parseTraceparent(bad), undefined, String(bad));
  }
});

t.test('every upstream attempt continues the incoming trace with its own span id; tracestate passes through', async (t) => {
  let calls = 0;
  const backend = await startBackend(t, (_req, res) => void (++calls === 1 ? res.writeHead(503).end() : res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"ok"}')));
  const gateway = await startGateway(t, `${head}tools: { lookup: { url: "${backend.url}", method: GET, retries: 1 } }\n`);
  const res = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]]), { headers: { traceparent: INCOMING, tracestate: 'vendor=abc' } });
  t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', result: 'ok' }] });
  const seen = backend.requests.map((r) => parseTraceparent(r.headers.traceparent as string));
  t.equal(seen.length, 2);
  t.strictSame(seen.map((p) => [p?.traceId, p?.flags]), [[TRACE_ID, '01'], [TRACE_ID, '01']]);
  t.not(seen[0]!.parentId, seen[1]!.parentId, 'each attempt is its own span');
  t.not(seen[0]!.parentId, '00f067aa0ba902b7', 'the gateway adds its own span');
  t.strictSame(backend.requests.map((r) => r.headers.tracestate), ['vendor=abc', 'vendor=abc']);
  const answered = gateway.logs.find((l) => l.msg === 'webhook answered')!;
  t.equal(answered.trace_id, TRACE_ID, 'the webhook log line names the trace');
});

t.test('no (or an unreadable) traceparent: a new sampled trace starts per webhook', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const gateway = await startGateway(t, `${head}tools: { lookup: { url: "${backend.url}" } }\n`);
  await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]], { call: { id: 'a' } }));
  await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}]], { call: { id: 'b' } }), { headers: { traceparent: 'not-a-trace' } });
  const seen = backend.requests.map((r) => parseTraceparent(r.headers.traceparent as string)!);
  t.equal(seen.length, 2);
  t.not(seen[0]!.traceId, seen[1]!.traceId);
  t.strictSame(seen.map((p) => p.flags), ['01', '01']);
  t.strictSame(backend.requests.map((r) => r.headers.tracestate), [undefined, undefined]);
});

t.test('events and async tool calls carry the webhook trace through the outbox', async (t) => {
  const backend = await startBackend(t, json({}));
  const gateway = await startGateway(t, `${head}tools: { note: { url: "${backend.url}/note", async: true } }\nevents: { end-of-call-report: { url: "${backend.url}/report" } }\n`);
  await send(`${gateway.url}/webhook`, envelope('end-of-call-report'), { headers: { traceparent: INCOMING } });
  await send(`${gateway.url}/webhook`, toolCalls([['note', {}]]), { headers: { traceparent: INCOMING } });
  await eventually(() => backend.requests.length === 2);
  for (const req of backend.requests) t.equal(parseTraceparent(req.headers.traceparent as string)?.traceId, TRACE_ID, req.url);
});

t.test('the trace survives a restart: a delivery retried by the next process keeps it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-trace-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let up = false;
  const backend = await startBackend(t, (_req, res) => void res.writeHead(up ? 200 : 503).end());
  const yaml = `${head}store: { path: "${join(dir, 'outbox.db')}" }\nevents: { end-of-call-report: { url: "${backend.url}/report" } }\ndelivery: { retry: { initial: 200ms, max: 200ms } }\n`;
  const first = await startGateway(t, yaml);
  await send(`${first.url}/webhook`, envelope('end-of-call-report'), { headers: { traceparent: INCOMING } });
  await eventually(() => backend.requests.length === 1);
  await first.app.close();
  up = true;
  await startGateway(t, yaml);
  await eventually(() => backend.requests.length === 2);
  t.strictSame(backend.requests.map((r) => parseTraceparent(r.headers.traceparent as string)?.traceId), [TRACE_ID, TRACE_ID]);
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

t.test('with OTEL_EXPORTER_OTLP_ENDPOINT, spans are exported over OTLP/HTTP with call and tool call ids', async (t) => {
  requireBuiltCli();
  const collector = await startBackend(t, json({}));
  const backend = await startBackend(t, json({ result: 'ok' }));
  const dir = mkdtempSync(join(tmpdir(), 'hms-otel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, `${head}store: { path: "${join(dir, 'outbox.db')}" }\ntools: { lookup: { url: "${backend.url}/lookup" } }\n`);
  const server = await serveCli(t, file, { env: cleanEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: 'router-under-test' }) });
  await send(`${server.url}/webhook`, toolCalls([['lookup', {}]], { call: { id: 'call-otel' } }), { headers: { traceparent: INCOMING } });
  // Spans are batched; shutdown flushes them.
  server.child.kill('SIGTERM');
  t.equal((await exitWithin(server, 10_000))?.code, 0);
  const exports = collector.requests.filter((r) => r.url === '/v1/traces');
  t.ok(exports.length >= 1, 'spans were posted to /v1/traces');
  const body = exports.map((r) => r.json() as { resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[] });
  const spans = body.flatMap((b) => b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
  const attr = (span: OtlpSpan | undefined, key: string) => span?.attributes.find((a) => a.key === key)?.value.stringValue;
  t.equal(attr({ attributes: body[0]!.resourceSpans[0]!.resource.attributes } as OtlpSpan, 'service.name'), 'router-under-test');
  const server_ = spans.find((s) => s.name === 'webhook tool-calls');
  const client = spans.find((s) => s.name === `POST ${backend.origin}`);
  t.ok(server_ && client, `spans: ${spans.map((s) => s.name).join(', ')}`);
  t.equal(server_?.traceId.toLowerCase(), TRACE_ID);
  t.equal(server_?.parentSpanId?.toLowerCase(), '00f067aa0ba902b7', 'the server span continues the incoming trace');
  t.equal(attr(server_, 'hms.call_id'), 'call-otel');
  t.equal(client?.parentSpanId, server_?.spanId);
  t.equal(attr(client, 'hms.tool_call_id'), 'tc_1');
  t.equal(attr(client, 'hms.tool'), 'lookup');
  t.equal(parseTraceparent(backend.requests[0]!.headers.traceparent as string)?.parentId, client?.spanId.toLowerCase(), 'the backend sees the exported client span as its parent');
});
