// The built `send` CLI as a process: the payload it builds for each event, the signature checked
// here with node:crypto the way the platform's receivers check it, --file byte for byte, what it
// prints and its exit codes (2xx, 4xx/5xx, connection refused, usage errors), and one round trip
// through a real gateway to a real backend.
import t, { type Test } from 'tap';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedPort, json, startBackend, type Backend, type BackendHandler, type ReceivedRequest } from '../helpers/backend.js';
import { errorBody } from '../../src/errors.js';
import { cleanEnv, requireBuiltCli, runCli } from '../helpers/cli.js';
import { SECRET, startGateway } from '../helpers/gateway.js';

// A couple of dozen node processes, each a fraction of a second.
t.setTimeout(180_000);
t.before(requireBuiltCli);

const PLATFORM_SECRET = 'whsec-0123456789abcdef';
const STATUS_LINE = /^HTTP (\d{3}) [A-Za-z ]+ in \d+ ms$/;

const send = (t: Test, args: string[], env: Record<string, string> = {}) => runCli(t, ['send', ...args], { env: cleanEnv(env) });

/** What a receiver does with the platform's headers: HMAC-SHA256 over `${timestamp}.${raw body}`, lowercase hex. */
function verifiesAsThePlatformSigns(req: ReceivedRequest, secret: string): { ok: boolean; why: string } {
  const timestamp = req.headers['x-webhook-timestamp'];
  const signature = req.headers['x-webhook-signature'];
  if (typeof timestamp !== 'string' || !/^\d{10}$/.test(timestamp)) return { ok: false, why: `timestamp ${String(timestamp)} is not Unix seconds` };
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 30) return { ok: false, why: `timestamp ${timestamp} is not now` };
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${req.text}`, 'utf8').digest('hex')}`;
  return signature === expected ? { ok: true, why: '' } : { ok: false, why: `signature ${String(signature)} is not ${expected}` };
}

/** A receiver that answers with `handler` and records each request; the test checks the signature. */
async function receiver(t: Test, handler: BackendHandler = json({ ok: true })): Promise<Backend & { webhook: string }> {
  const backend = await startBackend(t, handler);
  return { ...backend, webhook: `${backend.url}/webhook` };
}

/** A received body with its generated values (timestamps, tool call ids) checked and replaced by placeholders. */
function normalised(t: Test, req: ReceivedRequest): Record<string, unknown> {
  const body = req.json() as { message: Record<string, unknown> };
  const message = body.message;
  const iso = (value: unknown, what: string) => {
    t.ok(typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value), `${what} is an ISO timestamp`);
    return '<iso>';
  };
  t.ok(Math.abs(Date.parse(String(message.timestamp)) - Date.now()) < 30_000, 'message.timestamp is now');
  message.timestamp = iso(message.timestamp, 'message.timestamp');
  for (const key of ['started_at', 'ended_at']) if (key in message) message[key] = iso(message[key], key);
  if (Array.isArray(message.tool_call_list)) {
    const ids = message.tool_call_list.map((entry: { id: unknown }) => entry.id);
    t.ok(ids.every((id) => typeof id === 'string' && /^tool_[0-9a-f]{12}$/.test(id)), `tool call ids look like the platform's: ${ids.join(', ')}`);
    t.equal(new Set(ids).size, ids.length, 'tool call ids are distinct');
    message.tool_call_list.forEach((entry: { id: unknown }, i: number) => (entry.id = `<id ${i + 1}>`));
  }
  return body;
}

const common = (type: string, status: string, callId: string, from = '+31612345678', to = '+31850835037') => ({
  type,
  timestamp: '<iso>',
  call: { id: callId, type: 'inbound_phone_call', status },
  phone_number: { number: to, name: 'HMS Sovereign Demo' },
  customer: { number: from },
});

