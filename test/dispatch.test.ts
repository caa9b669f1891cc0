// Events other than tool calls: assistant-request (static, forwarded, failing, timing out,
// fallback), status-update and end-of-call-report fan-out, unknown events to the fallback.

import t from 'tap';
import { closedPort, json, sleep, startBackend } from './helpers/backend.js';
import { envelope, eventually, send, startGateway } from './helpers/gateway.js';
import { signatureHex } from '../src/signature.js';
import { VERSION } from '../src/version.js';

const head = `
version: 1
account: { secrets: [test-secret] }
`;

t.test('assistant-request: static alone answers without any backend', async (t) => {
  const gateway = await startGateway(t, `${head}
events:
  assistant-request: { static: { assistant: { first_message: "Hi!" }, max_duration_seconds: 300 } }
`);
  const res = await send(`${gateway.url}/webhook`, envelope('assistant-request'));
  t.strictSame([res.status, res.body], [200, { assistant: { first_message: 'Hi!' }, max_duration_seconds: 300 }]);
});

t.test("assistant-request: the backend's JSON object is returned as-is", async (t) => {
  const answer = { assistant_id: 'a-1', assistant_override: { first_message: 'Hello John' }, metadata: { crm_id: 7 } };
  const backend = await startBackend(t, json(answer));
  const gateway = await startGateway(t, `${head}
upstreams: { crm: { url: "${backend.url}" } }
events:
  assistant-request: { upstream: crm, path: /assistant-config, secret: crm-secret, static: { assistant: { first_message: "static" } } }
`);
  const inbound = envelope('assistant-request', { call: { id: 'c-9', status: 'ringing' } });
  const res = await send(`${gateway.url}/webhook`, inbound);
  t.strictSame([res.status, res.body], [200, answer]);
  const req = backend.requests[0]!;
  t.equal(req.url, '/assistant-config');
  t.strictSame(req.json(), inbound, 'the envelope as received');
  t.equal(req.headers['x-webhook-event'], 'assistant-request');
  t.equal(req.headers['x-call-id'], 'c-9');
  // The default 5 s upstream timeout is within the 4 s deadline's remaining time minus the reply reserve.
  t.ok(Number(req.headers['x-deadline-ms']) > 3500 && Number(req.headers['x-deadline-ms']) <= 3975, `x-deadline-ms ${String(req.headers['x-deadline-ms'])}`);
  t.equal(req.headers['x-webhook-signature'], `sha256=${signatureHex('crm-secret', req.headers['x-webhook-timestamp'] as string, req.body)}`);
});

t.test('assistant-request: failure, non-object reply or timeout gives static, else {}', async (t) => {
  const backend = await startBackend(t, async (req, res) => {
    if (req.url === '/slow') {
      await sleep(10_000);
      return;
    }
    if (req.url === '/array') return void res.writeHead(200, { 'content-type': 'application/json' }).end('[1]');
    if (req.url === '/text') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    res.writeHead(503).end();
  });
  const dead = await closedPort();
  const config = (path: string, withStatic: boolean) => `${head}
upstreams: { crm: { url: "${path.startsWith('http') ? path : backend.url}" } }
events:
  assistant-request: { upstream: crm, path: "${path.startsWith('http') ? '/' : path}"${withStatic ? ', static: { assistant: { first_message: "Saved greeting" } }' : ''} }
deadlines: { assistant-request: 800ms }
`;
  for (const [path, label] of [['/503', 'HTTP 503'], ['/array', 'JSON array'], ['/text', 'plain text'], [`http://127.0.0.1:${dead}`, 'refused'], ['/slow', 'timeout']] as const) {
    for (const withStatic of [true, false]) {
      const gateway = await startGateway(t, config(path, withStatic));
      const res = await send(`${gateway.url}/webhook`, envelope('assistant-request'));
      t.strictSame([res.status, res.body], [200, withStatic ? { assistant: { first_message: 'Saved greeting' } } : {}], `${label}, static=${withStatic}`);
      t.ok(res.elapsedMs < 1500, `${label}: answered in ${Math.round(res.elapsedMs)} ms (deadline 800 ms)`);
      await gateway.app.close();
    }
  }
});

