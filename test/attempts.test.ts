// createAttemptRunner over the real forwarder and pools against backends on 127.0.0.1: x-deadline-ms,
// which failures are retried and when, Retry-After, the p90 rule, hedging, the breaker and aborts.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { backoffMs, createAttemptRunner, retryAfterMs, type AttemptsInput, type AttemptsOutcome } from '../src/attempts.js';
import { createBreaker, DEFAULT_BREAKER, type BreakerSettings } from '../src/breaker.js';
import { createForwarder } from '../src/forward.js';
import { createLatencyWindow } from '../src/latency.js';
import { compileTarget } from '../src/target.js';
import type { ToolPolicy } from '../src/tool-policy.js';
import type { UpstreamHealth } from '../src/upstream-health.js';
import { createUpstreamPools } from '../src/upstream-pools.js';
import { closedPort, json, startBackend, type Backend } from './helpers/backend.js';

type Log = Record<string, unknown> & { msg: string };

/** A real wait that keeps the process alive. */
const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Answers after `ms`, unless the client goes away first; resolves true when the client left. */
const hold = (ms: number, res: ServerResponse) =>
  new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

const policyOf = (p: Partial<ToolPolicy> = {}): ToolPolicy => ({
  fallbacks: {},
  retries: 0,
  repeatable: false,
  hedgeMs: undefined,
  sideEffects: false,
  continueAfterDeadline: false,
  async: false,
  asyncResponse: 'OK',
  checkArguments: undefined,
  ...p,
});

const healthOf = (breaker: Partial<BreakerSettings> = {}, now: () => number = Date.now, samples: number[] = []): UpstreamHealth => {
  const latency = createLatencyWindow();
  for (const ms of samples) latency.add(ms);
  return { breaker: createBreaker({ ...DEFAULT_BREAKER, failures: 100, ...breaker }, now), latency };
};

/** The runner on the real forwarder and pools, logging into `logs`; pools closed at teardown. */
function runnerFor(t: Test, origins: string[], now: () => number = Date.now, level = 'info') {
  const pools = createUpstreamPools(origins);
  t.teardown(() => pools.close());
  const logs: Log[] = [];
  const logger = pino({ level }, { write: (line: string) => void logs.push(JSON.parse(line) as Log) });
  const run = createAttemptRunner({ forward: createForwarder((origin) => pools.dispatcherFor(origin)), now, logger, random: () => 0 });
  return { run, logs };
}

interface InputOptions {
  policy?: Partial<ToolPolicy>;
  health?: UpstreamHealth;
  timeout?: number;
  cutoffIn?: number;
  cutoffAt?: number;
  signal?: AbortSignal;
  now?: () => number;
}

function inputFor(origin: string, o: InputOptions = {}): AttemptsInput {
  const now = o.now ?? Date.now;
  const target = compileTarget({ url: `${origin}/tool`, timeout: o.timeout ?? 1000 }, {}, { path: '/', body: 'arguments' });
  return {
    request: { origin: target.origin, path: '/tool', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"city":"Utrecht"}' },
    target,
    policy: policyOf(o.policy),
    health: o.health ?? healthOf({}, now),
    cutoffAt: o.cutoffAt ?? now() + (o.cutoffIn ?? 10_000),
    signal: o.signal,
    isFailure: (response) => response.status >= 500,
    log: { tool: 'weather', call_id: 'call-1' },
  };
}

/** The outcome without timings, its body as text: a whole value to compare. */
const plain = (outcome: AttemptsOutcome) =>
  outcome.ok ? { ok: true, status: outcome.response.status, body: outcome.response.body.toString('utf8'), attempts: outcome.attempts } : outcome;

const deadlines = (backend: Backend) => backend.requests.map((r) => r.headers['x-deadline-ms']);

