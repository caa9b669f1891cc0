// Durable acknowledgements: end-of-call-report webhooks/s answered 200 with the event committed
// to the SQLite outbox (WAL, synchronous FULL), at 50 concurrent senders for a bounded time; every
// acknowledged call must be in the store. Also: deliveries made meanwhile, and CPU per ack.
// Usage: npm run bench:durable [-- --seconds 10 --senders 50]. Loopback only; stops everything.

import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Pool } from 'undici';
import { buildApp } from '../dist/app.js';
import { parseConfig } from '../dist/config/load.js';
import { openOutboxStore } from '../dist/events/outbox-store.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, senders: { type: 'string', default: '50' } } });
const seconds = Math.min(60, Number(values.seconds));
const senders = Math.min(500, Number(values.senders));
const secret = 'bench-secret-0123456789abcdef';

const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
});
await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkUrl = `http://127.0.0.1:${sink.address().port}`;

const dir = mkdtempSync(join(tmpdir(), 'hms-bench-'));
const { config } = parseConfig(
  `version: 1
account: { secrets: ["${secret}"] }
store: { path: "${join(dir, 'outbox.db')}" }
events: { end-of-call-report: { url: "${sinkUrl}/calls" } }
`,
  'bench.yaml',
  {},
);
const app = await buildApp({ config, logger: pino({ level: 'warn' }) });
const address = await app.listen({ port: 0, host: '127.0.0.1' });

// A 1 KB report, signed once per request (the timestamp changes every second).
const summary = 'x'.repeat(800);
const client = new Pool(address, { connections: senders });
const latencies = [];
const ackedCalls = new Set();
let acked = 0;
let failed = 0;
const until = Date.now() + seconds * 1000;
let n = 0;
async function sender() {
  while (Date.now() < until) {
    const callId = `bench-${n++}`;
    const body = JSON.stringify({ message: { type: 'end-of-call-report', call: { id: callId, status: 'ended' }, summary, duration_seconds: 84 } });
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    const started = performance.now();
    const res = await client.request({ path: '/webhook', method: 'POST', headers: { 'content-type': 'application/json', 'x-webhook-timestamp': ts, 'x-webhook-signature': `sha256=${signature}` }, body });
    await res.body.dump();
    latencies.push(performance.now() - started);
    if (res.statusCode === 200) {
      acked++;
      ackedCalls.add(callId);
    } else failed++;
  }
}
const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(Array.from({ length: senders }, sender));
const elapsed = (performance.now() - started) / 1000;
// All threads of this process (gateway, its writer, senders, sink): robust to a busy machine.
const cpu = process.cpuUsage(cpuBefore);

await client.close();
await app.close();
sink.closeAllConnections();
await new Promise((resolve) => sink.close(resolve));
const store = openOutboxStore(join(dir, 'outbox.db'));
const counts = store.counts();
const stored = Object.values(counts).reduce((a, b) => a + b, 0);
for (const row of store.list({})) ackedCalls.delete(row.callId);
store.close();
rmSync(dir, { recursive: true, force: true });

latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]?.toFixed(2);
console.log(`| senders | seconds | acknowledged/s | p50 ms | p99 ms | acknowledged | stored | failed | delivered/s | still pending | CPU ms/s | CPU µs/ack |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|`);
console.log(`| ${senders} | ${elapsed.toFixed(1)} | ${Math.round(acked / elapsed)} | ${pct(0.5)} | ${pct(0.99)} | ${acked} | ${stored} | ${failed} | ${Math.round(counts.delivered / elapsed)} | ${counts.pending} | ${Math.round((cpu.user + cpu.system) / 1000 / elapsed)} | ${Math.round((cpu.user + cpu.system) / acked)} |`);
if (stored < acked || ackedCalls.size > 0) {
  console.error(`LOST: ${ackedCalls.size} acknowledged events are not in the store`);
  process.exitCode = 1;
}