t.test('assistant-request: no route uses the fallback handler, else {}', async (t) => {
  const legacy = await startBackend(t, json({ assistant: { first_message: 'from legacy' } }));
  const withFallback = await startGateway(t, `${head}
fallback: { url: "${legacy.url}/hms" }
`);
  const res = await send(`${withFallback.url}/webhook`, envelope('assistant-request'));
  t.strictSame(res.body, { assistant: { first_message: 'from legacy' } });
  t.equal(legacy.requests[0]!.url, '/hms');
  const bare = await startGateway(t, head);
  const empty = await send(`${bare.url}/webhook`, envelope('assistant-request'));
  t.strictSame([empty.status, empty.body], [200, {}]);
});

t.test("assistant-request: a phone-matched assistant's own route", async (t) => {
  const gateway = await startGateway(t, `${head}
events:
  assistant-request: { static: { assistant: { first_message: "account" } } }
assistants:
  sales:
    phone_numbers: ["+31850835037"]
    events:
      assistant-request: { static: { assistant: { first_message: "sales" } } }
  support: {}
`);
  t.strictSame((await send(`${gateway.url}/webhook`, envelope('assistant-request'))).body, { assistant: { first_message: 'sales' } });
  t.strictSame((await send(`${gateway.url}/webhook`, envelope('assistant-request', { phone_number: { number: '+1 555' } }))).body, { assistant: { first_message: 'account' } });
  t.strictSame((await send(`${gateway.url}/webhook/support`, envelope('assistant-request'))).body, { assistant: { first_message: 'account' } });
});

t.test('status-update and end-of-call-report: answered at once, a copy to every target', async (t) => {
  let crmAnswered = 0;
  const crm = await startBackend(t, async (_req, res) => {
    await sleep(400);
    crmAnswered++;
    res.writeHead(204).end();
  });
  const warehouse = await startBackend(t, (_req, res) => void res.writeHead(500).end());
  const dead = await closedPort();
  const gateway = await startGateway(t, `${head}
upstreams: { crm: { url: "${crm.url}" } }
events:
  status-update: { upstream: crm, path: /call-status }
  end-of-call-report:
    - { upstream: crm, path: /calls, secret: crm-secret }
    - { url: "${warehouse.url}/ingest" }
    - { url: "http://127.0.0.1:${dead}/gone" }
`);
  const status = envelope('status-update', { call: { id: 'c-1', status: 'ended' } });
  const report = envelope('end-of-call-report', { summary: 'Booked.', duration_seconds: 84 });
  const raw = JSON.stringify(report);
  const r1 = await send(`${gateway.url}/webhook`, status);
  const r2 = await send(`${gateway.url}/webhook`, raw);
  t.strictSame([r1.status, r1.body, r2.status, r2.body], [200, {}, 200, {}]);
  // Ordering, not a time: the first event may also wait for the outbox's writer thread to start.
  t.equal(crmAnswered, 0, 'both acknowledged before the 400 ms backend answered either');
  await eventually(() => crm.requests.length === 2 && warehouse.requests.length === 1);
  const calls = crm.requests.find((r) => r.url === '/calls')!;
  t.equal(calls.text, raw, 'forwarded byte for byte');
  t.equal(calls.headers['x-webhook-signature'], `sha256=${signatureHex('crm-secret', calls.headers['x-webhook-timestamp'] as string, calls.body)}`);
  t.equal(calls.headers['x-webhook-event'], 'end-of-call-report');
  t.strictSame(crm.requests.find((r) => r.url === '/call-status')!.json(), status);
  t.equal(warehouse.requests[0]!.url, '/ingest');
  // Failed deliveries are logged with their reason, and retried later.
  await eventually(() => gateway.logs.filter((l) => l.msg === 'delivery failed; will retry').length >= 2);
  const failed = gateway.logs.filter((l) => l.msg === 'delivery failed; will retry' && l.attempt === 1).map((l) => [new URL(String(l.target)).origin, String(l.last_error).split(':')[0], l.status]);
  t.strictSame(failed.sort((a, b) => String(a[1]).localeCompare(String(b[1]))), [[warehouse.origin, 'HTTP 500', 500], [`http://127.0.0.1:${dead}`, 'unavailable', undefined]]);
  // Logs never carry the summary or the caller's number.
  t.notMatch(JSON.stringify(gateway.logs), /Booked|\+3161/);
});