/** Answers `status` (with optional headers) to the first `failures` requests, then 200. */
function failing(status: number, failures: number, headers: Record<string, string> = {}) {
  let seen = 0;
  return (_req: unknown, res: ServerResponse) => {
    seen++;
    if (seen <= failures) res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`{"error":"status ${status}"}`);
    else res.writeHead(200, { 'content-type': 'application/json' }).end(`{"result":"ok after ${seen - 1}"}`);
  };
}

/** A raw TCP server that resets every connection once the request arrives. */
async function startResetting(t: Test): Promise<{ origin: string; connections: () => number }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => socket.resetAndDestroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

t.test('x-deadline-ms is the target timeout when more time is left', async (t) => {
  const backend = await startBackend(t, json({ result: 'Sunny' }));
  const { run, logs } = runnerFor(t, [backend.origin]);
  const outcome = await run(inputFor(backend.origin, { timeout: 1000, cutoffIn: 5000 }));
  t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"Sunny"}', attempts: 1 });
  t.strictSame(deadlines(backend), ['1000']);
  t.strictSame(backend.requests.map((r) => [r.method, r.url, r.headers['content-type'], r.text]), [['POST', '/tool', 'application/json', '{"city":"Utrecht"}']]);
  // A first attempt that answered is summed up by the webhook's line: at info it has none of its own.
  t.strictSame(logs, []);
});

t.test('a first attempt that answered is logged at debug only', async (t) => {
  const backend = await startBackend(t, json({ result: 'Sunny' }));
  const { run, logs } = runnerFor(t, [backend.origin], Date.now, 'debug');
  t.match(plain(await run(inputFor(backend.origin, { timeout: 1000, cutoffIn: 5000 }))), { ok: true, status: 200, attempts: 1 });
  t.match(logs, [{ level: 20, msg: 'upstream attempt', tool: 'weather', call_id: 'call-1', attempt: 1, status: 200, outcome: 'ok', timeout_ms: 1000, ms: Number }]);
  t.equal(logs.length, 1);
});

t.test('an attempt that answered but failed (5xx) is logged at info, as is a later attempt that answered', async (t) => {
  let calls = 0;
  const backend = await startBackend(t, (_req, res) => void (++calls === 1 ? res.writeHead(503).end('{"error":"busy"}') : res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"ok"}')));
  const { run, logs } = runnerFor(t, [backend.origin]);
  t.match(plain(await run(inputFor(backend.origin, { timeout: 1000, cutoffIn: 5000, policy: { repeatable: true, retries: 1 } }))), { ok: true, status: 200, attempts: 2 });
  t.strictSame(
    logs.filter((l) => l.msg === 'upstream attempt').map((l) => [l.level, l.attempt, l.status, l.outcome]),
    [
      [30, 1, 503, 'error'],
      [30, 2, 200, 'ok'],
    ],
  );
});

t.test('x-deadline-ms is the time left, as an integer, when that is less', async (t) => {
  const backend = await startBackend(t, json({ result: 'Sunny' }));
  const { run } = runnerFor(t, [backend.origin]);
  const sent = Date.now();
  await run(inputFor(backend.origin, { timeout: 5000, cutoffAt: sent + 1500.9 }));
  const [header] = deadlines(backend);
  t.match(header, /^\d+$/, 'an integer');
  t.ok(Number(header) <= 1500 && Number(header) > 1300, `${header} is about 1500`);
});

t.test('x-deadline-ms with an injected clock: exactly min(timeout, time left), decreasing with retries', async (t) => {
  const clock = { t: 0 };
  const now = () => clock.t;
  const backend = await startBackend(t, (_req, res) => {
    clock.t += 300; // each attempt takes 300 "ms" of the budget
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"busy"}');
  });
  const { run, logs } = runnerFor(t, [backend.origin], now);
  const health = healthOf({}, now, Array(10).fill(10)); // p90 10 ms
  const outcome = await run(inputFor(backend.origin, { timeout: 5000, cutoffAt: 1000.6, policy: { repeatable: true, retries: 5 }, health, now }));
  // 0 -> 1000 left; 300 (+50 backoff, not on this clock) -> 700; 600 -> 400; at 900 a 200 ms backoff no longer fits.
  t.strictSame(deadlines(backend), ['1000', '700', '400']);
  t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"busy"}', attempts: 3 });
  t.match(logs.at(-1), { msg: 'retry skipped: it would not finish before the deadline', attempt: 3, wait_ms: 200, expected_ms: 10 });
  t.strictSame(logs.filter((l) => l.msg === 'upstream attempt').map((l) => [l.attempt, l.timeout_ms, l.status, l.outcome]), [
    [1, 1000, 503, 'error'],
    [2, 700, 503, 'error'],
    [3, 400, 503, 'error'],
  ]);
});

