// The built `events` CLI (node dist/cli.js events list|retry|purge) against a real SQLite outbox:
// list as a table and as JSON lines, its filters and exit codes; how the config (and so the store)
// is found; retry of dead letters picked up by a running gateway process; purge.
import t, { type Test } from 'tap';
import { cleanEnv, eventsListJson as listJson, outboxRoutesYaml, OUTBOX_SECRET, eventsListUntil as listUntil, logRecords, requireBuiltCli, RUN_LIMIT_MS, runCli, startCli, waitForLog, type Started } from '../helpers/cli.js';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openOutboxStore, type NewDelivery } from '../../src/events/outbox-store.js';
import { startBackend, type Backend } from '../helpers/backend.js';
import { eventually, send } from '../helpers/gateway.js';

const SECRET = OUTBOX_SECRET;
const RECORD_KEYS = ['attempts', 'call_id', 'created_at', 'delivery_id', 'event', 'last_error', 'status', 'target', 'updated_at'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// A few dozen node processes, each a fraction of a second: more than tap's default per-file timeout
// allows on a busy machine.
t.setTimeout(240_000);

t.before(requireBuiltCli);

const start = (t: Test, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()) => startCli(t, args, { cwd, env });
const run = (t: Test, args: string[], cwd: string, env?: NodeJS.ProcessEnv) => runCli(t, args, { cwd, env });




/**
 * A fresh directory under the system temp dir, removed at teardown. Not t.testdir(): its path is
 * derived from the test's name, so two runs of this file at once (a full `tap` run next to a
 * single-file one) would share and overwrite each other's stores.
 */
function tempDir(t: Test, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hms-events-cli-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function delivery(callId: string | undefined, event: string, targetUrl: string, body = '{}'): NewDelivery {
  return {
    callId,
    event,
    request: { targetId: 'test-target', targetUrl, path: new URL(targetUrl).pathname, method: 'POST', headers: { 'x-webhook-event': event }, body: Buffer.from(body) },
  };
}

const T0 = Date.parse('2025-12-13T12:00:00.000Z');

/**
 * A temp dir with routes.yaml pointing at data/outbox.db, which holds three deliveries written
 * straight into the store: one delivered, one dead, one pending (without a call id).
 */
function fixture(t: Test) {
  const dir = tempDir(t);
  const storePath = join(dir, 'data', 'outbox.db');
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, outboxRoutesYaml(storePath));
  const store = openOutboxStore(storePath);
  const [delivered, dead, pending] = store.insert(
    [
      delivery('call-a', 'end-of-call-report', 'http://127.0.0.1:9/calls'),
      delivery('call-b', 'status-update', 'http://127.0.0.1:9/status?token=abc'),
      delivery(undefined, 'end-of-call-report', 'http://127.0.0.1:9/calls'),
    ],
    T0,
  ) as [string, string, string];
  store.startAttempt(delivered, T0 + 1000);
  store.markDelivered(delivered, T0 + 2000);
  store.startAttempt(dead, T0 + 1000);
  store.markDead(dead, 'HTTP 400', T0 + 3000);
  store.close();
  return { dir, storePath, routes, ids: { delivered, dead, pending } };
}

// ---- list ----

t.test('list: a table of every delivery, oldest first; the target without its query', async (t) => {
  const { dir, routes, ids } = fixture(t);
  const result = await run(t, ['events', 'list', '--routes', routes], dir);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  t.equal(
    result.stdout,
    [
      `DELIVERY ID${' '.repeat(25)}  CALL    EVENT               STATUS     ATTEMPTS  TARGET                     LAST ERROR`,
      `${ids.delivered}  call-a  end-of-call-report  delivered  1         http://127.0.0.1:9/calls`,
      `${ids.dead}  call-b  status-update       dead       1         http://127.0.0.1:9/status  HTTP 400`,
      `${ids.pending}  -       end-of-call-report  pending    0         http://127.0.0.1:9/calls`,
      '',
    ].join('\n'),
  );
});

t.test('list --json: one object per line with exactly the documented keys', async (t) => {
  const { dir, routes, ids } = fixture(t);
  const result = await run(t, ['events', 'list', '--json', '--routes', routes], dir);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  t.ok(result.stdout.endsWith('\n'), 'ends with a newline');
  const lines = result.stdout.split('\n').slice(0, -1);
  t.equal(lines.length, 3, 'three lines');
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const record of records) t.strictSame(Object.keys(record).sort(), RECORD_KEYS, `keys of ${String(record.delivery_id)}`);
  t.strictSame(records[0], {
    delivery_id: ids.delivered,
    call_id: 'call-a',
    event: 'end-of-call-report',
    target: 'http://127.0.0.1:9/calls',
    status: 'delivered',
    attempts: 1,
    last_error: null,
    created_at: '2025-12-13T12:00:00.000Z',
    updated_at: '2025-12-13T12:00:02.000Z',
  });
  t.match(records[1], {
    delivery_id: ids.dead,
    call_id: 'call-b',
    event: 'status-update',
    target: /^http:\/\/127\.0\.0\.1:9\/status/,
    status: 'dead',
    attempts: 1,
    last_error: 'HTTP 400',
    created_at: '2025-12-13T12:00:00.000Z',
    updated_at: '2025-12-13T12:00:03.000Z',
  });
  t.strictSame(records[2], {
    delivery_id: ids.pending,
    call_id: null,
    event: 'end-of-call-report',
    target: 'http://127.0.0.1:9/calls',
    status: 'pending',
    attempts: 0,
    last_error: null,
    created_at: '2025-12-13T12:00:00.000Z',
    updated_at: '2025-12-13T12:00:00.000Z',
  });
});

