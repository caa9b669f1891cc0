// createForwarder over createUpstreamPools against real servers on 127.0.0.1: replies, refused and
// reset connections, timeouts (own and external), the reply size limit and keep-alive reuse.
import { once } from 'node:events';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { Client } from 'undici';
import { createForwarder, type UpstreamRequest, type UpstreamResult } from '../src/forward.js';
import { createUpstreamPools } from '../src/upstream-pools.js';
import { closedPort, json, startBackend } from './helpers/backend.js';

const fixedClock = () => 1_000_000;

function forwarderFor(t: Test, origins: string[] = [], clock: () => number = fixedClock) {
  const pools = createUpstreamPools(origins);
  t.teardown(() => pools.close());
  return createForwarder((origin) => pools.dispatcherFor(origin), clock);
}

const post = (origin: string, path = '/tool', body = '{"city":"Utrecht"}'): UpstreamRequest => ({
  origin,
  path,
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-tool-name': 'weather' },
  body,
});

/** The result with its body as text, so a whole value can be compared. */
const textOf = (result: UpstreamResult) => (result.ok ? { ...result, body: result.body.toString('utf8') } : result);

/** A raw TCP server that hands every connection to `onConnection`; closed at teardown. */
async function startRaw(t: Test, onConnection: (socket: Socket) => void): Promise<{ origin: string; connections: number }> {
  const sockets = new Set<Socket>();
  const state = { origin: '', connections: 0 };
  const server = createNetServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

/** Answers after `ms`, unless the client goes away first (so no timer outlives the test). */
const slow = (ms: number, res: ServerResponse) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Resolves with `value` once `promise` settles, or with 'pending' after `ms`. */
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms).unref())]);

t.test('success: status, content type and the body bytes; the request arrives as sent', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{"result":"Sunny, 21°C"}');
  });
  const forward = forwarderFor(t, [backend.origin]);
  const result = await forward(post(backend.origin, '/api/weather?units=metric'), { timeoutMs: 2000 });
  t.strictSame(textOf(result), { ok: true, status: 200, contentType: 'application/json; charset=utf-8', retryAfter: undefined, body: '{"result":"Sunny, 21°C"}', elapsedMs: 0 });
  t.ok(result.ok && Buffer.isBuffer(result.body));
  t.strictSame(result.ok && [...result.body], [...Buffer.from('{"result":"Sunny, 21°C"}')]);
  t.strictSame(
    backend.requests.map((r) => ({ method: r.method, url: r.url, type: r.headers['content-type'], tool: r.headers['x-tool-name'], body: r.text })),
    [{ method: 'POST', url: '/api/weather?units=metric', type: 'application/json', tool: 'weather', body: '{"city":"Utrecht"}' }],
  );
});

t.test('extraHeaders are sent with the request\'s headers and replace any of the same name; the request is not changed', async (t) => {
  const backend = await startBackend(t, json({ result: 'ok' }));
  const forward = forwarderFor(t, [backend.origin]);
  const request = { ...post(backend.origin), headers: { 'content-type': 'application/json', traceparent: '00-webhook', 'x-tool-name': 'weather' } };
  const result = await forward(request, { timeoutMs: 2000, extraHeaders: ['x-deadline-ms', '900', 'traceparent', '00-attempt'] });
  t.equal(result.ok, true);
  const { headers } = backend.requests[0]!;
  // A repeated header would arrive joined ("00-webhook, 00-attempt"): exactly one value means replaced.
  t.strictSame([headers['content-type'], headers.traceparent, headers['x-tool-name'], headers['x-deadline-ms']], ['application/json', '00-attempt', 'weather', '900']);
  t.strictSame(request.headers, { 'content-type': 'application/json', traceparent: '00-webhook', 'x-tool-name': 'weather' });
});