t.test('x-deadline-ms decreases across retries on the real clock', async (t) => {
  const backend = await startBackend(t, failing(503, 3));
  const { run } = runnerFor(t, [backend.origin]);
  const health = healthOf({}, Date.now, Array(10).fill(5));
  const outcome = await run(inputFor(backend.origin, { timeout: 5000, cutoffIn: 2000, policy: { repeatable: true, retries: 3 }, health }));
  t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"ok after 3"}', attempts: 4 });
  const values = deadlines(backend).map(Number);
  t.equal(values.length, 4);
  t.ok(values.every((v) => Number.isInteger(v) && v <= 2000), `integers within the budget: ${values}`);
  // Backoff with random() = 0 is 50, 100, 200 ms: each header is at least that much lower.
  const drops = values.slice(1).map((v, i) => values[i]! - v);
  t.ok(drops[0]! >= 48 && drops[1]! >= 98 && drops[2]! >= 198, `drops ${drops}`);
});

t.test('retries on 502, 503, 504 and 429 — never on 500 or other statuses', async (t) => {
  const cases: [number, number][] = [
    [502, 2],
    [503, 2],
    [504, 2],
    [429, 2],
    [500, 1],
    [501, 1],
    [400, 1],
    [404, 1],
    [408, 1],
  ];
  for (const [status, requests] of cases) {
    const backend = await startBackend(t, failing(status, 1));
    const { run } = runnerFor(t, [backend.origin]);
    const outcome = await run(inputFor(backend.origin, { policy: { repeatable: true, retries: 3 }, health: healthOf({}, Date.now, Array(10).fill(5)) }));
    t.equal(backend.requests.length, requests, `${status}: ${requests} request(s)`);
    t.strictSame(
      plain(outcome),
      requests === 2 ? { ok: true, status: 200, body: '{"result":"ok after 1"}', attempts: 2 } : { ok: true, status, body: `{"error":"status ${status}"}`, attempts: 1 },
    );
  }
});

t.test('no retry unless the policy is repeatable', async (t) => {
  const backend = await startBackend(t, failing(503, 5));
  const { run } = runnerFor(t, [backend.origin]);
  const outcome = await run(inputFor(backend.origin, { policy: { repeatable: false, retries: 3 }, health: healthOf({}, Date.now, Array(10).fill(5)) }));
  t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"status 503"}', attempts: 1 });
  t.equal(backend.requests.length, 1);
  // And a refused connection is not retried either.
  const port = await closedPort();
  const origin = `http://127.0.0.1:${port}`;
  const refused = runnerFor(t, [origin]);
  t.match(await refused.run(inputFor(origin, { policy: { repeatable: false, retries: 3 } })), { ok: false, reason: 'unavailable', attempts: 1, touchedNetwork: true });
  t.equal(refused.logs.filter((l) => l.msg === 'upstream attempt').length, 1);
});