t.test('list --status and --call filter, alone and together', async (t) => {
  const { dir, routes, ids } = fixture(t);
  const idsOf = (records: Record<string, unknown>[]) => records.map((r) => r.delivery_id);
  t.strictSame(idsOf(await listJson(t, dir, routes, '--status', 'pending')), [ids.pending], '--status pending');
  t.strictSame(idsOf(await listJson(t, dir, routes, '--status', 'delivered')), [ids.delivered], '--status delivered');
  t.strictSame(idsOf(await listJson(t, dir, routes, '--status', 'dead')), [ids.dead], '--status dead');
  t.strictSame(idsOf(await listJson(t, dir, routes, '--call', 'call-b')), [ids.dead], '--call call-b');
  t.strictSame(idsOf(await listJson(t, dir, routes, '--call', 'call-a', '--status', 'delivered')), [ids.delivered], '--call call-a --status delivered');
  t.strictSame(idsOf(await listJson(t, dir, routes, '--call', 'call-a', '--status', 'dead')), [], '--call call-a --status dead');
  t.strictSame(idsOf(await listJson(t, dir, routes, '--call', 'nobody')), [], '--call nobody');

  const table = await run(t, ['events', 'list', '--status', 'dead', '--routes', routes], dir);
  t.equal(table.code, 0);
  const lines = table.stdout.split('\n');
  t.equal(lines.length, 3, 'header, one row, final newline');
  t.match(lines[0], /^DELIVERY ID +CALL +EVENT +STATUS +ATTEMPTS +TARGET +LAST ERROR$/);
  t.ok(lines[1]!.startsWith(`${ids.dead}  call-b`), 'the dead row');
});