t.test('GET without a body, an empty reply, no content type, a multi-chunk body', async (t) => {
  const big = 'x'.repeat(200_000);
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/empty') return void res.writeHead(204).end();
    if (req.url === '/untyped') return void res.end('plain words');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(big.slice(0, 100_000));
    setTimeout(() => res.end(big.slice(100_000)), 20);
  });
  const forward = forwarderFor(t, [backend.origin]);
  const get = (path: string): UpstreamRequest => ({ origin: backend.origin, path, method: 'GET', headers: {}, body: undefined });
  t.strictSame(textOf(await forward(get('/empty'), { timeoutMs: 2000 })), { ok: true, status: 204, contentType: '', retryAfter: undefined, body: '', elapsedMs: 0 });
  t.strictSame(textOf(await forward(get('/untyped'), { timeoutMs: 2000 })), { ok: true, status: 200, contentType: '', retryAfter: undefined, body: 'plain words', elapsedMs: 0 });
  t.strictSame(textOf(await forward(get('/big'), { timeoutMs: 2000 })), { ok: true, status: 200, contentType: 'text/plain', retryAfter: undefined, body: big, elapsedMs: 0 });
  t.strictSame(
    backend.requests.map((r) => [r.method, r.url, r.text]),
    [['GET', '/empty', ''], ['GET', '/untyped', ''], ['GET', '/big', '']],
  );
});

t.test('elapsedMs is measured on the given clock', async (t) => {
  const backend = await startBackend(t, json({ ok: true }));
  const ticks = [5_000, 5_250, 9_000, 9_040];
  const forward = forwarderFor(t, [backend.origin], () => ticks.shift() ?? 0);
  const ok = await forward(post(backend.origin), { timeoutMs: 2000 });
  t.equal(ok.elapsedMs, 250);
  const port = await closedPort();
  const failed = await forward(post(`http://127.0.0.1:${port}`), { timeoutMs: 2000 });
  t.strictSame([failed.ok, failed.elapsedMs], [false, 40]);
});

t.test('a non-2xx reply is a response, not a failure', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/500') return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
    res.writeHead(404, { 'content-type': 'text/plain' }).end('no such tool');
  });
  const forward = forwarderFor(t, [backend.origin]);
  t.strictSame(textOf(await forward(post(backend.origin, '/500'), { timeoutMs: 2000 })), {
    ok: true,
    status: 500,
    contentType: 'application/json',
    retryAfter: undefined,
    body: '{"error":"boom"}',
    elapsedMs: 0,
  });
  t.strictSame(textOf(await forward(post(backend.origin, '/404'), { timeoutMs: 2000 })), {
    ok: true,
    status: 404,
    contentType: 'text/plain',
    retryAfter: undefined,
    body: 'no such tool',
    elapsedMs: 0,
  });
});

t.test('connection refused is unavailable', async (t) => {
  const port = await closedPort();
  const origin = `http://127.0.0.1:${port}`;
  const forward = forwarderFor(t, [origin]);
  const result = await forward(post(origin), { timeoutMs: 2000 });
  t.match(result, { ok: false, reason: 'unavailable', detail: /^ECONNREFUSED: / });
  t.strictSame(Object.keys(result).sort(), ['detail', 'elapsedMs', 'ok', 'reason']);
  // A pool made on demand for an origin not known up front behaves the same.
  const port2 = await closedPort();
  t.match(await forward(post(`http://127.0.0.1:${port2}`), { timeoutMs: 2000 }), { ok: false, reason: 'unavailable', elapsedMs: 0 });
});

t.test('a connection reset before any reply is unavailable', async (t) => {
  const server = await startRaw(t, (socket) => socket.once('data', () => socket.resetAndDestroy()));
  const forward = forwarderFor(t, [server.origin]);
  t.match(await forward(post(server.origin), { timeoutMs: 2000 }), { ok: false, reason: 'unavailable', elapsedMs: 0 });
  t.equal(server.connections, 1);
});

t.test('a connection closed before any reply is unavailable', async (t) => {
  const server = await startRaw(t, (socket) => socket.once('data', () => socket.destroy()));
  const forward = forwarderFor(t, [server.origin]);
  t.match(await forward(post(server.origin), { timeoutMs: 2000 }), { ok: false, reason: 'unavailable', elapsedMs: 0 });
});