t.test('a refused connection is retried: at most retries + 1 attempts', async (t) => {
  const port = await closedPort();
  const origin = `http://127.0.0.1:${port}`;
  const { run, logs } = runnerFor(t, [origin]);
  const outcome = await run(inputFor(origin, { timeout: 500, policy: { repeatable: true, retries: 2 } }));
  t.match(outcome, { ok: false, reason: 'unavailable', detail: /ECONNREFUSED/, attempts: 3, touchedNetwork: true });
  t.strictSame(Object.keys(outcome).sort(), ['attempts', 'detail', 'ok', 'reason', 'touchedNetwork']);
  t.strictSame(
    logs.filter((l) => l.msg === 'upstream attempt').map((l) => [l.level, l.attempt, l.reason]),
    [
      [40, 1, 'unavailable'],
      [40, 2, 'unavailable'],
      [40, 3, 'unavailable'],
    ],
  );
});

t.test('a reset connection is retried: at most retries + 1 attempts', async (t) => {
  const server = await startResetting(t);
  const { run } = runnerFor(t, [server.origin]);
  const outcome = await run(inputFor(server.origin, { timeout: 500, policy: { repeatable: true, retries: 3 } }));
  t.match(outcome, { ok: false, reason: 'unavailable', attempts: 4, touchedNetwork: true });
  t.equal(server.connections(), 4);
});

t.test('attempts never exceed retries + 1', async (t) => {
  for (const retries of [0, 1, 2]) {
    const backend = await startBackend(t, failing(503, 100));
    const { run } = runnerFor(t, [backend.origin]);
    const outcome = await run(inputFor(backend.origin, { policy: { repeatable: true, retries }, health: healthOf({}, Date.now, Array(10).fill(5)) }));
    t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"status 503"}', attempts: retries + 1 });
    t.equal(backend.requests.length, retries + 1, `retries ${retries}`);
  }
});

t.test('a timeout is never retried', async (t) => {
  const backend = await startBackend(t, async (_req, res) => {
    if (!(await hold(5000, res))) res.writeHead(200).end('{"result":"late"}');
  });
  const { run } = runnerFor(t, [backend.origin]);
  const started = performance.now();
  const outcome = await run(inputFor(backend.origin, { timeout: 200, policy: { repeatable: true, retries: 3 }, health: healthOf({}, Date.now, Array(10).fill(5)) }));
  const elapsed = performance.now() - started;
  t.match(outcome, { ok: false, reason: 'timeout', attempts: 1, touchedNetwork: true });
  t.equal(backend.requests.length, 1);
  t.ok(elapsed < 1000, `${Math.round(elapsed)} ms`);
});

t.test('Retry-After (seconds) is waited for when it fits', async (t) => {
  const arrivals: number[] = [];
  const inner = failing(503, 1, { 'retry-after': '1' });
  const backend = await startBackend(t, (req, res) => {
    arrivals.push(performance.now());
    inner(req, res);
  });
  const { run } = runnerFor(t, [backend.origin]);
  const started = performance.now();
  const outcome = await run(inputFor(backend.origin, { timeout: 1000, cutoffIn: 5000, policy: { repeatable: true, retries: 1 } }));
  const elapsed = performance.now() - started;
  t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"ok after 1"}', attempts: 2 });
  t.equal(arrivals.length, 2);
  t.ok(arrivals[1]! - arrivals[0]! >= 990, `second request ${Math.round(arrivals[1]! - arrivals[0]!)} ms after the first`);
  t.ok(elapsed >= 990 && elapsed < 2500, `${Math.round(elapsed)} ms`);
});

t.test('Retry-After on a 429 is honoured too', async (t) => {
  const backend = await startBackend(t, failing(429, 1, { 'retry-after': '1' }));
  const { run } = runnerFor(t, [backend.origin]);
  const started = performance.now();
  const outcome = await run(inputFor(backend.origin, { timeout: 1000, cutoffIn: 5000, policy: { repeatable: true, retries: 1 } }));
  const elapsed = performance.now() - started;
  t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"ok after 1"}', attempts: 2 });
  t.ok(elapsed >= 990 && elapsed < 2500, `${Math.round(elapsed)} ms`);
});

