// The built CLI (node dist/cli.js) as a user runs it: check (route table, diagnostics on stderr,
// exit codes), serve (bad config, listening on 127.0.0.1 port 0, /healthz, SIGTERM; flags over env
// over defaults; requests in flight finish on SIGINT/SIGTERM, a second signal exits 1), --version.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { CLI, cleanEnv, exitWithin, logRecords, requireBuiltCli, ROOT, RUN_LIMIT_MS, runCli, startCli, waitForLog } from './helpers/cli.js';
import { largeRoutesYaml } from './helpers/large-routes.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { parse } from 'yaml';
import { json, startBackend } from './helpers/backend.js';
import { send, toolCalls, type SentReply } from './helpers/gateway.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

// About twenty node processes, each a second or so under tap's coverage: more than tap's default
// per-file timeout allows on a busy machine.
t.setTimeout(180_000);

t.before(requireBuiltCli);

const start = (t: Test, args: string[], env: NodeJS.ProcessEnv = cleanEnv(), cwd: string = ROOT) => startCli(t, args, { env, cwd });
const run = (t: Test, args: string[], env?: NodeJS.ProcessEnv, cwd?: string) => runCli(t, args, { env, cwd });

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

const SMALL = yaml(
  'version: 1',
  'account:',
  '  secrets: [s-0123456789abcdef]',
  'upstreams:',
  '  crm:',
  '    url: http://127.0.0.1:4100',
  '    timeout: 3s',
  'tools:',
  '  lookup_contact: { upstream: crm, path: /contacts/search }',
  '  order_status: { url: "http://127.0.0.1:4300/orders/{order_id}", method: GET, fallback: "Orders are unavailable." }',
  'assistants:',
  '  sales:',
  '    tools:',
  '      lookup_contact: { upstream: crm, path: /sales/contacts, timeout: 1500ms }',
  '    events:',
  '      status-update: { upstream: crm, path: /sales/status }',
  'events:',
  '  assistant-request:',
  '    static: { assistant: { first_message: "Hi" } }',
  '  end-of-call-report:',
  '    - { upstream: crm, path: /calls }',
  '    - { url: "http://127.0.0.1:4500/archive", timeout: 1m }',
  'fallback:',
  '  url: http://127.0.0.1:4900/hms-webhook',
  'security:',
  '  timestamp_tolerance: 300',
);

const BAD = yaml(
  'version: 1',
  'account:',
  '  secrets: [s]',
  'tools:',
  '  a:',
  '    url: http://127.0.0.1:4100/a',
  '    methd: GET',
  '  b: { url: nope }',
  'limits:',
  '  body: 1 megabyte',
);
const badLines = (file: string): string =>
  [
    `${file}:7:5 tools.a: unknown key "methd"; remove it or check its spelling`,
    `${file}:8:13 tools.b.url: expected an absolute http:// or https:// URL, with {placeholders} only after the host`,
    `${file}:10:9 limits.body: expected a size like 512kb, 1mb or an integer of bytes, got "1 megabyte"`,
    '',
  ].join('\n');

t.test('check: a small config prints OK, the route table, and its warning on stderr', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': SMALL }), 'routes.yaml');
  const result = await run(t, ['check', file]);
  t.equal(result.code, 0);
  t.equal(
    result.stdout,
    [
      `${file}: OK`,
      '',
      'SCOPE     TOOL / EVENT        TARGET',
      'account   lookup_contact      POST http://127.0.0.1:4100/contacts/search (upstream crm), timeout 3s',
      'account   order_status        GET http://127.0.0.1:4300/orders/{order_id}, timeout 5s, with fallback',
      'account   assistant-request   static reply',
      'account   end-of-call-report  POST http://127.0.0.1:4100/calls (upstream crm), timeout 3s',
      'account   end-of-call-report  POST http://127.0.0.1:4500/archive, timeout 1m',
      'sales     lookup_contact      POST http://127.0.0.1:4100/sales/contacts (upstream crm), timeout 1500ms',
      'sales     status-update       POST http://127.0.0.1:4100/sales/status (upstream crm), timeout 3s',
      'fallback  *                   POST http://127.0.0.1:4900/hms-webhook, timeout 5s',
      '',
    ].join('\n'),
  );
  // Value warnings first, then likely mistakes (src/config/lint.ts), each group in file order.
  t.equal(
    result.stderr,
    [
      `${file}:26:24 warning: timestamp_tolerance: 300 is 300 milliseconds; did you mean 300s?`,
      `${file}:9:3 warning: ${noFallbackWarning('tools.lookup_contact', 'lookup contact')}`,
      `${file}:14:7 warning: ${noFallbackWarning('assistants.sales.tools.lookup_contact', 'lookup contact')}`,
      '',
    ].join('\n'),
  );
});

