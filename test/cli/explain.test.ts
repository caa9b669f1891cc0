// The built `explain` CLI as a process: the whole answer for a tool matched at each level
// (assistant, account, fallback) and for none (exit 1), how the scope is picked (--assistant,
// --to, neither), where the routes file comes from, and its usage errors.
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { cleanEnv, requireBuiltCli, runCli } from '../helpers/cli.js';

t.setTimeout(120_000);
t.before(requireBuiltCli);

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

const ROUTES = yaml(
  'version: 1',
  'account: { secrets: [s-0123456789abcdef] }',
  'upstreams:',
  '  crm:',
  '    url: http://127.0.0.1:4100',
  '    timeout: 3s',
  '    breaker: { failures: 3, slow: 800ms, slow_ratio: 0.25, window: 10 }',
  'tools:',
  '  lookup_contact: { upstream: crm, path: /contacts/search }',
  '  order_status:',
  '    url: "http://127.0.0.1:4300/orders/{order_id}?token=${ORDERS_TOKEN}&v=2"',
  '    method: GET',
  '    retries: 2',
  '    hedge: 400ms',
  '    timeout: 12s',
  '    fallback:',
  '      timeout: "Orders are slow today."',
  '      unavailable: ["The order system is down.", "I can\'t see orders right now."]',
  '  book:',
  '    upstream: crm',
  '    path: /appointments',
  '    side_effects: true',
  '    async: true',
  '    async_response: "I\'m booking it."',
  '    parameters: { type: object, required: [date] }',
  'assistants:',
  '  sales:',
  '    phone_numbers: ["+31 85 083 5037"]',
  '    tools:',
  '      lookup_contact: { upstream: crm, path: /sales/contacts, timeout: 1500ms, on_deadline: continue }',
  '  support: {}',
  'defaults:',
  '  fallback: { error: "Something went wrong on our side." }',
  '  breaker: { open_for: 20s }',
  'fallback:',
  '  url: http://127.0.0.1:4900/hms-webhook',
  'deadlines: { tool-calls: 8s }',
);
const TOKEN = 'orders-token-do-not-print';
const ENV = cleanEnv({ ORDERS_TOKEN: TOKEN });

/** explain with the routes file given by --routes (and the token its URL needs). */
async function explain(t: Test, args: string[], routes = ROUTES) {
  const file = join(t.testdir({ 'routes.yaml': routes }), 'routes.yaml');
  return runCli(t, ['explain', '--routes', file, ...args], { env: ENV });
}

const lines = (...rows: string[]) => `${rows.join('\n')}\n`;

const CRM_BREAKER =
  'breaker       crm: opens after 3 failures in a row or when more than 25% of the last 10 calls take over 800ms; stays open 20s, then lets one call through to probe (upstreams.crm.breaker over defaults.breaker; shared by every call to crm)';

const builtIns = (spoken: string, error = '"Something went wrong on our side." (defaults.fallback)') => [
  `fallback      timeout            built-in, sent as error: "The ${spoken} service did not answer in time."`,
  `              unavailable        built-in, sent as error: "The ${spoken} service is not reachable right now."`,
  `              error              ${error}`,
  `              invalid_arguments  built-in, sent as error: "Some details for ${spoken} are missing or wrong."`,
  `              rate_limited       built-in, sent as error: "The ${spoken} service has been asked too often on this call; let's continue without it."`,
];

t.test('assistant level: the phone number picks the assistant, whose own route matches', async (t) => {
  const result = await explain(t, ['--tool', 'lookup_contact', '--to', '+31850835037']);
  t.strictSame(result, {
    code: 0,
    signal: null,
    stderr: '',
    stdout: lines(
      'tool          lookup_contact',
      'scope         assistant sales: +31850835037 is in assistants.sales.phone_numbers (POST /webhook)',
      'level         assistant: assistants.sales.tools.lookup_contact',
      'target        POST http://127.0.0.1:4100/sales/contacts (body: the arguments)',
      'upstream      crm',
      'timeout       1500ms per attempt (assistants.sales.tools.lookup_contact.timeout); on_deadline: continue lets it run past the 8s tool-calls deadline',
      'retries       none',
      'hedge         off',
      'side effects  no',
      'async         no',
      'on_deadline   continue: the caller hears the timeout fallback; the request runs on and its result answers a repeat',
      ...builtIns('lookup contact'),
      CRM_BREAKER,
    ),
  });
});