t.test('tool-calls: built in the platform shape, signed the platform way, the reply printed', async (t) => {
  const reply = { results: [{ tool_call_id: 'x', result: { name: 'John Smith' } }] };
  const server = await receiver(t, json(reply));
  const result = await send(t, [
    'tool-calls',
    '--url', server.webhook,
    '--secret', PLATFORM_SECRET,
    '--tool', 'lookup_contact', '--args', '{"query":"John Smith"}',
    '--tool', 'order_status', '--args', '{"order_id":"A-1001","verbose":true}',
    '--tool', 'hang_up',
    '--call-id', 'call_test_1',
    '--from', '+31600000001',
    '--to', '+31850000002',
  ]);
  t.equal(result.code, 0, 'exit 0 on 200');
  t.equal(result.stdout, `${JSON.stringify(reply, null, 2)}\n`, 'the reply, pretty-printed, on stdout');
  const lines = result.stderr.split('\n');
  t.equal(lines.length, 3, result.stderr);
  t.equal(lines[0], `POST ${server.webhook} (event tool-calls, call call_test_1, signed with --secret)`);
  t.match(lines[1], STATUS_LINE);
  t.equal(lines[1]!.slice(0, 12), 'HTTP 200 OK ');
  t.equal(lines[2], '');

  t.equal(server.requests.length, 1);
  const req = server.requests[0]!;
  t.equal(req.method, 'POST');
  t.equal(req.url, '/webhook');
  t.equal(req.headers['content-type'], 'application/json');
  t.equal(req.headers['x-webhook-event'], 'tool-calls');
  t.equal(req.headers['user-agent'], 'HMS-Sovereign/1.0');
  t.strictSame(verifiesAsThePlatformSigns(req, PLATFORM_SECRET), { ok: true, why: '' });
  t.strictSame(normalised(t, req), {
    message: {
      ...common('tool-calls', 'in-progress', 'call_test_1', '+31600000001', '+31850000002'),
      tool_call_list: [
        { id: '<id 1>', type: 'function', function: { name: 'lookup_contact', arguments: { query: 'John Smith' } } },
        { id: '<id 2>', type: 'function', function: { name: 'order_status', arguments: { order_id: 'A-1001', verbose: true } } },
        { id: '<id 3>', type: 'function', function: { name: 'hang_up', arguments: {} } },
      ],
    },
  });
});

t.test('the other events: the fields each one carries, and a call_… id by default', async (t) => {
  const server = await receiver(t, (_req, res) => void res.writeHead(200).end());
  for (const event of ['assistant-request', 'status-update', 'end-of-call-report']) {
    const result = await send(t, [event, '--url', server.webhook, '--secret', PLATFORM_SECRET]);
    t.equal(result.code, 0, `${event}: exit 0`);
    t.equal(result.stdout, '', `${event}: an empty reply prints nothing`);
    t.match(result.stderr, new RegExp(`^POST ${server.webhook} \\(event ${event}, call call_[0-9a-f]{16}, signed with --secret\\)\\nHTTP 200 OK in \\d+ ms\\n$`));
  }
  const [ar, su, eocr] = server.requests;
  for (const req of server.requests) t.strictSame(verifiesAsThePlatformSigns(req, PLATFORM_SECRET), { ok: true, why: '' });
  t.strictSame(
    server.requests.map((req) => req.headers['x-webhook-event']),
    ['assistant-request', 'status-update', 'end-of-call-report'],
  );
  const callIdOf = (req: ReceivedRequest) => (req.json() as { message: { call: { id: string } } }).message.call.id;
  t.strictSame(normalised(t, ar!), { message: common('assistant-request', 'ringing', callIdOf(ar!)) });
  t.strictSame(normalised(t, su!), { message: common('status-update', 'in-progress', callIdOf(su!)) });
  t.strictSame(normalised(t, eocr!), {
    message: {
      ...common('end-of-call-report', 'ended', callIdOf(eocr!)),
      duration_seconds: 84,
      summary: 'The caller asked about an order and booked a follow-up appointment.',
      messages: [
        { role: 'assistant', content: 'Hello, how can I help you?' },
        { role: 'user', content: 'I would like to know where my order is.' },
      ],
      end_reason: 'user_hangup',
      started_at: '<iso>',
      ended_at: '<iso>',
    },
  });
});

t.test('the secret from --secret-env or WEBHOOK_SECRET; --secret wins over WEBHOOK_SECRET', async (t) => {
  const server = await receiver(t);
  const fromNamed = await send(t, ['status-update', '--url', server.webhook, '--secret-env', 'MY_HOOK_SECRET', '--call-id', 'c1'], { MY_HOOK_SECRET: 'named-secret-0001' });
  t.equal(fromNamed.code, 0);
  t.equal(fromNamed.stderr.split('\n')[0], `POST ${server.webhook} (event status-update, call c1, signed with MY_HOOK_SECRET)`);
  const fromDefault = await send(t, ['status-update', '--url', server.webhook, '--call-id', 'c2'], { WEBHOOK_SECRET: 'default-secret-01' });
  t.equal(fromDefault.stderr.split('\n')[0], `POST ${server.webhook} (event status-update, call c2, signed with WEBHOOK_SECRET)`);
  const flagWins = await send(t, ['status-update', '--url', server.webhook, '--call-id', 'c3', '--secret', 'flag-secret-00001'], { WEBHOOK_SECRET: 'default-secret-01' });
  t.equal(flagWins.code, 0);
  const [a, b, c] = server.requests;
  t.strictSame(verifiesAsThePlatformSigns(a!, 'named-secret-0001'), { ok: true, why: '' });
  t.strictSame(verifiesAsThePlatformSigns(b!, 'default-secret-01'), { ok: true, why: '' });
  t.strictSame(verifiesAsThePlatformSigns(c!, 'flag-secret-00001'), { ok: true, why: '' });
});