t.test('list: nothing to show exits 0, "No deliveries." as a table and no output with --json', async (t) => {
  const { dir, routes } = fixture(t);
  t.strictSame(await run(t, ['events', 'list', '--status', 'pending', '--call', 'call-a', '--routes', routes], dir), { code: 0, signal: null, stdout: 'No deliveries.\n', stderr: '' });
  t.strictSame(await run(t, ['events', 'list', '--json', '--call', 'nobody', '--routes', routes], dir), { code: 0, signal: null, stdout: '', stderr: '' });

  // A store with no rows at all.
  const empty = tempDir(t);
  const storePath = join(empty, 'outbox.db');
  writeFileSync(join(empty, 'routes.yaml'), outboxRoutesYaml(storePath));
  openOutboxStore(storePath).close();
  t.strictSame(await run(t, ['events', 'list', '--routes', join(empty, 'routes.yaml')], empty), { code: 0, signal: null, stdout: 'No deliveries.\n', stderr: '' });
  t.strictSame(await run(t, ['events', 'list', '--json', '--routes', join(empty, 'routes.yaml')], empty), { code: 0, signal: null, stdout: '', stderr: '' });
});

t.test('list --status bogus exits 1 and names the allowed values', async (t) => {
  const { dir, routes } = fixture(t);
  const result = await run(t, ['events', 'list', '--status', 'bogus', '--routes', routes], dir);
  t.equal(result.code, 1);
  t.equal(result.stdout, '');
  t.match(result.stderr, /bogus/);
  t.match(result.stderr, /pending/);
  t.match(result.stderr, /delivered/);
  t.match(result.stderr, /dead/);
});

t.test('usage errors exit 1: no subcommand, an unknown one, an unknown flag', async (t) => {
  const { dir, routes } = fixture(t);
  for (const args of [['events'], ['events', 'bogus', '--routes', routes], ['events', 'list', '--nope', '--routes', routes]]) {
    const result = await run(t, args, dir);
    t.equal(result.code, 1, `${args.join(' ')} exits 1`);
    t.equal(result.stdout, '', `${args.join(' ')}: nothing on stdout`);
    t.match(result.stderr, /hms-tool-router events list/, `${args.join(' ')}: usage on stderr`);
  }
});

// ---- finding the config and the store ----

t.test('the config comes from --routes, else ROUTES_FILE, else ./routes.yaml; a relative store.path is relative to the working directory', async (t) => {
  const dir = tempDir(t);
  // Three configs, each with a relative store path and a store holding one delivery whose call id says which it is.
  const configs = { cwd: 'routes.yaml', env: 'conf/env.yaml', flag: 'conf/flag.yaml' } as const;
  mkdirSync(join(dir, 'conf'));
  for (const [name, file] of Object.entries(configs)) {
    writeFileSync(join(dir, file), outboxRoutesYaml(`./stores/${name}.db`));
    const store = openOutboxStore(join(dir, 'stores', `${name}.db`));
    store.insert([delivery(`from-${name}`, 'end-of-call-report', 'http://127.0.0.1:9/calls')], Date.now());
    store.close();
  }
  const callIds = async (args: string[], env: NodeJS.ProcessEnv) => {
    const result = await run(t, ['events', 'list', '--json', ...args], dir, env);
    t.equal(result.code, 0, `exits 0${result.code === 0 ? '' : `: ${result.stderr}`}`);
    return logRecords(result.stdout).map((r) => r.call_id);
  };
  t.strictSame(await callIds([], cleanEnv()), ['from-cwd'], './routes.yaml in the working directory');
  t.strictSame(await callIds([], cleanEnv({ ROUTES_FILE: configs.env })), ['from-env'], 'ROUTES_FILE over ./routes.yaml');
  t.strictSame(await callIds(['--routes', configs.flag], cleanEnv({ ROUTES_FILE: configs.env })), ['from-flag'], '--routes over ROUTES_FILE');
  // conf/flag.yaml says ./stores/flag.db: that is <cwd>/stores/flag.db, never <cwd>/conf/stores/flag.db.
  t.notOk(existsSync(join(dir, 'conf', 'stores')), 'nothing was created next to the routes file');

  // From another working directory, the same relative path points elsewhere: there is no store there.
  const other = tempDir(t);
  const result = await run(t, ['events', 'list', '--routes', join(dir, configs.flag)], other);
  t.equal(result.code, 1, 'no store relative to the other working directory');
  t.match(result.stderr, /stores\/flag\.db/);
});

