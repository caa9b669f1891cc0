// Durable delivery through the real gateway and a real SQLite file: retries with stable delivery
// ids, dead letters, order per call and target, 503 when the store cannot take events or refuses
// a commit, and a thousand events with random failures delivered exactly once each.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import Database from 'better-sqlite3';
import { sleep, startBackend } from '../helpers/backend.js';
import { envelope, eventually, send, startGateway, toolCalls } from '../helpers/gateway.js';
import { openOutboxStore } from '../../src/events/outbox-store.js';
import { signatureHex } from '../../src/signature.js';

const head = `version: 1
account: { secrets: [test-secret] }
delivery: { retry: { initial: 20ms, max: 100ms } }
`;

t.test('a failing target is retried with backoff; attempt 4 succeeds with the same delivery id', async (t) => {
  let calls = 0;
  const backend = await startBackend(t, (_req, res) => void res.writeHead(++calls <= 3 ? 503 : 204).end());
  const gateway = await startGateway(t, `${head}events: { end-of-call-report: { url: "${backend.url}/calls", secret: receiver-secret-0123456789 } }\n`);
  const report = JSON.stringify(envelope('end-of-call-report', { summary: 'Booked.' }));
  const res = await send(`${gateway.url}/webhook`, report);
  t.strictSame([res.status, res.body], [200, {}]);
  await eventually(() => backend.requests.length === 4, 5000);
  const ids = new Set(backend.requests.map((r) => r.headers['x-delivery-id']));
  t.equal(ids.size, 1, 'one delivery id across its attempts');
  t.strictSame(backend.requests.map((r) => r.headers['x-delivery-attempt']), ['1', '2', '3', '4']);
  for (const r of backend.requests) {
    t.equal(r.text, report, 'the envelope as received');
    t.equal(r.headers['x-webhook-event'], 'end-of-call-report');
    t.equal(r.headers['x-webhook-signature'], `sha256=${signatureHex('receiver-secret-0123456789', r.headers['x-webhook-timestamp'] as string, r.body)}`);
  }
  await eventually(() => gateway.logs.some((l) => l.msg === 'delivered'));
  t.match(gateway.logs.find((l) => l.msg === 'delivered'), { attempt: 4, status: 204, event: 'end-of-call-report' });
});

t.test('a 4xx other than 408/429 is final: dead-lettered at once with its last error', async (t) => {
  const backend = await startBackend(t, (_req, res) => void res.writeHead(400).end());
  const dir = mkdtempSync(join(tmpdir(), 'hms-dead-'));
  const storePath = join(dir, 'outbox.db');
  const gateway = await startGateway(t, `${head}store: { path: "${storePath}" }\nevents: { status-update: { url: "${backend.url}/status" } }\n`);
  await send(`${gateway.url}/webhook`, envelope('status-update'));
  await eventually(() => gateway.logs.some((l) => l.msg === 'delivery dead-lettered'));
  await sleep(200);
  t.equal(backend.requests.length, 1);
  const store = openOutboxStore(storePath);
  t.teardown(() => store.close());
  t.strictSame(
    store.list({ status: 'dead' }).map((r) => [r.event, r.attempts, r.lastError, r.callId]),
    [['status-update', 1, 'HTTP 400', 'call-1']],
  );
});

t.test('order per call and target: a later event waits while an earlier one is backing off', async (t) => {
  const seen: string[] = [];
  let firstFailures = 2;
  const backend = await startBackend(t, (req, res) => {
    const status = (req.json() as { message: { call: { status: string } } }).message.call.status;
    if (status === 'in-progress' && firstFailures-- > 0) return void res.writeHead(503).end();
    seen.push(status);
    res.writeHead(204).end();
  });
  const gateway = await startGateway(t, `${head}events: { status-update: { url: "${backend.url}/status" } }\n`);
  for (const status of ['in-progress', 'ended']) {
    await send(`${gateway.url}/webhook`, envelope('status-update', { call: { id: 'call-7', status } }));
  }
  // Another call is not held up by call-7's backoff.
  await send(`${gateway.url}/webhook`, envelope('status-update', { call: { id: 'call-8', status: 'other' } }));
  await eventually(() => seen.length === 3, 5000);
  t.strictSame(seen, ['other', 'in-progress', 'ended']);
});

