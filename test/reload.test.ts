// Hot reload against real files: in-place writes, atomic renames and config-map symlink swaps are
// picked up, invalid or identical files change nothing, requests in flight and calls in progress
// keep their routes, pools of removed upstreams close once drained, SIGHUP reloads the CLI, and a
// large table reloads like a small one.

import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startServer, type RunningServer } from '../src/server.js';
import { json, sleep, startBackend, type Backend } from './helpers/backend.js';
import { cleanEnv, requireBuiltCli, serveCli, waitForLog } from './helpers/cli.js';
import { eventually, memoryLogger, scrape, send, toolCalls } from './helpers/gateway.js';
import { largeRoutesYaml } from './helpers/large-routes.js';

const routes = (backend: Backend, extra = '') => `version: 1
account: { secrets: [test-secret] }
upstreams: { crm: { url: "${backend.url}" } }
tools: { lookup: { upstream: crm, path: /lookup } }
${extra}
`;

interface Served extends RunningServer {
  url: string;
  dir: string;
  file: string;
  logs: Record<string, unknown>[];
}

/** The real server (file watching included) on 127.0.0.1:0, from a routes file in a temp dir. */
async function serve(t: Test, text: string, layout: 'plain' | 'configmap' = 'plain'): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'hms-reload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let file = join(dir, 'routes.yaml');
  if (layout === 'configmap') {
    // What a mounted Kubernetes config map looks like: routes.yaml -> ..data/routes.yaml, ..data -> ..v1
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'routes.yaml'), text);
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'routes.yaml'), file);
  } else {
    writeFileSync(file, text);
  }
  const { logs, logger } = memoryLogger(false, 'info');
  const server = await startServer({ routesFile: file, port: 0, host: '127.0.0.1', logger, env: { STORE: join(dir, 'outbox.db') } });
  t.teardown(() => server.app.close());
  file = join(dir, 'routes.yaml');
  return { ...server, url: server.address, dir, file, logs };
}

const store = 'store: { path: "${STORE}" }';
const lookup = (url: string, callId: string) => send(`${url}/webhook`, toolCalls([['lookup', {}]], { call: { id: callId } }));

t.test('an in-place write changes routing for new calls; a request in flight finishes on the old routes', async (t) => {
  // The slow call's backend answers only once the reload has been applied.
  let reloaded!: () => void;
  const afterReload = new Promise<void>((resolve) => (reloaded = resolve));
  const old = await startBackend(t, async (req, res) => {
    if (req.headers['x-call-id'] === 'slow-call') await afterReload;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"old"}');
  });
  const fresh = await startBackend(t, json({ result: 'new' }));
  const server = await serve(t, routes(old, store));
  const inFlight = lookup(server.url, 'slow-call');
  await eventually(() => old.requests.length === 1);
  writeFileSync(server.file, routes(fresh, store));
  await eventually(() => server.app.gateway.version() === 2, 10_000);
  t.strictSame((await lookup(server.url, 'call-after')).body, { results: [{ tool_call_id: 'tc_1', result: 'new' }] });
  reloaded();
  t.strictSame((await inFlight).body, { results: [{ tool_call_id: 'tc_1', result: 'old' }] }, 'the request in flight was not failed by the reload');
  const m = await scrape(server.url);
  t.equal(m.value('hms_router_config_version'), 2);
  t.equal(m.value('hms_router_config_reload_failures_total'), 0);
  t.ok(server.logs.some((l) => l.msg === 'routes reloaded: new calls use the new routes, calls in progress keep theirs' && l.routes_version === 2 && l.trigger === 'file changed'));
});

t.test('an invalid file is refused with FILE:LINE:COL, counted, and the running routes stay', async (t) => {
  const backend = await startBackend(t, json({ result: 'still here' }));
  const server = await serve(t, routes(backend, store));
  writeFileSync(server.file, `${routes(backend, store)}\nlimits: { bodyy: 1 }\n`);
  await eventually(() => server.logs.some((l) => l.msg === 'routes reload refused: the running routes stay in force'), 10_000);
  const refused = server.logs.find((l) => l.msg === 'routes reload refused: the running routes stay in force')!;
  t.strictSame(refused.diagnostics, [`${server.file}:7:11 limits: unknown key "bodyy"; remove it or check its spelling`]);
  t.equal(server.app.gateway.version(), 1);
  t.strictSame((await lookup(server.url, 'c1')).body, { results: [{ tool_call_id: 'tc_1', result: 'still here' }] });
  const m = await scrape(server.url);
  t.equal(m.value('hms_router_config_reload_failures_total'), 1);
  t.equal(m.value('hms_router_config_version'), 1);
});

t.test('identical content (a touch, a save without changes, SIGHUP) does not bump config_version', async (t) => {
  const backend = await startBackend(t, json({ result: 'x' }));
  const text = routes(backend, store);
  const server = await serve(t, text);
  writeFileSync(server.file, text);
  t.strictSame(await server.reloader.reload('SIGHUP'), { outcome: 'unchanged' });
  await sleep(1300);
  t.equal(server.app.gateway.version(), 1);
  t.equal((await scrape(server.url)).value('hms_router_config_version'), 1);
});