t.test('with no secret at all it is sent unsigned, and says so', async (t) => {
  const server = await receiver(t);
  const result = await send(t, ['status-update', '--url', server.webhook, '--call-id', 'c1']);
  t.equal(result.code, 0);
  t.match(
    result.stderr,
    new RegExp(`^POST ${server.webhook} \\(event status-update, call c1\\) UNSIGNED: no --secret, --secret-env NAME or WEBHOOK_SECRET; the gateway accepts it only with security.allow_unsigned: true\\nHTTP 200 OK in \\d+ ms\\n$`),
  );
  const req = server.requests[0]!;
  t.equal(req.headers['x-webhook-signature'], undefined, 'no signature header');
  t.match(req.headers['x-webhook-timestamp'], /^\d{10}$/, 'the timestamp is still sent');
});

t.test('HMS_ROUTER_URL is the default URL; --url wins', async (t) => {
  const server = await receiver(t);
  const other = await receiver(t);
  const fromEnv = await send(t, ['status-update', '--secret', PLATFORM_SECRET], { HMS_ROUTER_URL: server.webhook });
  t.equal(fromEnv.code, 0);
  const flag = await send(t, ['status-update', '--secret', PLATFORM_SECRET, '--url', `${other.url}/webhook/sales`], { HMS_ROUTER_URL: server.webhook });
  t.equal(flag.code, 0);
  t.equal(server.requests.length, 1);
  t.strictSame(other.requests.map((req) => req.url), ['/webhook/sales']);
});

t.test('a 4xx or 5xx reply exits 1, and is still printed (JSON pretty, anything else as it came)', async (t) => {
  const rejecting = await receiver(t, json({ error: 'GW_ERR_SIGNATURE_INVALID', message: 'no configured secret matched' }, 401));
  const unauthorised = await send(t, ['status-update', '--url', rejecting.webhook, '--secret', 'wrong-secret-0001']);
  t.equal(unauthorised.code, 1);
  t.equal(unauthorised.stdout, '{\n  "error": "GW_ERR_SIGNATURE_INVALID",\n  "message": "no configured secret matched"\n}\n');
  t.match(unauthorised.stderr.split('\n')[1], /^HTTP 401 Unauthorized in \d+ ms$/);

  const failing = await receiver(t, (_req, res) => void res.writeHead(500, { 'content-type': 'text/plain' }).end('backend exploded'));
  const broken = await send(t, ['tool-calls', '--tool', 'a', '--url', failing.webhook, '--secret', PLATFORM_SECRET]);
  t.equal(broken.code, 1);
  t.equal(broken.stdout, 'backend exploded\n');
  t.match(broken.stderr.split('\n')[1], /^HTTP 500 Internal Server Error in \d+ ms$/);
});

t.test('connection refused exits 1 with what to do', async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}/webhook`;
  const result = await send(t, ['tool-calls', '--tool', 'a', '--url', url, '--secret', PLATFORM_SECRET, '--call-id', 'c1']);
  t.strictSame(result, {
    code: 1,
    signal: null,
    stdout: '',
    stderr: [
      `POST ${url} (event tool-calls, call c1, signed with --secret)`,
      `cannot send to ${url}: connection refused; is the gateway running there? Start it with \`hms-tool-router serve\`, or pass --url`,
      '',
    ].join('\n'),
  });
});