t.test('a store that cannot be opened: events get 503, tool calls are served, /readyz says why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-nostore-'));
  writeFileSync(join(dir, 'not-a-dir'), 'x');
  const backend = await startBackend(t, (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"ok"}'));
  const gateway = await startGateway(
    t,
    `${head}store: { path: "${join(dir, 'not-a-dir', 'outbox.db')}" }\ntools:\n  lookup: { url: "${backend.url}/lookup" }\n  note: { url: "${backend.url}/note", async: true }\nevents: { end-of-call-report: { url: "${backend.url}/calls" } }\n`,
  );
  const report = await send(`${gateway.url}/webhook`, envelope('end-of-call-report'));
  t.strictSame([report.status, report.body], [503, { error: 'GW_ERR_STORE_UNAVAILABLE', message: 'The event could not be stored durably, so it was not accepted. Send it again; GET /readyz says what is wrong.' }]);
  const tools = await send(`${gateway.url}/webhook`, toolCalls([['lookup', {}], ['note', {}]]));
  t.strictSame(tools.body, { results: [{ tool_call_id: 'tc_1', result: 'ok' }, { tool_call_id: 'tc_2', error: 'The note request could not be taken right now.' }] });
  const ready = await request(`${gateway.url}/readyz`);
  t.equal(ready.statusCode, 503);
  const readiness = (await ready.body.json()) as { status: string; reasons: string[] };
  t.strictSame(readiness, { status: 'not ready', reasons: [readiness.reasons[0]] });
  t.match(readiness.reasons[0], /^the outbox store cannot be opened: .*not-a-dir/);
  const healthy = await request(`${gateway.url}/healthz`);
  t.equal(healthy.statusCode, 200);
  await healthy.body.dump();
});

t.test('/readyz is ready with a working store', async (t) => {
  const gateway = await startGateway(t, head);
  const ready = await request(`${gateway.url}/readyz`);
  t.strictSame([ready.statusCode, await ready.body.json()], [200, { status: 'ready' }]);
});

t.test('1,000 events across 10 targets with 20% random failures: every one delivered, each exactly once', async (t) => {
  t.setTimeout(60_000);
  // A fixed sequence of failures, so the run is reproducible.
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const succeeded = new Map<string, number>();
  const backend = await startBackend(t, (req, res) => {
    if (random() < 0.2) return void res.writeHead(random() < 0.5 ? 503 : 500).end();
    const id = String(req.headers['x-delivery-id']);
    succeeded.set(id, (succeeded.get(id) ?? 0) + 1);
    res.writeHead(204).end();
  });
  const targets = Array.from({ length: 10 }, (_, i) => `    - { url: "${backend.url}/sink/${i}" }`).join('\n');
  const gateway = await startGateway(t, `${head}events:\n  end-of-call-report:\n${targets}\n`);
  for (let batch = 0; batch < 10; batch++) {
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => send(`${gateway.url}/webhook`, envelope('end-of-call-report', { call: { id: `call-${batch}-${i}` } }))),
    );
    t.strictSame(new Set(replies.map((r) => r.status)), new Set([200]));
  }
  await eventually(() => succeeded.size === 1000, 45_000);
  await sleep(300);
  t.equal(succeeded.size, 1000, '100 events × 10 targets');
  t.strictSame([...new Set(succeeded.values())], [1], 'no delivery id succeeded twice');
});

t.test('delivered events older than store.retention are pruned; dead ones are kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-prune-'));
  const storePath = join(dir, 'outbox.db');
  const seed = openOutboxStore(storePath);
  const request = { targetId: 'POST http://127.0.0.1:1/x', targetUrl: 'http://127.0.0.1:1/x', path: '/x', method: 'POST', headers: {}, body: Buffer.from('{}') };
  const [oldDelivered, recentDelivered, oldDead] = seed.insert(
    [0, 1, 2].map((i) => ({ callId: `c${i}`, event: 'status-update', request })),
    Date.now() - 60_000,
  );
  seed.markDelivered(oldDelivered!, Date.now() - 60_000);
  seed.markDelivered(recentDelivered!, Date.now());
  seed.markDead(oldDead!, 'HTTP 400', Date.now() - 60_000);
  seed.close();
  const gateway = await startGateway(t, `${head}store: { path: "${storePath}", retention: 30s }\n`);
  await eventually(() => gateway.logs.some((l) => l.msg === 'pruned delivered events past store.retention'));
  await gateway.app.close();
  const store = openOutboxStore(storePath);
  t.teardown(() => store.close());
  t.strictSame(store.list({}).map((r) => [r.id, r.status]), [[recentDelivered, 'delivered'], [oldDead, 'dead']]);
});