t.test('account level, from an assistant without its own route: a url target, query values masked', async (t) => {
  const result = await explain(t, ['--tool', 'order_status', '--assistant', 'support']);
  t.strictSame(result, {
    code: 0,
    signal: null,
    stderr: '',
    stdout: lines(
      'tool          order_status',
      'scope         assistant support (POST /webhook/support)',
      'level         account: tools.order_status (assistant support has no order_status of its own)',
      'target        GET http://127.0.0.1:4300/orders/{order_id}?token=…&v=… (body: the arguments)',
      'upstream      none (a url: target; its breaker is keyed by http://127.0.0.1:4300)',
      'timeout       12s per attempt (tools.order_status.timeout), cut to 7950ms by the 8s tool-calls deadline',
      'retries       2 (on 429, 502, 503, 504 or no connection, when one can still finish before the deadline)',
      'hedge         400ms: a second request when the first has not answered by then',
      'side effects  no',
      'async         no',
      'on_deadline   abort: the request is cancelled and the caller hears the timeout fallback',
      'fallback      timeout            "Orders are slow today." (tools.order_status.fallback)',
      '              unavailable        "The order system is down." / "I can\'t see orders right now." (tools.order_status.fallback, rotated per call)',
      '              error              "Something went wrong on our side." (defaults.fallback)',
      '              invalid_arguments  built-in, sent as error: "Some details for order status are missing or wrong."',
      '              rate_limited       built-in, sent as error: "The order status service has been asked too often on this call; let\'s continue without it."',
      'breaker       http://127.0.0.1:4300: opens after 5 failures in a row; stays open 20s, then lets one call through to probe (defaults.breaker; shared by every call to http://127.0.0.1:4300)',
    ),
  });
  t.notMatch(result.stdout, TOKEN, 'the token substituted into the URL is never shown');
});

t.test('account level in the account scope: async, side effects, parameters, the upstream timeout', async (t) => {
  const result = await explain(t, ['--tool', 'book']);
  t.strictSame(result, {
    code: 0,
    signal: null,
    stderr: '',
    stdout: lines(
      'tool          book',
      'scope         account (POST /webhook; --assistant or --to picks an assistant)',
      'level         account: tools.book',
      'target        POST http://127.0.0.1:4100/appointments (body: the arguments)',
      'upstream      crm',
      'timeout       3s per attempt (upstreams.crm.timeout); async, so it is delivered from the outbox after the reply and the deadline does not apply',
      'retries       none',
      'hedge         off',
      'side effects  yes: sent with an idempotency-key; a repeat within the call is answered from the ledger',
      'async         yes: answers "I\'m booking it." at once and delivers the request through the outbox',
      'on_deadline   does not apply: an async tool answers at once',
      'parameters    arguments are checked against tools.book.parameters before the call',
      ...builtIns('book'),
      CRM_BREAKER,
    ),
  });
});

t.test('fallback level: no route in the scope, so the catch-all target gets the whole message', async (t) => {
  const result = await explain(t, ['--tool', 'transfer_call', '--to', '+31 20 000 0000']);
  t.strictSame(result, {
    code: 0,
    signal: null,
    stderr: '',
    stdout: lines(
      'tool          transfer_call',
      'scope         account: no assistant lists +31 20 000 0000 under phone_numbers (POST /webhook)',
      'level         fallback: no transfer_call in tools, so the catch-all fallback: target gets the whole webhook message',
      'target        POST http://127.0.0.1:4900/hms-webhook (body: the whole webhook message)',
      'upstream      none (a url: target; its breaker is keyed by http://127.0.0.1:4900)',
      'timeout       5s per attempt (default), all attempts within the 8s tool-calls deadline',
      'retries       none',
      'hedge         off',
      'side effects  no',
      'async         no',
      'on_deadline   abort: the request is cancelled and the caller hears the timeout fallback',
      ...builtIns('transfer call'),
      'breaker       http://127.0.0.1:4900: opens after 5 failures in a row; stays open 20s, then lets one call through to probe (defaults.breaker; shared by every call to http://127.0.0.1:4900)',
    ),
  });
});

t.test('none: no route and no fallback target; exit 1', async (t) => {
  const noFallback = ROUTES.replace(/^fallback:\n {2}url: .*\n/m, '');
  t.not(noFallback, ROUTES);
  t.strictSame(await explain(t, ['--tool', 'transfer_call', '--assistant', 'sales'], noFallback), {
    code: 1,
    signal: null,
    stderr: '',
    stdout: lines(
      'tool   transfer_call',
      'scope  assistant sales (POST /webhook/sales)',
      'level  none: no transfer_call in assistants.sales.tools or tools, and no fallback: target; the caller hears the error "No route for tool transfer_call."',
    ),
  });
  t.strictSame(await explain(t, ['--tool', 'transfer_call'], noFallback), {
    code: 1,
    signal: null,
    stderr: '',
    stdout: lines(
      'tool   transfer_call',
      'scope  account (POST /webhook; --assistant or --to picks an assistant)',
      'level  none: no transfer_call in tools, and no fallback: target; the caller hears the error "No route for tool transfer_call."',
    ),
  });
});