t.test("an assistant's events replace the account's for that event only", async (t) => {
  const be = await startBackend(t, (_req, res) => void res.writeHead(200).end());
  const gateway = await startGateway(t, `${head}
upstreams: { be: { url: "${be.url}" } }
events:
  status-update: { upstream: be, path: /account-status }
  end-of-call-report: { upstream: be, path: /account-report }
assistants:
  sales:
    events:
      end-of-call-report: [{ upstream: be, path: /sales-report }]
`);
  await send(`${gateway.url}/webhook/sales`, envelope('status-update'));
  await send(`${gateway.url}/webhook/sales`, envelope('end-of-call-report'));
  await eventually(() => be.requests.length === 2);
  t.strictSame(be.requests.map((r) => [r.url, r.headers['x-assistant']]).sort(), [['/account-status', 'sales'], ['/sales-report', 'sales']]);
});

t.test('events with no route, and unknown events, go whole to the fallback', async (t) => {
  const legacy = await startBackend(t, (_req, res) => void res.writeHead(200).end());
  const gateway = await startGateway(t, `${head}
fallback: { url: "${legacy.url}/hms-webhook", secret: legacy }
`);
  const unknown = JSON.stringify(envelope('speech-update', { role: 'user' }));
  const report = JSON.stringify(envelope('end-of-call-report'));
  t.strictSame((await send(`${gateway.url}/webhook`, unknown)).body, {});
  t.strictSame((await send(`${gateway.url}/webhook`, report)).body, {});
  await eventually(() => legacy.requests.length === 2);
  t.strictSame(legacy.requests.map((r) => [r.url, r.headers['x-webhook-event'], r.text]).sort(), [
    ['/hms-webhook', 'end-of-call-report', report],
    ['/hms-webhook', 'speech-update', unknown],
  ]);
  for (const r of legacy.requests) t.equal(r.headers['x-webhook-signature'], `sha256=${signatureHex('legacy', r.headers['x-webhook-timestamp'] as string, r.body)}`);
});

t.test("a phone-matched assistant's own event targets; every copy carries the gateway's user-agent", async (t) => {
  const be = await startBackend(t, (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  const gateway = await startGateway(t, `${head}
upstreams: { be: { url: "${be.url}" } }
events:
  assistant-request: { upstream: be, path: /account-config }
  status-update: { upstream: be, path: /account-status }
assistants:
  sales:
    phone_numbers: ["+31 85 083 5037"]
    events:
      status-update: { upstream: be, path: /sales-status }
fallback: { url: "${be.url}/fallback" }
`);
  await send(`${gateway.url}/webhook`, envelope('status-update'));
  await send(`${gateway.url}/webhook`, envelope('status-update', { phone_number: { number: '+44 20 7946 0000' } }));
  await send(`${gateway.url}/webhook`, envelope('assistant-request'));
  await send(`${gateway.url}/webhook`, envelope('end-of-call-report'));
  await eventually(() => be.requests.length === 4);
  t.strictSame(be.requests.map((r) => [r.url, r.headers['x-assistant'], r.headers['user-agent']]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))), [
    ['/account-config', 'sales', `hms-tool-router/${VERSION}`],
    ['/account-status', undefined, `hms-tool-router/${VERSION}`],
    ['/fallback', 'sales', `hms-tool-router/${VERSION}`],
    ['/sales-status', 'sales', `hms-tool-router/${VERSION}`],
  ]);
});

t.test('a call id that embeds a phone number is masked in every log line, but sent in full to backends', async (t) => {
  const be = await startBackend(t, (_req, res) => void res.writeHead(204).end());
  const gateway = await startGateway(t, `${head}
events:
  status-update: { url: "${be.url}/status" }
`);
  const callId = 'call-_+31612345678_abc123';
  await send(`${gateway.url}/webhook`, envelope('status-update', { call: { id: callId, status: 'ended' } }));
  await eventually(() => gateway.logs.some((l) => l.msg === 'delivered'));
  t.equal(be.requests[0]!.headers['x-call-id'], callId);
  const logged = gateway.logs.filter((l) => l.call_id !== undefined).map((l) => l.call_id);
  t.strictSame(logged, ['call-_+31*******678_abc123', 'call-_+31*******678_abc123']);
  t.notMatch(JSON.stringify(gateway.logs), '612345678');
});