t.test('Retry-After that does not fit before the cutoff: the retry is skipped at once', async (t) => {
  const backend = await startBackend(t, failing(503, 5, { 'retry-after': '5' }));
  const { run, logs } = runnerFor(t, [backend.origin]);
  const started = performance.now();
  const outcome = await run(inputFor(backend.origin, { timeout: 1000, cutoffIn: 3000, policy: { repeatable: true, retries: 3 } }));
  const elapsed = performance.now() - started;
  t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"status 503"}', attempts: 1 });
  t.equal(backend.requests.length, 1);
  t.ok(elapsed < 500, `${Math.round(elapsed)} ms`);
  t.match(logs.at(-1), { msg: 'retry skipped: it would not finish before the deadline', wait_ms: 5000, expected_ms: 1000 });
});

t.test('a retry is skipped when the time left is less than the upstream p90', async (t) => {
  t.test('p90 from 10+ samples', async (t) => {
    const backend = await startBackend(t, failing(503, 5));
    const { run, logs } = runnerFor(t, [backend.origin]);
    const health = healthOf({}, Date.now, Array(12).fill(2000));
    const started = performance.now();
    const outcome = await run(inputFor(backend.origin, { timeout: 5000, cutoffIn: 1500, policy: { repeatable: true, retries: 3 }, health }));
    t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"status 503"}', attempts: 1 });
    t.equal(backend.requests.length, 1);
    t.ok(performance.now() - started < 500);
    t.match(logs.at(-1), { msg: 'retry skipped: it would not finish before the deadline', attempt: 1, wait_ms: 50, expected_ms: 2000 });
  });
  t.test('the same budget with a fast upstream retries', async (t) => {
    const backend = await startBackend(t, failing(503, 1));
    const { run } = runnerFor(t, [backend.origin]);
    const health = healthOf({}, Date.now, Array(12).fill(20));
    const outcome = await run(inputFor(backend.origin, { timeout: 5000, cutoffIn: 1500, policy: { repeatable: true, retries: 3 }, health }));
    t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"ok after 1"}', attempts: 2 });
  });
  t.test('under 10 samples the target timeout stands in for the p90', async (t) => {
    const backend = await startBackend(t, failing(503, 5));
    const { run, logs } = runnerFor(t, [backend.origin]);
    const health = healthOf({}, Date.now, Array(9).fill(1));
    const outcome = await run(inputFor(backend.origin, { timeout: 3000, cutoffIn: 2000, policy: { repeatable: true, retries: 3 }, health }));
    t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"status 503"}', attempts: 1 });
    t.match(logs.at(-1), { msg: 'retry skipped: it would not finish before the deadline', expected_ms: 3000 });
  });
});

t.test('hedging: a slow first attempt is raced by a second; the first answer wins, the loser is closed', async (t) => {
  let firstClosedAt: number | undefined;
  let count = 0;
  const backend = await startBackend(t, async (_req, res) => {
    const n = ++count;
    if (n === 1) {
      const left = await hold(1000, res);
      if (left) firstClosedAt = performance.now();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"first"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"second"}');
  });
  const { run, logs } = runnerFor(t, [backend.origin]);
  const started = performance.now();
  const outcome = await run(inputFor(backend.origin, { timeout: 3000, cutoffIn: 5000, policy: { repeatable: true, hedgeMs: 100 } }));
  const elapsed = performance.now() - started;
  t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"second"}', attempts: 2 });
  t.equal(backend.requests.length, 2);
  t.ok(elapsed >= 95 && elapsed < 700, `${Math.round(elapsed)} ms, well under the 1 s of the first`);
  for (let i = 0; i < 100 && firstClosedAt === undefined; i++) await wait(10);
  t.ok(firstClosedAt !== undefined && firstClosedAt - started < 900, 'the first connection was closed before it answered');
  const [first, second] = deadlines(backend).map(Number);
  t.equal(first, 3000);
  t.ok(second! <= 3000 && second! > 2500, `the hedge is told its own budget: ${second}`);
  // Only the winner is logged.
  t.strictSame(logs.filter((l) => l.msg === 'upstream attempt').map((l) => [l.attempt, l.status]), [[2, 200]]);
});