t.test('a socket destroyed in the middle of the reply is unavailable', async (t) => {
  const partial = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"result":"par';
  const reset = await startRaw(t, (socket) => socket.once('data', () => socket.write(partial, () => setTimeout(() => socket.resetAndDestroy(), 20))));
  const closed = await startRaw(t, (socket) => socket.once('data', () => socket.write(partial, () => setTimeout(() => socket.destroy(), 20))));
  const forward = forwarderFor(t, [reset.origin, closed.origin]);
  t.match(await forward(post(reset.origin), { timeoutMs: 2000 }), { ok: false, reason: 'unavailable', elapsedMs: 0 }, 'reset (RST)');
  t.match(await forward(post(closed.origin), { timeoutMs: 2000 }), { ok: false, reason: 'unavailable', elapsedMs: 0 }, 'closed (FIN)');
  // The same through node:http, headers flushed and the body cut short.
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
    res.write('only part of it', () => setTimeout(() => res.socket?.destroy(), 20));
  });
  const forward2 = forwarderFor(t, [backend.origin]);
  t.match(await forward2(post(backend.origin), { timeoutMs: 2000 }), { ok: false, reason: 'unavailable', elapsedMs: 0 }, 'node:http');
});

t.test('a reply that is not HTTP is an error', async (t) => {
  const server = await startRaw(t, (socket) => socket.once('data', () => socket.end('SMTP ready\r\n\r\n')));
  const forward = forwarderFor(t, [server.origin]);
  const result = await forward(post(server.origin), { timeoutMs: 2000 });
  t.match(result, { ok: false, reason: 'error', detail: String, elapsedMs: 0 });
  t.strictSame(Object.keys(result).sort(), ['detail', 'elapsedMs', 'ok', 'reason']);
});

t.test('a repeated content-type header: the first one counts', async (t) => {
  const reply = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\nhi';
  const server = await startRaw(t, (socket) => socket.once('data', () => socket.write(reply)));
  const forward = forwarderFor(t, [server.origin]);
  t.strictSame(textOf(await forward(post(server.origin), { timeoutMs: 2000 })), { ok: true, status: 200, contentType: 'text/plain', retryAfter: undefined, body: 'hi', elapsedMs: 0 });
});

t.test('a backend slower than timeoutMs is a timeout; its socket is closed', async (t) => {
  let closedAt = 0;
  let arrivedAt = 0;
  const backend = await startBackend(t, async (_req, res) => {
    arrivedAt = performance.now();
    res.socket?.once('close', () => (closedAt = performance.now()));
    await slow(5000, res);
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"too late"}');
  });
  const forward = forwarderFor(t, [backend.origin]);
  const started = performance.now();
  const result = await forward(post(backend.origin), { timeoutMs: 200 });
  const took = performance.now() - started;
  t.strictSame(result, { ok: false, reason: 'timeout', detail: 'no reply within 200ms', elapsedMs: 0 });
  t.ok(took >= 150, `not before the limit (${took.toFixed(0)} ms)`);
  t.ok(took < 1500, `returns promptly (${took.toFixed(0)} ms)`);
  t.equal(backend.requests.length, 1);
  // The backend sees the connection go away instead of being left hanging.
  const start = performance.now();
  while (closedAt === 0 && performance.now() - start < 1500) await new Promise((r) => setTimeout(r, 10));
  t.ok(closedAt > 0, 'the backend socket was closed');
  t.ok(closedAt - arrivedAt < 1500, `closed soon after the timeout (${(closedAt - arrivedAt).toFixed(0)} ms after arrival)`);
});

t.test('headers on time but a body that never ends is a timeout', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('dribble');
  });
  const forward = forwarderFor(t, [backend.origin]);
  const started = performance.now();
  const result = await forward(post(backend.origin), { timeoutMs: 200 });
  const took = performance.now() - started;
  t.strictSame(result, { ok: false, reason: 'timeout', detail: 'no reply within 200ms', elapsedMs: 0 });
  t.ok(took < 1500, `returns promptly (${took.toFixed(0)} ms)`);
});

t.test('a backend that accepts but never answers is a timeout', async (t) => {
  const server = await startRaw(t, () => {});
  const forward = forwarderFor(t, [server.origin]);
  const started = performance.now();
  t.strictSame(await forward(post(server.origin), { timeoutMs: 200 }), { ok: false, reason: 'timeout', detail: 'no reply within 200ms', elapsedMs: 0 });
  t.ok(performance.now() - started < 1500);
});