t.test('an atomic rename over the file (how editors save) is picked up', async (t) => {
  const before = await startBackend(t, json({ result: 'before' }));
  const after = await startBackend(t, json({ result: 'after' }));
  const server = await serve(t, routes(before, store));
  writeFileSync(join(server.dir, '.routes.yaml.tmp'), routes(after, store));
  renameSync(join(server.dir, '.routes.yaml.tmp'), server.file);
  await eventually(() => server.app.gateway.version() === 2, 10_000);
  t.strictSame((await lookup(server.url, 'c1')).body, { results: [{ tool_call_id: 'tc_1', result: 'after' }] });
});

t.test('a config map update (the ..data symlink swapped to a new directory) is picked up', async (t) => {
  const before = await startBackend(t, json({ result: 'before' }));
  const after = await startBackend(t, json({ result: 'after' }));
  const server = await serve(t, routes(before, store), 'configmap');
  mkdirSync(join(server.dir, '..v2'));
  writeFileSync(join(server.dir, '..v2', 'routes.yaml'), routes(after, store));
  symlinkSync('..v2', join(server.dir, '..data_tmp'));
  renameSync(join(server.dir, '..data_tmp'), join(server.dir, '..data'));
  rmSync(join(server.dir, '..v1'), { recursive: true });
  await eventually(() => server.app.gateway.version() === 2, 10_000);
  t.strictSame((await lookup(server.url, 'c1')).body, { results: [{ tool_call_id: 'tc_1', result: 'after' }] });
});

t.test('a call keeps the routes of its first event for reload.pin_calls; new calls get the new routes', async (t) => {
  const before = await startBackend(t, json({ result: 'before' }));
  const after = await startBackend(t, json({ result: 'after' }));
  // Long enough for the steps below on a busy machine; the wait at the end counts from the pin.
  const server = await serve(t, routes(before, `${store}\nreload: { pin_calls: 5s }`));
  const pinnedAt = Date.now();
  // The call starts with a status-update: pinning starts at the first event, whatever its type.
  t.equal((await send(`${server.url}/webhook`, { message: { type: 'status-update', call: { id: 'ongoing' }, status: 'in-progress' } })).status, 200);
  t.strictSame(await server.reloader.reload('SIGHUP'), { outcome: 'unchanged' });
  writeFileSync(server.file, routes(after, `${store}\nreload: { pin_calls: 5s }`));
  t.strictSame(await server.reloader.reload('SIGHUP'), { outcome: 'applied', version: 2 });
  t.strictSame((await lookup(server.url, 'ongoing')).body, { results: [{ tool_call_id: 'tc_1', result: 'before' }] }, 'the call in progress is pinned');
  t.strictSame((await lookup(server.url, 'brand-new')).body, { results: [{ tool_call_id: 'tc_1', result: 'after' }] }, 'a new call uses the new routes');
  t.ok(Date.now() - pinnedAt < 5000, 'the pinned call was checked within pin_calls');
  await sleep(Math.max(0, pinnedAt + 5100 - Date.now()));
  t.strictSame((await send(`${server.url}/webhook`, toolCalls([['lookup', { again: true }]], { call: { id: 'ongoing' } }))).body, { results: [{ tool_call_id: 'tc_1', result: 'after' }] }, 'after pin_calls the call moves on');
});

t.test('the pool of a removed upstream closes once no call uses it', async (t) => {
  const old = await startBackend(t, json({ result: 'old' }));
  const fresh = await startBackend(t, json({ result: 'new' }));
  const server = await serve(t, routes(old, `${store}\nreload: { pin_calls: 8s, watch: false }`));
  const pinnedAt = Date.now();
  t.strictSame((await lookup(server.url, 'c1')).body, { results: [{ tool_call_id: 'tc_1', result: 'old' }] });
  t.equal(old.openConnections(), 1, 'the gateway keeps its connection to the upstream alive');
  writeFileSync(server.file, routes(fresh, `${store}\nreload: { pin_calls: 8s, watch: false }`));
  t.strictSame(await server.reloader.reload('test'), { outcome: 'applied', version: 2 });
  // Call c1 is pinned to the old routes, so its pool stays: it still reaches the old upstream.
  t.strictSame((await lookup(server.url, 'c1')).body, { results: [{ tool_call_id: 'tc_1', result: 'old' }] }, 'the pinned call still uses the old upstream');
  t.ok(Date.now() - pinnedAt < 8000, 'checked while the pin lasts');
  await eventually(() => old.openConnections() === 0, 15_000);
  t.ok(Date.now() - pinnedAt >= 7900, `closed ${Date.now() - pinnedAt} ms after the pin began, once it had expired`);
  t.strictSame((await lookup(server.url, 'c2')).body, { results: [{ tool_call_id: 'tc_1', result: 'new' }] });
});