t.test('an unknown --assistant exits 1 and lists the known ones', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': ROUTES }), 'routes.yaml');
  t.strictSame(await runCli(t, ['explain', '--routes', file, '--tool', 'book', '--assistant', 'billing'], { env: ENV }), {
    code: 1,
    signal: null,
    stdout: '',
    stderr: `no assistant "billing" in ${file}; known assistants: sales, support\n`,
  });
  const none = join(t.testdir({ 'routes.yaml': yaml('version: 1', 'security: { allow_unsigned: true }') }), 'routes.yaml');
  t.strictSame(await runCli(t, ['explain', '--routes', none, '--tool', 'book', '--assistant', 'billing']), {
    code: 1,
    signal: null,
    stdout: '',
    stderr: `no assistant "billing" in ${none}; it defines no assistants\n`,
  });
});

t.test('the routes file: --routes, else ROUTES_FILE, else ./routes.yaml; an invalid one is reported like check', async (t) => {
  const dir = t.testdir({
    'routes.yaml': yaml('version: 1', 'security: { allow_unsigned: true }', 'tools:', '  here: { url: "http://127.0.0.1:1/cwd" }'),
    'env.yaml': yaml('version: 1', 'security: { allow_unsigned: true }', 'tools:', '  here: { url: "http://127.0.0.1:1/env" }'),
    'bad.yaml': yaml('version: 1', 'security: { allow_unsigned: true }', 'tools:', '  here: { url: nope }'),
  });
  const targetOf = (stdout: string) => stdout.split('\n').find((line) => line.startsWith('target'));
  const fromCwd = await runCli(t, ['explain', '--tool', 'here'], { cwd: dir });
  t.equal(targetOf(fromCwd.stdout), 'target        POST http://127.0.0.1:1/cwd (body: the arguments)');
  const fromEnv = await runCli(t, ['explain', '--tool', 'here'], { cwd: dir, env: cleanEnv({ ROUTES_FILE: join(dir, 'env.yaml') }) });
  t.equal(targetOf(fromEnv.stdout), 'target        POST http://127.0.0.1:1/env (body: the arguments)');
  const fromFlag = await runCli(t, ['explain', '--tool', 'here', '--routes', join(dir, 'routes.yaml')], { env: cleanEnv({ ROUTES_FILE: join(dir, 'env.yaml') }) });
  t.equal(targetOf(fromFlag.stdout), 'target        POST http://127.0.0.1:1/cwd (body: the arguments)');
  t.strictSame(await runCli(t, ['explain', '--tool', 'here', '--routes', join(dir, 'bad.yaml')]), {
    code: 1,
    signal: null,
    stdout: '',
    stderr: `${join(dir, 'bad.yaml')}:4:16 tools.here.url: expected an absolute http:// or https:// URL, with {placeholders} only after the host\n`,
  });
});

t.test('usage errors exit 1', async (t) => {
  const file = join(t.testdir({ 'routes.yaml': ROUTES }), 'routes.yaml');
  const both = await runCli(t, ['explain', '--routes', file, '--tool', 'book', '--assistant', 'sales', '--to', '+31850835037'], { env: ENV });
  t.strictSame(both, {
    code: 1,
    signal: null,
    stdout: '',
    stderr: 'give --assistant or --to, not both: --assistant is POST /webhook/<name>, --to is POST /webhook with that phone number\n',
  });
  const noTool = await runCli(t, ['explain', '--routes', file], { env: ENV });
  t.equal(noTool.code, 1);
  t.ok(noTool.stderr.startsWith('explain needs --tool NAME\n\nUsage: hms-tool-router explain --tool NAME'), noTool.stderr);
  const unknown = await runCli(t, ['explain', '--tool', 'book', '--assitant', 'sales'], { env: ENV });
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /--assitant/);
  const help = await runCli(t, ['explain', '--help']);
  t.equal(help.code, 0);
  t.ok(help.stdout.startsWith('Usage: hms-tool-router explain --tool NAME [--assistant NAME | --to NUMBER] [--routes FILE]\n'), help.stdout);
});