t.test('a missing routes file exits 1', async (t) => {
  const dir = tempDir(t);
  const viaFlag = await run(t, ['events', 'list', '--routes', join(dir, 'nope.yaml')], dir);
  t.equal(viaFlag.code, 1);
  t.equal(viaFlag.stdout, '');
  t.match(viaFlag.stderr, /nope\.yaml.*cannot read routes file/);
  // No --routes and no ./routes.yaml in the working directory.
  const byDefault = await run(t, ['events', 'list'], dir);
  t.equal(byDefault.code, 1);
  t.equal(byDefault.stdout, '');
  t.match(byDefault.stderr, /routes\.yaml.*cannot read routes file/);
});

t.test('a missing store file exits 1 with a clear message, and is not created', async (t) => {
  const dir = tempDir(t);
  const storePath = join(dir, 'data', 'outbox.db');
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, outboxRoutesYaml(storePath));
  for (const args of [['list'], ['list', '--json'], ['retry', '--all-dead'], ['purge', '--dead', '--older-than', '7d']]) {
    const result = await run(t, ['events', ...args, '--routes', routes], dir);
    t.equal(result.code, 1, `events ${args.join(' ')} exits 1`);
    t.equal(result.stdout, '', `events ${args.join(' ')}: nothing on stdout`);
    t.equal(result.stderr.trim().split('\n').length, 1, `events ${args.join(' ')}: one line on stderr`);
    t.match(result.stderr, `no outbox store at ${storePath}`, `events ${args.join(' ')}: names the store path`);
  }
  t.notOk(existsSync(storePath), 'the store file was not created');
  t.notOk(existsSync(join(dir, 'data')), 'nor its directory');
});

t.test('a store file that is not a database exits 1', async (t) => {
  const dir = tempDir(t, { 'outbox.db': 'this is not an SQLite database, just some text that is long enough to have a header\n'.repeat(20) });
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, outboxRoutesYaml(join(dir, 'outbox.db')));
  const result = await run(t, ['events', 'list', '--routes', routes], dir);
  t.equal(result.code, 1);
  t.equal(result.stdout, '');
  t.match(result.stderr, /cannot open the outbox store/);
  t.notMatch(result.stderr, /^\s+at /m, 'no stack trace');
});

// ---- retry and purge without a gateway ----

t.test('retry: an unknown id, no id, and an id with --all-dead exit 1', async (t) => {
  const { dir, routes, ids } = fixture(t);
  const unknown = await run(t, ['events', 'retry', '00000000-0000-4000-8000-000000000000', '--routes', routes], dir);
  t.equal(unknown.code, 1, 'unknown id');
  t.equal(unknown.stdout, '');
  t.match(unknown.stderr, /00000000-0000-4000-8000-000000000000/, 'names the id');
  const none = await run(t, ['events', 'retry', '--routes', routes], dir);
  t.equal(none.code, 1, 'no id');
  t.match(none.stderr, /delivery id or --all-dead/);
  const both = await run(t, ['events', 'retry', ids.dead, '--all-dead', '--routes', routes], dir);
  t.equal(both.code, 1, 'an id and --all-dead');
  // Nothing changed.
  t.strictSame(
    (await listJson(t, dir, routes)).map((r) => [r.delivery_id, r.status]),
    [
      [ids.delivered, 'delivered'],
      [ids.dead, 'dead'],
      [ids.pending, 'pending'],
    ],
  );
});