t.test('a commit the store refuses: those events get 503 and are not stored, /readyz says why; the next ones are accepted', async (t) => {
  const backend = await startBackend(t, (_req, res) => void res.writeHead(204).end());
  const dir = mkdtempSync(join(tmpdir(), 'hms-refuse-'));
  const storePath = join(dir, 'outbox.db');
  const gateway = await startGateway(t, `${head}store: { path: "${storePath}" }\nevents: { end-of-call-report: { url: "${backend.url}/calls" } }\n`);
  // Stands in for a disk that refuses the commit: an error that ends the whole transaction.
  const other = new Database(storePath);
  other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON deliveries WHEN NEW.call_id LIKE 'boom%' BEGIN SELECT RAISE(ROLLBACK, 'disk I/O error'); END`);
  other.close();
  const report = (id: string) => envelope('end-of-call-report', { call: { id } });
  const stored = () => {
    const store = openOutboxStore(storePath);
    try {
      return new Set(store.list({}).map((r) => r.callId));
    } finally {
      store.close();
    }
  };

  const refused = await send(`${gateway.url}/webhook`, report('boom-1'));
  t.strictSame([refused.status, refused.body], [503, { error: 'GW_ERR_STORE_UNAVAILABLE', message: 'The event could not be stored durably, so it was not accepted. Send it again; GET /readyz says what is wrong.' }]);
  const notReady = await request(`${gateway.url}/readyz`);
  t.strictSame([notReady.statusCode, await notReady.body.json()], [503, { status: 'not ready', reasons: ['the outbox store refused a write: disk I/O error'] }]);

  const accepted = await send(`${gateway.url}/webhook`, report('fine-1'));
  t.equal(accepted.status, 200);
  const ready = await request(`${gateway.url}/readyz`);
  t.strictSame([ready.statusCode, await ready.body.json()], [200, { status: 'ready' }]);

  // Concurrent ones may share the refused commit: whatever heard 200 is stored, nothing else is.
  const ids = ['fine-2', 'fine-3', 'boom-2', 'fine-4', 'fine-5'];
  const replies = await Promise.all(ids.map((id) => send(`${gateway.url}/webhook`, report(id))));
  const inStore = stored();
  for (const [i, id] of ids.entries()) {
    const status = replies[i]!.status;
    t.ok(status === 200 || status === 503, `${id}: 200 or 503 (${status})`);
    t.equal(inStore.has(id), status === 200, `${id}: stored exactly when it heard 200`);
  }
  t.equal(replies[2]!.status, 503, 'the refused one is never accepted');
  t.equal(gateway.logs.filter((l) => l.msg === 'events not accepted: outbox store unavailable').length >= 1, true);
});

t.test('a stored delivery whose target left routes.yaml is dead-lettered without an attempt', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-gone-'));
  const storePath = join(dir, 'outbox.db');
  const seed = openOutboxStore(storePath);
  const gone = { targetId: 'POST http://127.0.0.1:1/gone', targetUrl: 'http://127.0.0.1:1/gone', path: '/gone', method: 'POST', headers: {}, body: Buffer.from('{}') };
  const [id] = seed.insert([{ callId: 'call-gone', event: 'status-update', request: gone }], Date.now());
  seed.close();
  const gateway = await startGateway(t, `${head}store: { path: "${storePath}" }\n`);
  await eventually(() => gateway.logs.some((l) => l.msg === 'delivery dead-lettered'), 20_000);
  t.match(gateway.logs.find((l) => l.msg === 'delivery dead-lettered'), { delivery_id: id, call_id: 'call-gone', event: 'status-update', target: 'http://127.0.0.1:1/gone', reason: 'target removed' });
  await gateway.app.close();
  const store = openOutboxStore(storePath);
  t.teardown(() => store.close());
  t.strictSame(
    store.list({}).map((r) => [r.id, r.status, r.attempts, r.lastError]),
    [[id, 'dead', 0, 'target no longer in routes.yaml']],
  );
});