t.test('check: a reader that stops early (| head) ends the output quietly, with the command exit code', async (t) => {
  // 10,000 routes: far more output than a pipe holds, so the CLI is still writing when it closes.
  const file = join(t.testdir({ 'routes.yaml': largeRoutesYaml({ assistants: 1000 }).text }), 'routes.yaml');
  const child = spawn(process.execPath, [CLI, 'check', file], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const first = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
  child.stdout.destroy();
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  t.ok(performance.now() - started < RUN_LIMIT_MS);
  t.match(first, `${file}: OK`);
  t.equal(code, 0);
  t.notMatch(stderr, /EPIPE|Error/);
});

t.test('check: a config without routes says so', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': yaml('version: 1', 'security: { allow_unsigned: true }') }), 'routes.yaml');
  const result = await run(t, ['check', file]);
  t.strictSame(result, { code: 0, signal: null, stdout: `${file}: OK\n\nNo routes: every tool call answers "no route".\n`, stderr: '' });
});

const DEMO_SECRET_WARNING = 'this is the demo secret from the shipped routes.yaml: anyone can sign requests with it. Set a real one (e.g. openssl rand -hex 32) before exposing the gateway';
function noFallbackWarning(path: string, spoken: string): string {
  return `${path} has no fallback: when its backend fails or is too slow the caller hears the built-in "The ${spoken} service did not answer in time."; add fallback: "…" to it, or defaults.fallback for every tool`;
}

t.test('check: the shipped routes.yaml, by name and by default', async (t) => {
  const shipped = parse(readFileSync(join(ROOT, 'routes.yaml'), 'utf8')) as { tools?: Record<string, unknown> };
  for (const args of [['check', 'routes.yaml'], ['check']]) {
    const result = await run(t, args);
    const shown = args[1] ?? './routes.yaml';
    t.equal(result.code, 0, `${args.join(' ')} exits 0`);
    // As shipped it runs on the demo secret, and says so; nothing else (defaults.fallback covers every tool).
    t.equal(result.stderr, `${shown}:10:13 warning: ${DEMO_SECRET_WARNING}\n`, 'only the demo-secret warning');
    const lines = result.stdout.split('\n');
    t.strictSame(lines.slice(0, 2), [`${shown}: OK`, ''], 'OK first');
    t.match(lines[2], /^SCOPE +TOOL \/ EVENT +TARGET$/, 'then the table header');
    for (const tool of Object.keys(shipped.tools ?? {})) {
      t.ok(
        lines.some((line) => new RegExp(`^account +${escape(tool)} +(GET|POST|PUT|PATCH|DELETE) http`).test(line)),
        `a row for the account tool ${tool}`,
      );
    }
  }
});

t.test('check: every examples/*.yaml is valid', async (t) => {
  const examples = readdirSync(join(ROOT, 'examples')).filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'));
  t.ok(examples.length > 0, 'there are example configs');
  for (const name of examples) {
    const file = `examples/${name}`;
    const result = await run(t, ['check', file]);
    t.equal(result.code, 0, `${file} exits 0`);
    t.ok(
      result.stderr
        .split('\n')
        .filter(Boolean)
        .every((line) => line.startsWith(`${file}:`) && line.endsWith(`warning: ${DEMO_SECRET_WARNING}`)),
      `${file}: at most the demo-secret warning on stderr: ${result.stderr}`,
    );
    t.ok(result.stdout.startsWith(`${file}: OK\n\nSCOPE `), `${file}: OK and a route table`);
  }
});

t.test('check: a bad file prints every problem as FILE:LINE:COL message on stderr and exits 1', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': BAD }), 'routes.yaml');
  const result = await run(t, ['check', file]);
  t.strictSame(result, { code: 1, signal: null, stdout: '', stderr: badLines(file) });
});

t.test('check: a missing environment variable is named, and exits 1', async (t) => {
  const name = 'HMS_TOOL_ROUTER_TEST_UNSET';
  const file = join(t.testdir({ 'routes.yaml': yaml('version: 1', 'account:', `  secrets: ["\${${name}}"]`) }), 'routes.yaml');
  const result = await run(t, ['check', file]);
  t.strictSame(result, {
    code: 1,
    signal: null,
    stdout: '',
    stderr: `${file}:3:14 environment variable ${name} is not set (used as \${${name}}); set it, or write \${${name}:-default}\n`,
  });
  // Set, it passes.
  const ok = await run(t, ['check', file], cleanEnv({ [name]: 'a-secret-of-24-characters' }));
  t.equal(ok.code, 0);
  t.equal(ok.stderr, '');
});