t.test('retry <id> makes a dead delivery pending again, keeping its id and attempt count', async (t) => {
  const { dir, routes, ids } = fixture(t);
  const result = await run(t, ['events', 'retry', ids.dead, '--routes', routes], dir);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, ids.dead);
  const [record] = await listJson(t, dir, routes, '--call', 'call-b');
  t.match(record, { delivery_id: ids.dead, status: 'pending', attempts: 1 });
  t.ok(Date.parse(String(record!.updated_at)) > T0 + 3000, 'updated now');
});

t.test('purge: --dead --older-than removes dead deliveries only; missing or bad flags exit 1', async (t) => {
  const dir = tempDir(t);
  const storePath = join(dir, 'outbox.db');
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, outboxRoutesYaml(storePath));
  const store = openOutboxStore(storePath);
  const then = Date.now() - 60_000;
  const [a, b, c, d] = store.insert(
    ['call-1', 'call-2', 'call-3', 'call-4'].map((id) => delivery(id, 'end-of-call-report', 'http://127.0.0.1:9/calls')),
    then,
  ) as [string, string, string, string];
  store.markDead(a, 'HTTP 400', then);
  store.markDead(b, 'HTTP 404', then);
  store.markDelivered(c, then);
  store.close();
  const statuses = async () => (await listJson(t, dir, routes)).map((r) => [r.delivery_id, r.status]);
  const before = [
    [a, 'dead'],
    [b, 'dead'],
    [c, 'delivered'],
    [d, 'pending'],
  ];

  for (const args of [['--dead'], ['--older-than', '0ms'], [], ['--dead', '--older-than', 'soon'], ['--older-than', '0ms', 'extra']]) {
    const result = await run(t, ['events', 'purge', ...args, '--routes', routes], dir);
    t.equal(result.code, 1, `purge ${args.join(' ')} exits 1`);
    t.equal(result.stdout, '', `purge ${args.join(' ')}: nothing on stdout`);
    t.match(result.stderr, /--dead/, `purge ${args.join(' ')}: says what it needs`);
  }
  t.strictSame(await statuses(), before, 'nothing removed by the failed runs');

  const younger = await run(t, ['events', 'purge', '--dead', '--older-than', '7d', '--routes', routes], dir);
  t.strictSame(younger, { code: 0, signal: null, stdout: '0 dead deliveries removed.\n', stderr: '' }, 'dead letters younger than 7d stay');
  t.strictSame(await statuses(), before);

  const all = await run(t, ['events', 'purge', '--dead', '--older-than', '0ms', '--routes', routes], dir);
  t.strictSame(all, { code: 0, signal: null, stdout: '2 dead deliveries removed.\n', stderr: '' });
  t.strictSame(await statuses(), [
    [c, 'delivered'],
    [d, 'pending'],
  ]);
  t.strictSame(await listJson(t, dir, routes, '--status', 'dead'), [], 'no dead ones left');
});

// ---- with a running gateway ----

interface GatewayProcess extends Started {
  address: string;
}


async function startGatewayProcess(t: Test, routes: string, cwd: string): Promise<GatewayProcess> {
  const server = start(t, ['serve', '--routes', routes, '--port', '0', '--host', '127.0.0.1'], cwd);
  const listening = await waitForLog(server, (record) => record.msg === 'hms-tool-router listening', RUN_LIMIT_MS);
  return { ...server, address: String(listening.address) };
}

/** A backend answering `status.code` (changeable while it runs) with {}. */
async function switchableBackend(t: Test): Promise<{ backend: Backend; status: { code: number } }> {
  const status = { code: 400 };
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(status.code, { 'content-type': 'application/json' }).end('{}');
  });
  return { backend, status };
}

function endOfCallReport(callId: string): string {
  return JSON.stringify({
    message: {
      type: 'end-of-call-report',
      timestamp: '2025-12-13T12:00:00.000Z',
      call: { id: callId, type: 'inbound_phone_call', status: 'ended' },
      phone_number: { number: '+31850835037', name: 'Demo' },
      customer: { number: '+31612345678' },
      summary: `The caller of ${callId} asked about an order.`,
      ended_reason: 'customer-ended-call',
    },
  });
}