t.test('hedging: a first attempt that answers before hedgeMs sends no second request', async (t) => {
  const backend = await startBackend(t, json({ result: 'quick' }));
  const { run } = runnerFor(t, [backend.origin]);
  const outcome = await run(inputFor(backend.origin, { timeout: 3000, policy: { repeatable: true, hedgeMs: 300 } }));
  t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"quick"}', attempts: 1 });
  await wait(350);
  t.equal(backend.requests.length, 1);
});

t.test('hedging needs a repeatable policy', async (t) => {
  const backend = await startBackend(t, json({ result: 'slow' }, 200, 300));
  const { run } = runnerFor(t, [backend.origin]);
  const outcome = await run(inputFor(backend.origin, { timeout: 3000, policy: { repeatable: false, hedgeMs: 50 } }));
  t.strictSame(plain(outcome), { ok: true, status: 200, body: '{"result":"slow"}', attempts: 1 });
  t.equal(backend.requests.length, 1);
});

t.test('breaker open: unavailable at once, without touching the network', async (t) => {
  const backend = await startBackend(t, json({ result: 'never' }));
  const { run, logs } = runnerFor(t, [backend.origin]);
  const health = healthOf({ failures: 1, openForMs: 60_000 });
  health.breaker.record({ failed: true, latencyMs: 1 });
  t.equal(health.breaker.state(), 'open');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    const outcome = await run(inputFor(backend.origin, { health, policy: { repeatable: true, retries: 3 } }));
    times.push(performance.now() - started);
    t.strictSame(outcome, { ok: false, reason: 'unavailable', detail: 'circuit breaker open', attempts: 0, touchedNetwork: false });
  }
  t.ok(Math.min(...times) < 5, `fastest ${Math.min(...times).toFixed(2)} ms`);
  t.equal(backend.requests.length, 0);
  t.match(logs[0], { level: 40, msg: 'upstream attempt', attempt: 1, reason: 'unavailable', detail: 'circuit breaker open', ms: 0 });
});

t.test('breaker: failures through the runner open it; after open_for one probe closes it again', async (t) => {
  let healthy = false;
  const backend = await startBackend(t, (_req, res) => {
    if (healthy) res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"back"}');
    else res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"down"}');
  });
  const { run } = runnerFor(t, [backend.origin]);
  const health = healthOf({ failures: 2, openForMs: 150 });
  await run(inputFor(backend.origin, { health }));
  await run(inputFor(backend.origin, { health }));
  t.equal(health.breaker.state(), 'open');
  t.match(await run(inputFor(backend.origin, { health })), { ok: false, reason: 'unavailable', touchedNetwork: false });
  t.equal(backend.requests.length, 2);
  await wait(200);
  healthy = true;
  t.equal(health.breaker.state(), 'half-open');
  t.strictSame(plain(await run(inputFor(backend.origin, { health }))), { ok: true, status: 200, body: '{"result":"back"}', attempts: 1 });
  t.equal(health.breaker.state(), 'closed');
  t.equal(backend.requests.length, 3);
});

t.test('a breaker that opens between retries ends them with the last reply', async (t) => {
  const backend = await startBackend(t, failing(503, 100));
  const { run } = runnerFor(t, [backend.origin]);
  const health = healthOf({ failures: 2 }, Date.now, Array(10).fill(5));
  const outcome = await run(inputFor(backend.origin, { health, policy: { repeatable: true, retries: 5 } }));
  t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"status 503"}', attempts: 2 });
  t.equal(backend.requests.length, 2);
});