t.test('a request still queued for a connection times out on time and is never sent', async (t) => {
  const backend = await startBackend(t, async (_req, res) => {
    await slow(1000, res);
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"first"}');
  });
  // One connection, no pipelining: the second request waits for the first to finish.
  const client = new Client(backend.origin, { pipelining: 1 });
  t.teardown(() => client.close());
  const forward = createForwarder(() => client, fixedClock);
  const first = forward(post(backend.origin), { timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  const queued = await forward(post(backend.origin), { timeoutMs: 200 });
  const took = performance.now() - started;
  t.strictSame(queued, { ok: false, reason: 'timeout', detail: 'no reply within 200ms', elapsedMs: 0 });
  t.ok(took < 800, `heard at its own time limit, not when the connection was free (${took.toFixed(0)} ms)`);
  t.strictSame(textOf(await first), { ok: true, status: 200, contentType: 'application/json', retryAfter: undefined, body: '{"result":"first"}', elapsedMs: 0 });
  await new Promise((r) => setTimeout(r, 200));
  t.equal(backend.requests.length, 1, 'the queued request was dropped, not sent late');
});

t.test('an external AbortSignal aborting is a timeout', async (t) => {
  const backend = await startBackend(t, async (_req, res) => {
    await slow(5000, res);
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"late"}');
  });
  const forward = forwarderFor(t, [backend.origin]);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const started = performance.now();
  const result = await forward(post(backend.origin), { timeoutMs: 4000, signal: controller.signal });
  const took = performance.now() - started;
  t.strictSame(result, { ok: false, reason: 'timeout', detail: 'the deadline of the event ran out', elapsedMs: 0 });
  t.ok(took < 1500, `returns promptly (${took.toFixed(0)} ms)`);
  t.equal(backend.requests.length, 1);
  // AbortSignal.timeout works the same way.
  const viaTimeout = await forward(post(backend.origin), { timeoutMs: 4000, signal: AbortSignal.timeout(100) });
  t.strictSame(viaTimeout, { ok: false, reason: 'timeout', detail: 'the deadline of the event ran out', elapsedMs: 0 });
});

t.test('no time left, or a signal already aborted: a timeout without any request', async (t) => {
  let connections = 0;
  const backend = await startBackend(t, json({ result: 'should not be asked' }));
  const forward = forwarderFor(t, [backend.origin]);
  const expected = { ok: false, reason: 'timeout', detail: 'no time left before the deadline', elapsedMs: 0 };
  t.strictSame(await forward(post(backend.origin), { timeoutMs: 0 }), expected);
  t.strictSame(await forward(post(backend.origin), { timeoutMs: -50 }), expected);
  t.strictSame(await forward(post(backend.origin), { timeoutMs: 2000, signal: AbortSignal.abort() }), expected);
  // Nothing reaches the backend, not even a connection.
  const raw = await startRaw(t, () => connections++);
  t.strictSame(await forward(post(raw.origin), { timeoutMs: 0 }), expected);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(backend.requests.length, 0);
  t.equal(connections, 0);
});

t.test('the timer and the signal listener do not outlive a successful request', async (t) => {
  const backend = await startBackend(t, json({ result: 'fast' }));
  const forward = forwarderFor(t, [backend.origin]);
  const controller = new AbortController();
  const result = await forward(post(backend.origin), { timeoutMs: 300, signal: controller.signal });
  t.equal(result.ok, true);
  // Aborting afterwards changes nothing and throws nothing.
  controller.abort();
  await new Promise((r) => setTimeout(r, 400));
  t.equal(backend.requests.length, 1);
});

t.test('a request undici refuses at once (an invalid header value) is an error; no timer or listener is left behind', async (t) => {
  const backend = await startBackend(t, json({ result: 'should not be asked' }));
  const forward = forwarderFor(t, [backend.origin]);
  // undici calls onError inside dispatch() for a request it cannot send: the result must still
  // come back as a failure, and the time limit and signal listener must not outlive it.
  const listeners = new Set<() => void>();
  const signal = { aborted: false, addEventListener: (_type: 'abort', listener: () => void) => void listeners.add(listener), removeEventListener: (_type: 'abort', listener: () => void) => void listeners.delete(listener) };
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = timers();
  const result = await forward({ ...post(backend.origin), headers: { 'x-note': 'line one\r\nline two' } }, { timeoutMs: 60_000, signal });
  t.strictSame(result, { ok: false, reason: 'error', detail: 'invalid x-note header', elapsedMs: 0 });
  t.equal(listeners.size, 0);
  t.equal(timers(), before);
  t.equal(backend.requests.length, 0);
});