t.test('a 400 dead-letters at once; after the backend is fixed, retry <id> has the running gateway deliver it, same id, next attempt', async (t) => {
  const { backend, status } = await switchableBackend(t);
  const dir = tempDir(t);
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, outboxRoutesYaml(join(dir, 'outbox.db'), `${backend.url}/calls`));
  const gateway = await startGatewayProcess(t, routes, dir);

  const raw = endOfCallReport('call-dead-1');
  const res = await send(`${gateway.address}/webhook`, raw, { secret: SECRET, event: 'end-of-call-report' });
  t.equal(res.status, 200, 'the platform hears 200');
  t.strictSame(res.body, {});

  const [dead] = await listUntil(t, dir, routes, (records) => records.length === 1 && records[0]!.status === 'dead', 'the delivery is dead');
  t.match(dead, { call_id: 'call-dead-1', event: 'end-of-call-report', target: `${backend.url}/calls`, status: 'dead', attempts: 1, last_error: 'HTTP 400' });
  t.match(String(dead!.delivery_id), UUID);
  t.strictSame(
    (await listJson(t, dir, routes, '--status', 'dead')).map((r) => r.delivery_id),
    [dead!.delivery_id],
    'visible with --status dead',
  );
  const table = await run(t, ['events', 'list', '--status', 'dead', '--routes', routes], dir);
  t.match(table.stdout, new RegExp(`\\n${dead!.delivery_id}  call-dead-1  end-of-call-report  dead +1 +${backend.url.replace(/\./g, '\\.')}/calls  HTTP 400\\n$`), 'the table shows it with its last error');
  // Final at once: no second attempt while it lies dead.
  await new Promise((resolve) => setTimeout(resolve, 700));
  t.equal(backend.requests.length, 1, 'the backend saw exactly one attempt');
  const first = backend.requests[0]!;
  t.equal(first.headers['x-delivery-id'], dead!.delivery_id, 'x-delivery-id is the delivery id');
  t.equal(first.headers['x-delivery-attempt'], '1');
  t.equal(first.text, raw, 'the original body');

  status.code = 200;
  const retried = await run(t, ['events', 'retry', String(dead!.delivery_id), '--routes', routes], dir);
  const retriedAt = Date.now();
  t.equal(retried.code, 0, `retry exits 0${retried.code === 0 ? '' : `: ${retried.stderr}`}`);
  t.equal(retried.stderr, '');
  await eventually(() => backend.requests.length >= 2, 3_000).then(
    () => t.pass(`the running gateway delivered it ${Date.now() - retriedAt}ms after the retry`),
    () => t.fail('the running gateway did not deliver the retried event within 3s'),
  );
  const second = backend.requests[1];
  t.equal(second?.headers['x-delivery-id'], dead!.delivery_id, 'the same delivery id');
  t.equal(second?.headers['x-delivery-attempt'], '2', 'the attempt count continues: 1 + 1');
  t.equal(second?.text, raw, 'the original body, byte for byte');

  const [after] = await listUntil(t, dir, routes, (records) => records[0]?.status === 'delivered', 'the delivery is recorded delivered');
  t.match(after, { delivery_id: dead!.delivery_id, status: 'delivered', attempts: 2, last_error: null });
  t.strictSame(await run(t, ['events', 'list', '--status', 'dead', '--routes', routes], dir), { code: 0, signal: null, stdout: 'No deliveries.\n', stderr: '' });
  await new Promise((resolve) => setTimeout(resolve, 700));
  t.equal(backend.requests.length, 2, 'no further copies');

  // A delivered event is not retried again.
  const again = await run(t, ['events', 'retry', String(dead!.delivery_id), '--routes', routes], dir);
  t.equal(again.code, 1, 'retry of a delivered delivery exits 1');

  gateway.child.kill('SIGTERM');
  const exited = await gateway.exited;
  t.equal(exited.code, 0, 'the gateway exits 0 on SIGTERM');
});