t.test('an external signal aborting stops a backoff wait', async (t) => {
  const backend = await startBackend(t, failing(503, 100, { 'retry-after': '2' }));
  const { run } = runnerFor(t, [backend.origin]);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const started = performance.now();
  const outcome = await run(inputFor(backend.origin, { timeout: 1000, cutoffIn: 10_000, signal: controller.signal, policy: { repeatable: true, retries: 3 } }));
  const elapsed = performance.now() - started;
  t.strictSame(plain(outcome), { ok: true, status: 503, body: '{"error":"status 503"}', attempts: 1 });
  t.equal(backend.requests.length, 1);
  t.ok(elapsed >= 150 && elapsed < 1000, `${Math.round(elapsed)} ms, not the 2 s Retry-After`);
});

t.test('an external signal aborting ends a running attempt as a timeout', async (t) => {
  const backend = await startBackend(t, async (_req, res) => {
    if (!(await hold(5000, res))) res.writeHead(200).end('{"result":"late"}');
  });
  const { run } = runnerFor(t, [backend.origin]);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const started = performance.now();
  const outcome = await run(inputFor(backend.origin, { timeout: 3000, signal: controller.signal, policy: { repeatable: true, retries: 3 } }));
  t.match(outcome, { ok: false, reason: 'timeout', attempts: 1, touchedNetwork: true });
  t.ok(performance.now() - started < 1000);
  t.equal(backend.requests.length, 1);
});

t.test('nothing is sent when the signal has already aborted or no time is left', async (t) => {
  const backend = await startBackend(t, json({ result: 'never' }));
  const { run } = runnerFor(t, [backend.origin]);
  const aborted = AbortSignal.abort();
  t.strictSame(await run(inputFor(backend.origin, { signal: aborted })), { ok: false, reason: 'timeout', detail: 'no time left before the deadline', attempts: 0, touchedNetwork: false });
  t.strictSame(await run(inputFor(backend.origin, { cutoffIn: 0 })), { ok: false, reason: 'timeout', detail: 'no time left before the deadline', attempts: 0, touchedNetwork: false });
  t.strictSame(await run(inputFor(backend.origin, { cutoffIn: -50 })), { ok: false, reason: 'timeout', detail: 'no time left before the deadline', attempts: 0, touchedNetwork: false });
  t.equal(backend.requests.length, 0);
});

t.test('backoffMs and retryAfterMs', async (t) => {
  t.strictSame([1, 2, 3, 4, 5, 6, 10].map((n) => backoffMs(n, () => 0)), [50, 100, 200, 400, 800, 1000, 1000]);
  t.strictSame([1, 2, 3, 4, 5, 6, 10].map((n) => backoffMs(n, () => 1)), [100, 200, 400, 800, 1600, 2000, 2000]);
  t.equal(backoffMs(3, () => 0.5), 300);
  const nowMs = Date.parse('2025-06-01T12:00:00Z');
  t.equal(retryAfterMs('3', nowMs), 3000);
  t.equal(retryAfterMs(' 0 ', nowMs), 0);
  t.equal(retryAfterMs('Sun, 01 Jun 2025 12:00:05 GMT', nowMs), 5000);
  t.equal(retryAfterMs('Sun, 01 Jun 2025 11:59:00 GMT', nowMs), 0, 'a date in the past: no wait');
  t.equal(retryAfterMs('soon', nowMs), undefined);
  t.equal(retryAfterMs('5s', nowMs), undefined);
});

t.test('retryAfterMs: a number that is not whole seconds is unreadable, not a date', async (t) => {
  // Neither is delay-seconds nor an HTTP-date (RFC 9110 10.2.3), but V8's lenient Date.parse reads
  // "-1" and "1.5" as dates in 2001, which turns them into "retry now" (0 ms).
  const nowMs = Date.parse('2025-06-01T12:00:00Z');
  t.equal(retryAfterMs('-1', nowMs), undefined);
  t.equal(retryAfterMs('1.5', nowMs), undefined);
  t.equal(retryAfterMs('2 ', nowMs), 2000, 'whitespace around whole seconds is fine');
});