t.test('check: a missing file is one line on stderr, with advice that fits check', async (t) => {
  const file = join(t.testdir({}), 'nope.yaml');
  const result = await run(t, ['check', file]);
  t.equal(result.code, 1);
  t.equal(result.stdout, '');
  t.match(result.stderr, new RegExp(`^${escape(file)} cannot read routes file: file not found[^\\n]*\\n$`));
  // check takes the file as its argument; `check --routes FILE` is a usage error.
  t.notMatch(result.stderr, /--routes/);
});

t.test('check: usage errors exit 1', async (t) => {
  for (const args of [['check', 'a.yaml', 'b.yaml'], ['check', '--routes', 'routes.yaml']]) {
    t.strictSame(await run(t, args), { code: 1, signal: null, stdout: '', stderr: 'Usage: hms-tool-router check [FILE]\n' }, args.join(' '));
  }
});

t.test('serve: a bad routes file exits 1 without listening, with the same lines as check', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': BAD }), 'routes.yaml');
  const result = await run(t, ['serve', '--routes', file, '--port', '0', '--host', '127.0.0.1']);
  t.strictSame(result, { code: 1, signal: null, stdout: '', stderr: badLines(file) });
});

t.test('serve: a missing routes file exits 1', async (t) => {
  const file = join(t.testdir({}), 'nope.yaml');
  const result = await run(t, ['serve', '--routes', file, '--port', '0', '--host', '127.0.0.1']);
  t.equal(result.code, 1);
  t.equal(result.stdout, '');
  t.match(result.stderr, new RegExp(`^${escape(file)} cannot read routes file: file not found[^\\n]*\\n$`));
});

t.test('serve: a bad --port exits 1', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': SMALL }), 'routes.yaml');
  t.strictSame(await run(t, ['serve', '--routes', file, '--port', 'http', '--host', '127.0.0.1']), {
    code: 1,
    signal: null,
    stdout: '',
    stderr: '--port must be a whole number from 0 to 65535, got "http"\n',
  });
});

t.test('serve: listens on 127.0.0.1, answers /healthz, stops cleanly on SIGTERM', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': SMALL }), 'routes.yaml');
  const server = start(t, ['serve', '--routes', file, '--port', '0', '--host', '127.0.0.1']);

  const listening = await waitForLog(server, (record) => record.msg === 'hms-tool-router listening', RUN_LIMIT_MS);
  t.equal(listening.routes, file);
  const address = String(listening.address);
  t.match(address, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/, 'bound to 127.0.0.1 on a real port');
  // The config's warning is logged before it listens.
  t.match(logRecords(server.output().stdout)[0], { level: 40, file, line: 26, col: 24, msg: 'timestamp_tolerance: 300 is 300 milliseconds; did you mean 300s?' });

  const res = await request(`${address}/healthz`);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  t.strictSame(await res.body.json(), { status: 'ok' });

  const started = Date.now();
  server.child.kill('SIGTERM');
  const exited = await Promise.race([server.exited, new Promise<undefined>((resolve) => setTimeout(resolve, 10_000, undefined))]);
  t.ok(exited !== undefined, `exits within 10s of SIGTERM (took ${Date.now() - started}ms)`);
  if (exited === undefined) return;
  t.equal(exited.code, 0, 'exit code 0');
  t.equal(exited.signal, null, 'exited by itself, not killed by the signal');
  t.equal(exited.stderr, '');
  const messages = logRecords(exited.stdout).map((record) => record.msg);
  t.strictSame(messages.slice(-2), ['shutting down: finishing requests in flight', 'stopped']);
});

t.test('unknown command exits 1 with the usage on stderr', async (t) => {
  const result = await run(t, ['frobnicate']);
  t.equal(result.code, 1);
  t.equal(result.stdout, '');
  t.ok(result.stderr.startsWith('Unknown command "frobnicate".\n\nUsage: hms-tool-router <command> [options]\n'), result.stderr);
});

t.test('--help prints the usage and exits 0', async (t) => {
  const result = await run(t, ['--help']);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  t.ok(result.stdout.startsWith('Usage: hms-tool-router <command> [options]\n'), result.stdout);
  t.match(result.stdout, /\n {2}serve \[--routes FILE\]/);
  t.match(result.stdout, /\n {2}check \[FILE\]/);
  t.match(result.stdout, /\n {2}send <event> \[--tool NAME --args JSON\]\.\.\. \[--url URL\] \[--secret S \| --secret-env NAME\]\n/);
  t.match(result.stdout, /\n {2}explain --tool NAME \[--assistant A \| --to NUMBER\] \[--routes FILE\]\n/);
  t.match(result.stdout, /\n {2}schema {2,}print the JSON Schema of routes\.yaml\n/);
});