t.test('retry --all-dead makes every dead delivery due; the running gateway delivers them all', async (t) => {
  const { backend, status } = await switchableBackend(t);
  const dir = tempDir(t);
  // A relative store path, resolved against the working directory of both the gateway and the CLI.
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, outboxRoutesYaml('./data/outbox.db', `${backend.url}/calls`));
  const gateway = await startGatewayProcess(t, routes, dir);
  t.ok(existsSync(join(dir, 'data', 'outbox.db')), 'the gateway created the store relative to its working directory');

  const bodies = ['call-x', 'call-y'].map(endOfCallReport);
  for (const raw of bodies) {
    const res = await send(`${gateway.address}/webhook`, raw, { secret: SECRET, event: 'end-of-call-report' });
    t.equal(res.status, 200);
  }
  const dead = await listUntil(t, dir, routes, (records) => records.length === 2 && records.every((r) => r.status === 'dead'), 'both deliveries are dead');
  t.strictSame(
    dead.map((r) => [r.call_id, r.attempts, r.last_error]),
    [
      ['call-x', 1, 'HTTP 400'],
      ['call-y', 1, 'HTTP 400'],
    ],
  );
  t.equal(backend.requests.length, 2, 'one attempt each');

  status.code = 200;
  // No --routes: ./routes.yaml in the working directory.
  const retried = await run(t, ['events', 'retry', '--all-dead'], dir);
  const retriedAt = Date.now();
  t.strictSame(retried, { code: 0, signal: null, stdout: '2 dead deliveries are due again.\n', stderr: '' });
  await eventually(() => backend.requests.length >= 4, 3_000).then(
    () => t.pass(`both delivered ${Date.now() - retriedAt}ms after the retry`),
    () => t.fail(`the running gateway did not deliver both within 3s (backend saw ${backend.requests.length} requests)`),
  );
  const retries = backend.requests.slice(2);
  t.strictSame(retries.map((r) => r.headers['x-delivery-id']).sort(), dead.map((r) => r.delivery_id).sort(), 'the same delivery ids');
  t.strictSame(retries.map((r) => r.headers['x-delivery-attempt']), ['2', '2'], 'second attempts');
  t.strictSame(retries.map((r) => r.text).sort(), [...bodies].sort(), 'the original bodies');

  const after = await listUntil(t, dir, routes, (records) => records.length === 2 && records.every((r) => r.status === 'delivered'), 'both recorded delivered');
  t.strictSame(after.map((r) => r.attempts), [2, 2]);
  t.strictSame(await run(t, ['events', 'retry', '--all-dead'], dir), { code: 0, signal: null, stdout: '0 dead deliveries are due again.\n', stderr: '' }, 'nothing left to retry');

  // Dead letters, then purge while the gateway runs.
  status.code = 400;
  const raw = endOfCallReport('call-z');
  t.equal((await send(`${gateway.address}/webhook`, raw, { secret: SECRET, event: 'end-of-call-report' })).status, 200);
  await listUntil(t, dir, routes, (records) => records.some((r) => r.call_id === 'call-z' && r.status === 'dead'), 'call-z is dead');
  // Its updated_at must be strictly in the past for --older-than 0ms.
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.strictSame(await run(t, ['events', 'purge', '--dead', '--older-than', '0ms'], dir), { code: 0, signal: null, stdout: '1 dead deliveries removed.\n', stderr: '' });
  t.strictSame(
    (await listJson(t, dir, routes)).map((r) => [r.call_id, r.status]),
    [
      ['call-x', 'delivered'],
      ['call-y', 'delivered'],
    ],
  );

  gateway.child.kill('SIGTERM');
  const exited = await gateway.exited;
  t.equal(exited.code, 0, 'the gateway exits 0 on SIGTERM');
});