t.test('--file is sent byte for byte and signed over those bytes; the event comes from message.type', async (t) => {
  const server = await receiver(t);
  const raw = '{\n  "message": {"type": "tool-calls", "call": {"id": "from-file"},\n  "tool_call_list": [{"id": "tc_1", "type": "function", "function": {"name": "a", "arguments": "{}"}}]}\n}\n';
  const dir = t.testdir({});
  const file = join(dir, 'payload.json');
  writeFileSync(file, raw);
  const result = await send(t, ['--file', file, '--url', server.webhook, '--secret', PLATFORM_SECRET]);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stderr.split('\n')[0], `POST ${server.webhook} (event tool-calls, call from-file, signed with --secret)`);
  const req = server.requests[0]!;
  t.equal(req.text, raw, 'the exact bytes');
  t.equal(req.headers['x-webhook-event'], 'tool-calls');
  t.strictSame(verifiesAsThePlatformSigns(req, PLATFORM_SECRET), { ok: true, why: '' });

  // Naming the same event is fine; a different one is refused before anything is sent.
  t.equal((await send(t, ['tool-calls', '--file', file, '--url', server.webhook, '--secret', PLATFORM_SECRET])).code, 0);
  const mismatch = await send(t, ['status-update', '--file', file, '--url', server.webhook, '--secret', PLATFORM_SECRET]);
  t.strictSame(mismatch, {
    code: 1,
    signal: null,
    stdout: '',
    stderr: `--file ${file} is a tool-calls (message.type) but the event given is status-update; the gateway would refuse the mismatch. Leave the event out to use tool-calls\n`,
  });
  t.equal(server.requests.length, 2);
});

t.test('usage errors exit 1 with a message that says what to do, and send nothing', async (t) => {
  const server = await receiver(t);
  const url = ['--url', server.webhook];
  const dir = t.testdir({ 'not-json.txt': 'hello' });
  const cases: [string[], string, Record<string, string>?][] = [
    [['tool-calls', ...url, '--tool', 'a', '--args', '{query: 1}'], `--args for a is not valid JSON (Expected property name or '}' in JSON at position 1); quote it for the shell, like --args '{"order_id":"A-1001"}'`],
    [['tool-calls', ...url, '--tool', 'a', '--args', '[1,2]'], `--args for a must be a JSON object, like '{"order_id":"A-1001"}'; the platform sends arguments as an object`],
    [['tool-calls', ...url, '--args', '{}', '--tool', 'a'], '--args comes after the --tool it belongs to: --tool NAME --args JSON'],
    [['tool-calls', ...url, '--tool', 'a', '--args', '{}', '--args', '{}'], '--tool a has two --args; give one JSON object per tool'],
    [['tool-calls', ...url], 'tool-calls needs at least one --tool NAME (with --args JSON for its arguments)'],
    [['status-update', ...url, '--tool', 'a'], '--tool is for tool-calls; a status-update carries no tool calls'],
    [['transfer-update', ...url], 'unknown event "transfer-update": use one of assistant-request, tool-calls, status-update, end-of-call-report'],
    [['status-update', ...url, '--secret-env', 'HMS_UNSET_SECRET'], 'environment variable HMS_UNSET_SECRET (named by --secret-env) is not set; export it, or pass --secret'],
    [['status-update', ...url, '--secret', 'a', '--secret-env', 'B'], 'give --secret or --secret-env, not both'],
    [['status-update', '--url', 'localhost:8080/webhook'], '--url "localhost:8080/webhook" is not an http:// or https:// URL'],
    [['status-update', '--url', 'not a url'], '--url "not a url" is not a URL; give an absolute http:// or https:// URL, like http://127.0.0.1:8080/webhook'],
    [['status-update', '--secret', 'x'], 'HMS_ROUTER_URL "nope" is not a URL; give an absolute http:// or https:// URL, like http://127.0.0.1:8080/webhook', { HMS_ROUTER_URL: 'nope' }],
    [['--file', join(dir, 'missing.json'), ...url], `cannot read --file ${join(dir, 'missing.json')}: file not found`],
    [['--file', join(dir, 'not-json.txt'), ...url], `--file ${join(dir, 'not-json.txt')} has no message.type to take the event from; name the event: send <event> --file ${join(dir, 'not-json.txt')}`],
    [['--file', join(dir, 'not-json.txt'), '--tool', 'a', ...url], '--file sends the file as it is: --tool cannot be combined with it'],
  ];
  for (const [args, message, env] of cases) {
    t.strictSame(await send(t, args, env), { code: 1, signal: null, stdout: '', stderr: `${message}\n` }, args.join(' '));
  }
  const noEvent = await send(t, [...url]);
  t.equal(noEvent.code, 1);
  t.ok(noEvent.stderr.startsWith('which event? use one of assistant-request, tool-calls, status-update, end-of-call-report\n\nUsage: hms-tool-router send <event> [options]\n'), noEvent.stderr);
  const unknownFlag = await send(t, ['status-update', '--secert', 'x']);
  t.equal(unknownFlag.code, 1);
  t.match(unknownFlag.stderr, /--secert/);
  t.equal(server.requests.length, 0, 'nothing was sent');
});

