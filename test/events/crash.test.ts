// Durability across process death, with the built CLI as a real process and a real SQLite file:
// kill -9 right after the platform heard 200 (backend down), restart with the backend up, and the
// event arrives once, byte for byte; SIGTERM with a delivery in flight exits 0 and loses nothing.
import t, { type Test } from 'tap';
import { eventsListJson as listJson, eventsListUntil, outboxRoutesYaml, OUTBOX_SECRET, exitWithin, requireBuiltCli, RUN_LIMIT_MS, startCli, waitForLog, type Started } from '../helpers/cli.js';

/** As long as any CLI run may take. */
const listUntil = (t: Test, cwd: string, routes: string, predicate: (records: Record<string, unknown>[]) => boolean, what: string) => eventsListUntil(t, cwd, routes, predicate, what, RUN_LIMIT_MS);
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, json, sleep, startBackend, type ReceivedRequest } from '../helpers/backend.js';
import { eventually, send } from '../helpers/gateway.js';

const SECRET = OUTBOX_SECRET;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

t.setTimeout(180_000);

t.before(requireBuiltCli);

const start = (t: Test, args: string[], cwd: string) => startCli(t, args, { cwd });




async function startGatewayProcess(t: Test, routes: string, cwd: string): Promise<Started & { address: string }> {
  const server = start(t, ['serve', '--routes', routes, '--port', '0', '--host', '127.0.0.1'], cwd);
  const listening = await waitForLog(server, (record) => record.msg === 'hms-tool-router listening', RUN_LIMIT_MS);
  return { ...server, address: String(listening.address) };
}

/** A fresh directory under the system temp dir, removed at teardown (unique even if this file runs twice at once). */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'hms-events-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeRoutes(dir: string, target: string): string {
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, outboxRoutesYaml(join(dir, 'data', 'outbox.db'), target));
  return routes;
}

/** A backend on exactly `port` (127.0.0.1) that records requests and answers 200 {}; closed at teardown. */
async function backendOnPort(t: Test, port: number): Promise<{ requests: ReceivedRequest[] }> {
  const requests: ReceivedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, text: body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { requests };
}

function endOfCallReport(callId: string): string {
  // Spacing and key order a JSON round trip would not keep: the bytes must arrive as sent.
  return `{"message": {"type": "end-of-call-report", "timestamp": "2025-12-13T12:00:00.000Z",
  "call": {"id": "${callId}", "type": "inbound_phone_call", "status": "ended"},
  "phone_number": {"number": "+31850835037", "name": "Demo"}, "customer": {"number": "+31612345678"},
  "summary": "Caller asked about order 1234 \\u00e9", "ended_reason": "customer-ended-call"}}`;
}

t.test('kill -9 right after the 200 with the backend down: the restarted gateway delivers the event exactly once', async (t) => {
  const port = await closedPort();
  const dir = tempDir(t);
  const routes = writeRoutes(dir, `http://127.0.0.1:${port}/calls`);
  const first = await startGatewayProcess(t, routes, dir);

  const raw = endOfCallReport('call-crash-1');
  const res = await send(`${first.address}/webhook`, raw, { secret: SECRET, event: 'end-of-call-report' });
  first.child.kill('SIGKILL');
  t.equal(res.status, 200, 'the platform heard 200');
  t.strictSame(res.body, {}, 'with {}');
  const killed = await exitWithin(first, RUN_LIMIT_MS);
  t.equal(killed?.signal, 'SIGKILL', 'the first gateway died of SIGKILL');

  // What the dead process acknowledged is on disk, still to be delivered.
  const stored = await listJson(t, dir, routes);
  t.equal(stored.length, 1, 'one delivery in the store after the crash');
  t.match(stored[0], { call_id: 'call-crash-1', event: 'end-of-call-report', target: `http://127.0.0.1:${port}/calls`, status: 'pending' });

  const backend = await backendOnPort(t, port);
  const second = await startGatewayProcess(t, routes, dir);
  await eventually(() => backend.requests.length >= 1, RUN_LIMIT_MS);
  // Past several retry intervals (50-200ms) and outbox polls (500ms): no second copy comes.
  await sleep(2_000);
  t.equal(backend.requests.length, 1, 'the backend received the event exactly once');
  const received = backend.requests[0]!;
  t.equal(received.method, 'POST');
  t.equal(received.url, '/calls');
  t.ok(received.body.equals(Buffer.from(raw)), 'the original body, byte for byte');
  const deliveryId = received.headers['x-delivery-id'];
  t.match(deliveryId, UUID, 'an x-delivery-id header');
  const attempt = Number(received.headers['x-delivery-attempt']);
  t.ok(Number.isInteger(attempt) && attempt >= 1, `x-delivery-attempt >= 1 (${String(received.headers['x-delivery-attempt'])})`);
  t.equal(received.headers['x-webhook-event'], 'end-of-call-report');

  const [record, ...more] = await listUntil(t, dir, routes, (records) => records[0]?.status === 'delivered', 'the delivery is recorded delivered');
  t.strictSame(more, [], 'still one delivery');
  t.match(record, { delivery_id: deliveryId, call_id: 'call-crash-1', status: 'delivered', attempts: attempt, last_error: null });

  second.child.kill('SIGTERM');
  const exited = await exitWithin(second, RUN_LIMIT_MS);
  t.equal(exited?.code, 0, 'the restarted gateway exits 0 on SIGTERM');
  t.equal(backend.requests.length, 1, 'and sent nothing more on the way out');
});

t.test('SIGTERM with a delivery in flight: exits 0, and the delivery is delivered or back to pending', async (t) => {
  const backend = await startBackend(t, json({}, 200, 1_000));
  const dir = tempDir(t);
  const routes = writeRoutes(dir, `${backend.url}/calls`);
  const gateway = await startGatewayProcess(t, routes, dir);

  const raw = endOfCallReport('call-term-1');
  const res = await send(`${gateway.address}/webhook`, raw, { secret: SECRET, event: 'end-of-call-report' });
  t.equal(res.status, 200);
  t.strictSame(res.body, {});
  await eventually(() => backend.requests.length >= 1, RUN_LIMIT_MS);
  // The backend holds the request for a second: the delivery is in flight now.
  const signalled = Date.now();
  gateway.child.kill('SIGTERM');
  const exited = await exitWithin(gateway, RUN_LIMIT_MS);
  t.ok(exited !== undefined, `exits after SIGTERM (took ${Date.now() - signalled}ms)`);
  t.equal(exited?.code, 0, 'exit code 0');
  t.equal(exited?.signal, null, 'exited by itself');
  t.equal(exited?.stderr, '', 'nothing on stderr');

  const records = await listJson(t, dir, routes);
  t.equal(records.length, 1, 'the delivery is still in the store');
  const status = records[0]?.status;
  t.ok(status === 'delivered' || status === 'pending', `not lost: ${String(status)}`);
  t.equal(records[0]?.delivery_id, backend.requests[0]!.headers['x-delivery-id'], 'the delivery the backend saw');

  if (status === 'pending') {
    // Back to pending: the next start delivers it.
    const again = await startGatewayProcess(t, routes, dir);
    await listUntil(t, dir, routes, (r) => r[0]?.status === 'delivered', 'delivered after the restart');
    again.child.kill('SIGTERM');
    t.equal((await exitWithin(again, RUN_LIMIT_MS))?.code, 0);
  } else {
    t.equal(backend.requests.length, 1, 'delivered once, not resent');
  }
  t.ok(backend.requests.every((r) => r.body.equals(Buffer.from(raw))), 'every copy is the original body');
});