t.test('--version prints the package.json version', async (t) => {
  t.strictSame(await run(t, ['--version']), { code: 0, signal: null, stdout: `${VERSION}\n`, stderr: '' });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}




// ---- serve: flags, environment and defaults; shutdown with a request in flight ----

/** A valid config whose secret is long enough not to draw a weak-secret warning. */
const CLI_SECRET = 'cli-test-secret-0123456789';
const routesFor = (toolUrl: string): string =>
  yaml('version: 1', 'account:', `  secrets: [${CLI_SECRET}]`, 'tools:', `  slow: { url: "${toolUrl}", fallback: "The slow service is busy." }`);
/** An address nothing on this machine can bind (TEST-NET-1): if serve used it, it would fail rather than listen. */
const UNBINDABLE_HOST = '192.0.2.1';


/** Polls until `predicate` holds; throws after `timeoutMs`. */
async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const stop = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > stop) throw new Error(`${what}: not within ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const listeningLine = (server: ReturnType<typeof start>) => waitForLog(server, (record) => record.msg === 'hms-tool-router listening', RUN_LIMIT_MS);

t.test('serve: with no flags, ROUTES_FILE, PORT and HOST come from the environment', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': routesFor('http://127.0.0.1:9/slow') }), 'routes.yaml');
  const server = start(t, ['serve'], cleanEnv({ ROUTES_FILE: file, PORT: '0', HOST: '127.0.0.1' }));
  const listening = await listeningLine(server);
  t.equal(listening.routes, file, 'routes from ROUTES_FILE');
  const address = String(listening.address);
  t.ok(address.startsWith('http://127.0.0.1:'), `listens on 127.0.0.1 (${address})`);
  t.match(address, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/, 'PORT=0: a port picked by the system');
  const res = await request(`${address}/healthz`);
  t.equal(res.statusCode, 200);
  t.strictSame(await res.body.json(), { status: 'ok' });
  server.child.kill('SIGTERM');
  const exited = await exitWithin(server, 10_000);
  t.equal(exited?.code, 0, 'exits 0 on SIGTERM');
  t.equal(exited?.stderr, '');
});

t.test('serve: --routes, --port and --host win over ROUTES_FILE, PORT and HOST', async (t) => {
  const dir = t.testdir({ 'routes.yaml': routesFor('http://127.0.0.1:9/slow') });
  const file = join(dir, 'routes.yaml');
  const env = cleanEnv({ ROUTES_FILE: join(dir, 'missing.yaml'), PORT: '1', HOST: UNBINDABLE_HOST });
  const server = start(t, ['serve', '--routes', file, '--port', '0', '--host', '127.0.0.1'], env);
  const listening = await listeningLine(server);
  t.equal(listening.routes, file, 'routes from --routes');
  const address = String(listening.address);
  t.ok(address.startsWith('http://127.0.0.1:'), `listens on --host 127.0.0.1 (${address})`);
  t.match(address, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/, '--port 0, not PORT=1');
  t.not(address, 'http://127.0.0.1:1');
  const res = await request(`${address}/healthz`);
  t.equal(res.statusCode, 200);
  t.strictSame(await res.body.json(), { status: 'ok' });
  server.child.kill('SIGTERM');
  const exited = await exitWithin(server, 10_000);
  t.equal(exited?.code, 0, 'exits 0 on SIGTERM');
  t.equal(exited?.stderr, '');
});

t.test('serve: without --routes or ROUTES_FILE it reads ./routes.yaml from the working directory', async (t) => {
  const dir = t.testdir({ 'routes.yaml': routesFor('http://127.0.0.1:9/slow') });
  const server = start(t, ['serve', '--port', '0', '--host', '127.0.0.1'], cleanEnv(), dir);
  const listening = await listeningLine(server);
  t.equal(listening.routes, './routes.yaml');
  t.match(String(listening.address), /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
  // No warning was logged: the temp routes.yaml was read, not the shipped one with its demo-secret warning.
  const warnings = logRecords(server.output().stdout).filter((record) => Number(record.level) >= 40);
  t.strictSame(warnings, [], 'no config warnings');
  server.child.kill('SIGTERM');
  const exited = await exitWithin(server, 10_000);
  t.equal(exited?.code, 0, 'exits 0 on SIGTERM');
});

t.test('serve: --port out of range or not a number, and unknown flags, exit 1', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': routesFor('http://127.0.0.1:9/slow') }), 'routes.yaml');
  for (const port of ['abc', '70000']) {
    t.strictSame(
      await run(t, ['serve', '--routes', file, '--port', port, '--host', '127.0.0.1']),
      { code: 1, signal: null, stdout: '', stderr: `--port must be a whole number from 0 to 65535, got "${port}"\n` },
      `--port ${port}`,
    );
  }
  // The same check applies to PORT from the environment.
  t.strictSame(
    await run(t, ['serve', '--routes', file, '--host', '127.0.0.1'], cleanEnv({ PORT: 'abc' })),
    { code: 1, signal: null, stdout: '', stderr: '--port must be a whole number from 0 to 65535, got "abc"\n' },
    'PORT=abc',
  );
  const unknown = await run(t, ['serve', '--routes', file, '--port', '0', '--host', '127.0.0.1', '--nope']);
  t.equal(unknown.code, 1, '--nope exits 1');
  t.equal(unknown.stdout, '');
  t.match(unknown.stderr, /--nope/, 'names the unknown flag');
  t.ok(unknown.stderr.split('\n').includes('Usage: hms-tool-router serve [--routes FILE] [--port N] [--host H]'), `a usage line on stderr: ${unknown.stderr}`);
});

/** A backend answering `body` after `delayMs`, a config routing tool `slow` to it, and serve running on that config. */
async function slowSetup(t: Test, delayMs: number) {
  const backend = await startBackend(t, json({ result: 'finished' }, 200, delayMs));
  const file = join(t.testdir({ 'routes.yaml': routesFor(`${backend.url}/slow`) }), 'routes.yaml');
  const server = start(t, ['serve', '--routes', file, '--port', '0', '--host', '127.0.0.1']);
  const address = String((await listeningLine(server)).address);
  return { backend, server, address };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  t.test(`serve: on ${signal} a request in flight still gets its reply, then the process exits 0`, async (t) => {
    const { backend, server, address } = await slowSetup(t, 500);
    const reply = send(`${address}/webhook`, toolCalls([['slow', { q: 1 }]]), { secret: CLI_SECRET });
    // Keep a rejection from going unhandled while we wait for the backend.
    reply.catch(() => {});
    await until(() => backend.requests.length > 0, RUN_LIMIT_MS, 'the backend receives the tool call');
    const signalled = Date.now();
    server.child.kill(signal);

    const res: SentReply = await reply;
    t.equal(res.status, 200, 'the reply is 200');
    t.strictSame(res.body, { results: [{ tool_call_id: 'tc_1', result: 'finished' }] }, 'with the backend result');

    const exited = await exitWithin(server, Math.max(0, 5_000 - (Date.now() - signalled)));
    t.ok(exited !== undefined, `exits within 5s of ${signal} (took ${Date.now() - signalled}ms)`);
    if (exited === undefined) return;
    t.equal(exited.code, 0, 'exit code 0');
    t.equal(exited.signal, null, 'exited by itself, not killed by the signal');
    t.equal(exited.stderr, '');
    t.equal(backend.requests.length, 1, 'one backend request');
    const shutdown = logRecords(exited.stdout).find((record) => record.msg === 'shutting down: finishing requests in flight');
    t.match(shutdown, { signal }, 'logs the signal');
  });
}

t.test('serve: a second signal while shutting down exits 1 at once', async (t) => {
  const { backend, server, address } = await slowSetup(t, 3_000);
  const reply = send(`${address}/webhook`, toolCalls([['slow', {}]]), { secret: CLI_SECRET });
  // The gateway exits without answering; the client's error is expected.
  reply.catch(() => {});
  await until(() => backend.requests.length > 0, RUN_LIMIT_MS, 'the backend receives the tool call');
  server.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(server.child.exitCode, null, 'still running (finishing the request) after the first SIGTERM');
  const second = Date.now();
  server.child.kill('SIGTERM');
  const exited = await exitWithin(server, 2_000);
  t.ok(exited !== undefined, `exits within 2s of the second SIGTERM (took ${Date.now() - second}ms)`);
  if (exited === undefined) return;
  t.equal(exited.code, 1, 'exit code 1');
  t.equal(exited.signal, null, 'exited by itself, not killed by the signal');
  t.ok(
    logRecords(exited.stdout).some((record) => record.msg === 'second signal: exiting without waiting'),
    'logs that it exits without waiting',
  );
});