t.test('an assistant removed by a reload: its calls in progress go on, new calls get 404', async (t) => {
  const backend = await startBackend(t, json({ result: 'still served' }));
  const withSales = (extra: string) => `version: 1
account: { secrets: [test-secret] }
tools: { lookup: { url: "${backend.url}" } }
${extra}
${store}
`;
  const server = await serve(t, withSales('assistants: { sales: {} }\nreload: { watch: false }'));
  const sales = (callId: string) => send(`${server.url}/webhook/sales`, toolCalls([['lookup', {}]], { call: { id: callId } }));
  t.strictSame((await sales('ongoing')).body, { results: [{ tool_call_id: 'tc_1', result: 'still served' }] });
  writeFileSync(server.file, withSales('reload: { watch: false }'));
  t.strictSame(await server.reloader.reload('test'), { outcome: 'applied', version: 2 });
  const ongoing = await sales('ongoing');
  t.strictSame([ongoing.status, ongoing.body], [200, { results: [{ tool_call_id: 'tc_1', result: 'still served' }] }], 'the call in progress keeps its routes');
  const fresh = await sales('new-call');
  t.strictSame([fresh.status, fresh.body], [404, { error: 'GW_ERR_UNKNOWN_ASSISTANT', message: 'No assistant "sales" in routes.yaml. Check the name in the webhook URL.' }]);
  const unknown = await send(`${server.url}/webhook/never`, toolCalls([['lookup', {}]]));
  t.equal(unknown.status, 404);
});

t.test('a reload that fails unexpectedly is counted, and the next one still works', async (t) => {
  const before = await startBackend(t, json({ result: 'before' }));
  const after = await startBackend(t, json({ result: 'after' }));
  const server = await serve(t, routes(before, `${store}\nreload: { watch: false }`));
  rmSync(server.file);
  const missing = await server.reloader.reload('test');
  t.equal(missing.outcome, 'refused');
  writeFileSync(server.file, routes(after, `${store}\nreload: { watch: false }`));
  t.strictSame(await server.reloader.reload('test'), { outcome: 'applied', version: 2 });
  t.equal((await scrape(server.url)).value('hms_router_config_reload_failures_total'), 1);
  t.strictSame((await lookup(server.url, 'c1')).body, { results: [{ tool_call_id: 'tc_1', result: 'after' }] });
});

t.test('serve: SIGHUP reloads (with reload.watch off, only SIGHUP does)', async (t) => {
  requireBuiltCli();
  const before = await startBackend(t, json({ result: 'before' }));
  const after = await startBackend(t, json({ result: 'after' }));
  const dir = mkdtempSync(join(tmpdir(), 'hms-sighup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  const extra = `store: { path: "${join(dir, 'outbox.db')}" }\nreload: { watch: false }`;
  writeFileSync(file, routes(before, extra));
  const server = await serveCli(t, file, { env: cleanEnv() });
  writeFileSync(file, routes(after, extra));
  await sleep(1200);
  t.strictSame((await lookup(server.url, 'c1')).body, { results: [{ tool_call_id: 'tc_1', result: 'before' }] }, 'no watching: nothing changed yet');
  server.child.kill('SIGHUP');
  await waitForLog(server, (r) => r.msg === 'routes reloaded: new calls use the new routes, calls in progress keep theirs' && r.trigger === 'SIGHUP', 5000);
  t.strictSame((await lookup(server.url, 'c2')).body, { results: [{ tool_call_id: 'tc_1', result: 'after' }] });
});

t.test('a large table (the fast path, a kept worker): a new tool answers after the reload; a broken one is refused at its line', async (t) => {
  const backend = await startBackend(t, async (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: req.url }));
  });
  const secret = 'large-table-secret-0123456789';
  const large = (extraTool: string) => {
    const { text, firstToolLine } = largeRoutesYaml({ assistants: 100, secret, backend: backend.url, head: [store, 'reload: { watch: false }'] });
    const lines = text.split('\n');
    lines.splice(firstToolLine(0) - 1, 0, extraTool);
    return { text: lines.join('\n'), line: firstToolLine(0) };
  };
  const first = large('      probe: { upstream: backend, path: /before }');
  const server = await serve(t, first.text);
  // A new call each time: a call stays on the routes of its first event.
  const probe = async (callId: string) => (await send(`${server.url}/webhook/a0`, toolCalls([['probe', {}]], { call: { id: callId } }), { secret })).body;
  t.strictSame(await probe('c1'), { results: [{ tool_call_id: 'tc_1', result: '/before' }] });

  writeFileSync(server.file, large('      probe: { upstream: backend, path: /after }').text);
  t.strictSame(await server.reloader.reload('SIGHUP'), { outcome: 'applied', version: 2 });
  t.strictSame(await probe('c2'), { results: [{ tool_call_id: 'tc_1', result: '/after' }] });

  const broken = large('      probe: { upstream: backnd, path: /broken }');
  writeFileSync(server.file, broken.text);
  t.strictSame(await server.reloader.reload('SIGHUP'), {
    outcome: 'refused',
    diagnostics: [`${server.file}:${broken.line}:${' '.repeat(6).length + 'probe: { upstream: '.length + 1} assistants.a0.tools.probe.upstream: upstream "backnd" is not declared under upstreams (declared: backend)`],
  });
  t.strictSame(await probe('c3'), { results: [{ tool_call_id: 'tc_1', result: '/after' }] }, 'the running routes stay');
});