t.test('a reply larger than maxResponseBytes is an error; exactly the limit is fine', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    const size = Number(req.url.slice(1));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('a'.repeat(size));
  });
  const forward = forwarderFor(t, [backend.origin]);
  t.strictSame(await forward(post(backend.origin, '/1001'), { timeoutMs: 2000, maxResponseBytes: 1000 }), {
    ok: false,
    reason: 'error',
    detail: 'reply larger than 1000 bytes',
    elapsedMs: 0,
  });
  t.strictSame(await forward(post(backend.origin, '/500000'), { timeoutMs: 2000, maxResponseBytes: 1000 }), {
    ok: false,
    reason: 'error',
    detail: 'reply larger than 1000 bytes',
    elapsedMs: 0,
  });
  t.strictSame(textOf(await forward(post(backend.origin, '/1000'), { timeoutMs: 2000, maxResponseBytes: 1000 })), {
    ok: true,
    status: 200,
    contentType: 'text/plain',
    retryAfter: undefined,
    body: 'a'.repeat(1000),
    elapsedMs: 0,
  });
  // The pool still works after a refused reply.
  t.strictSame(textOf(await forward(post(backend.origin, '/3'), { timeoutMs: 2000, maxResponseBytes: 1000 })), {
    ok: true,
    status: 200,
    contentType: 'text/plain',
    retryAfter: undefined,
    body: 'aaa',
    elapsedMs: 0,
  });
});

t.test('keep-alive: sequential requests to one origin share one connection', async (t) => {
  let connections = 0;
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"result":"${req.url}"}`));
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const forward = forwarderFor(t, [origin]);
  const call = async (path: string) => {
    const result = await forward(post(origin, path), { timeoutMs: 2000 });
    return result.ok ? result.body.toString() : result.reason;
  };
  // Separate webhooks: the next request starts on a later turn of the event loop.
  const bodies: string[] = [];
  for (const path of ['/one', '/two', '/three']) {
    bodies.push(await call(path));
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.strictSame(bodies, ['{"result":"/one"}', '{"result":"/two"}', '{"result":"/three"}']);
  t.equal(connections, 1, 'one connection for three requests');
  // Back to back in the same turn, undici's Pool may still count the first connection as busy
  // and open one more; it never opens one per request.
  for (let i = 0; i < 6; i++) await call(`/b${i}`);
  t.ok(connections <= 2, `at most two connections for nine requests (${connections})`);
});

t.test('pools: one per origin, made up front or on demand, all closed together', async (t) => {
  const a = await startBackend(t, json({ result: 'a' }));
  const b = await startBackend(t, json({ result: 'b' }));
  const pools = createUpstreamPools([a.origin]);
  const first = pools.dispatcherFor(a.origin);
  t.equal(pools.dispatcherFor(a.origin), first);
  const onDemand = pools.dispatcherFor(b.origin);
  t.not(onDemand, first);
  t.equal(pools.dispatcherFor(b.origin), onDemand);
  const forward = createForwarder((origin) => pools.dispatcherFor(origin), fixedClock);
  t.strictSame(
    [textOf(await forward(post(a.origin), { timeoutMs: 2000 })), textOf(await forward(post(b.origin), { timeoutMs: 2000 }))],
    [
      { ok: true, status: 200, contentType: 'application/json', retryAfter: undefined, body: '{"result":"a"}', elapsedMs: 0 },
      { ok: true, status: 200, contentType: 'application/json', retryAfter: undefined, body: '{"result":"b"}', elapsedMs: 0 },
    ],
  );
  t.equal(await within(pools.close(), 1500), undefined, 'close resolves');
  t.equal((first as unknown as { closed: boolean }).closed, true);
  t.equal((onDemand as unknown as { closed: boolean }).closed, true);
});