t.test('send --help prints its usage and exits 0', async (t) => {
  const result = await send(t, ['--help']);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  t.ok(result.stdout.startsWith('Usage: hms-tool-router send <event> [options]\n'), result.stdout);
  for (const flag of ['--url URL', '--secret S', '--secret-env NAME', '--tool NAME', '--args JSON', '--call-id ID', '--from NUMBER', '--to NUMBER', '--file FILE', 'HMS_ROUTER_URL', 'WEBHOOK_SECRET']) {
    t.ok(result.stdout.includes(flag), `mentions ${flag}`);
  }
});

t.test('through a real gateway: tool calls routed to a real backend, by account and by phone number', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    const args = (req.text === '' ? {} : req.json()) as Record<string, unknown>;
    const answer = req.url.startsWith('/sales/') ? { name: 'John Smith', account_manager: 'Eva' } : req.url.startsWith('/orders/') ? { order_id: decodeURIComponent(req.url.split('/')[2]!.split('?')[0]!), status: 'shipped' } : { name: 'John Smith', query: args.query };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  const gateway = await startGateway(
    t,
    [
      'version: 1',
      `account: { secrets: [${SECRET}] }`,
      'upstreams:',
      `  crm: { url: "${backend.url}" }`,
      'tools:',
      '  lookup_contact: { upstream: crm, path: /contacts/search }',
      '  order_status: { upstream: crm, path: "/orders/{order_id}", method: GET }',
      'assistants:',
      '  sales:',
      '    phone_numbers: ["+31850835037"]',
      '    tools:',
      '      lookup_contact: { upstream: crm, path: /sales/contacts }',
    ].join('\n'),
  );
  const webhook = `${gateway.url}/webhook`;
  const tools = ['--tool', 'lookup_contact', '--args', '{"query":"John"}', '--tool', 'order_status', '--args', '{"order_id":"A-1001"}', '--tool', 'transfer_to_mars'];

  const account = await send(t, ['tool-calls', '--url', webhook, '--secret', SECRET, '--to', '+31200000000', ...tools]);
  t.equal(account.code, 0, account.stderr);
  const ids = (JSON.parse(account.stdout) as { results: { tool_call_id: string }[] }).results.map((r) => r.tool_call_id);
  t.equal(
    account.stdout,
    `${JSON.stringify(
      {
        results: [
          { tool_call_id: ids[0], result: { name: 'John Smith', query: 'John' } },
          { tool_call_id: ids[1], result: { order_id: 'A-1001', status: 'shipped' } },
          { tool_call_id: ids[2], error: 'No route for tool transfer_to_mars.' },
        ],
      },
      null,
      2,
    )}\n`,
  );
  t.ok(ids.every((id) => /^tool_[0-9a-f]{12}$/.test(id)), 'the ids sent come back');

  // The sales number picks the sales assistant, whose lookup_contact has its own path.
  const sales = await send(t, ['tool-calls', '--url', webhook, '--secret', SECRET, '--to', '+31850835037', '--tool', 'lookup_contact', '--args', '{"query":"John"}']);
  t.equal(sales.code, 0);
  const salesId = (JSON.parse(sales.stdout) as { results: { tool_call_id: string }[] }).results[0]!.tool_call_id;
  t.equal(sales.stdout, `${JSON.stringify({ results: [{ tool_call_id: salesId, result: { name: 'John Smith', account_manager: 'Eva' } }] }, null, 2)}\n`);
  t.strictSame(
    backend.requests.map((req) => `${req.method} ${req.url}`),
    ['POST /contacts/search', 'GET /orders/A-1001', 'POST /sales/contacts'],
  );

  // The wrong secret: the gateway's 401, and exit 1.
  const wrong = await send(t, ['tool-calls', '--url', webhook, '--secret', 'not-the-secret', '--tool', 'lookup_contact']);
  t.equal(wrong.code, 1);
  t.equal(wrong.stdout, `${JSON.stringify(errorBody('GW_ERR_SIGNATURE_INVALID'), null, 2)}\n`);
  t.match(wrong.stderr.split('\n')[1], /^HTTP 401 Unauthorized in \d+ ms$/);
  t.equal(backend.requests.length, 3, 'no backend call for the rejected one');
});
