// routes.yaml loading: parseConfig and loadConfigFile on real YAML text and real files — defaults,
// the full shape, ${NAME} substitution, and every diagnostic with its FILE:LINE:COL and message.
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { ConfigError, formatDiagnostic, loadConfigFile, parseConfig, type Diagnostic } from '../../src/config/load.js';

const FILE = 'routes.yaml';

/** YAML text from lines, so that line N of the file is argument N. */
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

const error = (line: number, col: number, message: string): Diagnostic => ({ file: FILE, line, col, severity: 'error', message });
const warning = (line: number, col: number, message: string): Diagnostic => ({ file: FILE, line, col, severity: 'warning', message });

/** The diagnostics parseConfig throws for this source; fails the test if it does not throw a ConfigError. */
function diagnosticsOf(t: Test, source: string, env: NodeJS.ProcessEnv = {}): Diagnostic[] {
  try {
    parseConfig(source, FILE, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.diagnostics;
    throw err;
  }
  t.fail('expected a ConfigError, but the config was accepted');
  return [];
}

const SECRETS = ['account:', '  secrets: [s-0123456789abcdef]'];

const NO_SECRETS_MESSAGE =
  'account: no secrets configured: add account.secrets (or secrets on an assistant) with the webhook_secret set on the platform, or set security.allow_unsigned: true for local development only';
const DURATION_HINT = 'expected a duration like 500ms, 3s, 1m, 2h, 7d or an integer of milliseconds';
const missingVar = (name: string) => `environment variable ${name} is not set (used as \${${name}}); set it, or write \${${name}:-default}`;

t.test('defaults: only version and account secrets', async (t) => {
  const loaded = parseConfig(yaml('version: 1', ...SECRETS), FILE, {});
  t.strictSame(loaded, {
    config: {
      version: 1,
      account: { secrets: ['s-0123456789abcdef'] },
      upstreams: {},
      tools: {},
      assistants: {},
      events: {},
      deadlines: { 'tool-calls': 9000, 'assistant-request': 4000 },
      security: { timestamp_tolerance: 300_000, allow_unsigned: false },
      limits: { body: 1_048_576, result: 16_384, tool_calls_per_call: 60 },
      defaults: {},
      idempotency: { ttl: 1_800_000 },
      store: { path: './data/hms-tool-router.db', retention: 604_800_000 },
      delivery: { retry: { initial: 1000, max: 300_000, max_attempts: 20, max_age: 86_400_000 }, concurrency: 4 },
      logging: { payloads: false },
      reload: { pin_calls: 900_000, watch: true },
    },
    warnings: [],
    file: FILE,
  });
});

t.test('a partly written section keeps the defaults of the keys left out', async (t) => {
  const { config } = parseConfig(yaml('version: 1', ...SECRETS, 'deadlines: { tool-calls: 8s }', 'security: { allow_unsigned: true }'), FILE, {});
  t.strictSame(config.deadlines, { 'tool-calls': 8000, 'assistant-request': 4000 });
  t.strictSame(config.security, { timestamp_tolerance: 300_000, allow_unsigned: true });
  t.strictSame(config.limits, { body: 1_048_576, result: 16_384, tool_calls_per_call: 60 });
});

t.test('the full shape parses to durations in ms and sizes in bytes', async (t) => {
  const source = yaml(
    'version: 1',
    'account:',
    '  secrets: ["${HMS_WEBHOOK_SECRET}", "previous-secret-01"]',
    'upstreams:',
    '  crm:',
    '    url: ${CRM_URL:-http://127.0.0.1:4100}',
    '    headers: { authorization: "Bearer ${CRM_TOKEN:-dev-token}" }',
    '    timeout: 3s',
    '  calendar:',
    '    url: http://127.0.0.1:4200/api',
    'tools:',
    '  lookup_contact:',
    '    upstream: crm',
    '    path: /contacts/search',
    '  book_appointment:',
    '    upstream: calendar',
    '    path: /appointments',
    '    timeout: 2500ms',
    '    fallback: "The calendar is unavailable."',
    '  order_status:',
    '    url: "https://orders.example.com/orders/{order_id}"',
    '    method: GET',
    '    headers: { x-api-key: k }',
    '    body: message',
    '    secret: order-secret-000001',
    'assistants:',
    '  sales:',
    '    secrets: [sales-secret-000001]',
    '    phone_numbers: ["+31 85 083 5037", "+31850835038"]',
    '    tools:',
    '      lookup_contact: { upstream: crm, path: /sales/contacts }',
    '    events:',
    '      end-of-call-report: { upstream: crm, path: /sales/calls }',
    'events:',
    '  assistant-request:',
    '    upstream: crm',
    '    path: /assistant-config',
    '    static: { assistant: { first_message: "Hello" } }',
    '  status-update:',
    '    upstream: crm',
    '    path: /call-status',
    '  end-of-call-report:',
    '    - { upstream: crm, path: /calls }',
    '    - { url: "http://127.0.0.1:4500/archive", timeout: 1m }',
    'fallback:',
    '  url: http://127.0.0.1:4900/hms-webhook',
    '  secret: legacy-secret-000001',
    'deadlines:',
    '  tool-calls: 8s',
    '  assistant-request: 3500',
    'security:',
    '  timestamp_tolerance: 2m',
    '  allow_unsigned: false',
    'limits:',
    '  body: 512kb',
    '  rate: { global: { max: 100, window: 1s }, per_assistant: { max: 20, window: 10s } }',
    'logging: { payloads: true }',
    'reload: { pin_calls: 30m, watch: false }',
  );
  const loaded = parseConfig(source, FILE, { HMS_WEBHOOK_SECRET: 'env-secret-0000001' });
  t.strictSame(loaded.warnings, []);
  t.equal(loaded.file, FILE);
  t.strictSame(loaded.config, {
    version: 1,
    account: { secrets: ['env-secret-0000001', 'previous-secret-01'] },
    upstreams: {
      crm: { url: 'http://127.0.0.1:4100', headers: { authorization: 'Bearer dev-token' }, timeout: 3000 },
      calendar: { url: 'http://127.0.0.1:4200/api' },
    },
    tools: {
      lookup_contact: { upstream: 'crm', path: '/contacts/search' },
      book_appointment: { upstream: 'calendar', path: '/appointments', timeout: 2500, fallback: 'The calendar is unavailable.' },
      order_status: {
        url: 'https://orders.example.com/orders/{order_id}',
        method: 'GET',
        headers: { 'x-api-key': 'k' },
        body: 'message',
        secret: 'order-secret-000001',
      },
    },
    assistants: {
      sales: {
        secrets: ['sales-secret-000001'],
        phone_numbers: ['+31 85 083 5037', '+31850835038'],
        tools: { lookup_contact: { upstream: 'crm', path: '/sales/contacts' } },
        // A single target where a list is accepted becomes a list of one.
        events: { 'end-of-call-report': [{ upstream: 'crm', path: '/sales/calls' }] },
      },
    },
    events: {
      'assistant-request': { upstream: 'crm', path: '/assistant-config', static: { assistant: { first_message: 'Hello' } } },
      'status-update': [{ upstream: 'crm', path: '/call-status' }],
      'end-of-call-report': [{ upstream: 'crm', path: '/calls' }, { url: 'http://127.0.0.1:4500/archive', timeout: 60_000 }],
    },
    fallback: { url: 'http://127.0.0.1:4900/hms-webhook', secret: 'legacy-secret-000001' },
    deadlines: { 'tool-calls': 8000, 'assistant-request': 3500 },
    security: { timestamp_tolerance: 120_000, allow_unsigned: false },
    limits: { body: 524_288, result: 16_384, tool_calls_per_call: 60, rate: { global: { max: 100, window: 1000 }, per_assistant: { max: 20, window: 10_000 } } },
    defaults: {},
    idempotency: { ttl: 1_800_000 },
    store: { path: './data/hms-tool-router.db', retention: 604_800_000 },
    delivery: { retry: { initial: 1000, max: 300_000, max_attempts: 20, max_age: 86_400_000 }, concurrency: 4 },
    logging: { payloads: true },
    reload: { pin_calls: 1_800_000, watch: false },
  });
});

t.test('assistant-request may be static only', async (t) => {
  const { config } = parseConfig(yaml('version: 1', ...SECRETS, 'events:', '  assistant-request:', '    static: { assistant: { first_message: Hi } }'), FILE, {});
  t.strictSame(config.events, { 'assistant-request': { static: { assistant: { first_message: 'Hi' } } } });
});

t.test('unknown key: at the key, with the path of its mapping', async (t) => {
  t.strictSame(
    diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a:', '    url: http://127.0.0.1:1/a', '    methd: GET')),
    [error(7, 5, 'tools.a: unknown key "methd"; remove it or check its spelling')],
  );
  t.strictSame(
    diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tool:', '  a: { url: http://127.0.0.1:1/a }')),
    [error(4, 1, 'unknown key "tool"; remove it or check its spelling')],
  );
  t.strictSame(
    diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'security:', '  allow_unsinged: true')),
    [error(5, 3, 'security: unknown key "allow_unsinged"; remove it or check its spelling')],
  );
});

t.test('duplicate key: at the second occurrence', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'account:', '  secrets: [a]', '  secrets: [b]')), [
    error(4, 3, 'duplicate key "secrets": it is already defined above in the same mapping'),
  ]);
  t.strictSame(
    diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a: { url: http://127.0.0.1:1/a }', '  b: { url: http://127.0.0.1:1/b }', '  a: { url: http://127.0.0.1:1/c }')),
    [error(7, 3, 'duplicate key "a": it is already defined above in the same mapping')],
  );
});

t.test('undeclared upstream: at the value, naming the declared ones', async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'upstreams:',
    '  crm:',
    '    url: http://127.0.0.1:1',
    'tools:',
    '  a:',
    '    upstream: crn',
    '    path: /x',
    'events:',
    '  status-update:',
    '    upstream: crn',
    '  end-of-call-report:',
    '    - { upstream: crm }',
    '    - { upstream: nope }',
    'assistants:',
    '  a:',
    '    tools:',
    '      t: { upstream: yyy }',
    '    events:',
    '      assistant-request: { upstream: zzz }',
    'fallback: { upstream: fff }',
  );
  t.strictSame(diagnosticsOf(t, source), [
    error(9, 15, 'tools.a.upstream: upstream "crn" is not declared under upstreams (declared: crm)'),
    error(13, 15, 'events.status-update[0].upstream: upstream "crn" is not declared under upstreams (declared: crm)'),
    error(16, 19, 'events.end-of-call-report[1].upstream: upstream "nope" is not declared under upstreams (declared: crm)'),
    error(20, 22, 'assistants.a.tools.t.upstream: upstream "yyy" is not declared under upstreams (declared: crm)'),
    error(22, 38, 'assistants.a.events.assistant-request.upstream: upstream "zzz" is not declared under upstreams (declared: crm)'),
    error(23, 23, 'fallback.upstream: upstream "fff" is not declared under upstreams (declared: crm)'),
  ]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a: { upstream: crm }')), [
    error(5, 18, 'tools.a.upstream: upstream "crm" is not declared under upstreams'),
  ]);
});

t.test('version: missing, or not 1', async (t) => {
  // A missing key is reported like every other missing required key, at the start of its mapping.
  t.strictSame(diagnosticsOf(t, yaml(...SECRETS)), [error(1, 1, 'version: missing required key "version"')]);
  t.strictSame(diagnosticsOf(t, yaml('version: 2', ...SECRETS)), [error(1, 10, 'version: version must be 1')]);
  t.strictSame(diagnosticsOf(t, yaml('version: "1"', ...SECRETS)), [error(1, 10, 'version: version must be 1')]);
});

t.test('missing required key: at the mapping that lacks it', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'upstreams:', '  crm:', '    timeout: 3s')), [
    error(6, 5, 'upstreams.crm.url: missing required key "url"'),
  ]);
});

t.test('bad duration and bad size: at the value, quoting it', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'deadlines:', '  tool-calls: 9 seconds')), [
    error(5, 15, `deadlines.tool-calls: ${DURATION_HINT}, got "9 seconds"`),
  ]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://127.0.0.1:1", timeout: -5 }')), [
    error(5, 46, `upstreams.crm.timeout: ${DURATION_HINT}, got -5`),
  ]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'limits:', '  body: 1 megabyte')), [
    error(5, 9, 'limits.body: expected a size like 512kb, 1mb or an integer of bytes, got "1 megabyte"'),
  ]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'limits:', '  body: 1.5')), [
    error(5, 9, 'limits.body: expected a size like 512kb, 1mb or an integer of bytes, got 1.5'),
  ]);
});

t.test('bad method', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a:', '    url: http://127.0.0.1:1/a', '    method: FETCH')), [
    error(7, 13, 'tools.a.method: expected one of GET, POST, PUT, PATCH, DELETE'),
  ]);
});

t.test('bad url: upstream url and target url', async (t) => {
  const source = yaml('version: 1', ...SECRETS, 'upstreams:', '  crm:', '    url: ftp://example.com', 'tools:', '  a:', '    url: not a url');
  t.strictSame(diagnosticsOf(t, source), [
    error(6, 10, 'upstreams.crm.url: expected an absolute http:// or https:// URL'),
    error(9, 10, 'tools.a.url: expected an absolute http:// or https:// URL, with {placeholders} only after the host'),
  ]);
});

t.test('a {placeholder} in the url host', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a:', '    url: http://{host}.example.com/a')), [
    error(6, 10, 'tools.a.url: expected an absolute http:// or https:// URL, with {placeholders} only after the host'),
  ]);
  // After the host it is fine.
  const { config } = parseConfig(yaml('version: 1', ...SECRETS, 'tools:', '  a:', '    url: http://127.0.0.1:1/{id}?q={q}'), FILE, {});
  t.strictSame(config.tools, { a: { url: 'http://127.0.0.1:1/{id}?q={q}' } });
});

t.test('url and upstream together: at the url', async (t) => {
  const source = yaml('version: 1', ...SECRETS, 'upstreams:', '  crm:', '    url: http://127.0.0.1:1', 'tools:', '  a:', '    upstream: crm', '    url: http://127.0.0.1:2/a');
  t.strictSame(diagnosticsOf(t, source), [error(10, 10, 'tools.a.url: a target takes either upstream (with an optional path) or url, not both')]);
});

t.test('path without upstream', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a:', '    url: http://127.0.0.1:2/a', '    path: /b')), [
    error(7, 11, 'tools.a.path: path goes with upstream; with url, put the whole address in url'),
  ]);
  // Neither upstream nor url: the target has no destination at all.
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a:', '    path: /b')), [
    error(6, 5, 'tools.a: a target needs upstream (with an optional path) or url'),
    error(6, 11, 'tools.a.path: path goes with upstream; with url, put the whole address in url'),
  ]);
});

t.test('empty secrets list: one error, at the list', async (t) => {
  // The empty list is the one mistake; "no secrets configured" on top of it would be a second
  // error for the same line.
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'account:', '  secrets: []')), [
    error(3, 12, 'account.secrets: a secrets list must not be empty; remove the key or add a secret'),
  ]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'assistants:', '  sales:', '    secrets: []')), [
    error(6, 14, 'assistants.sales.secrets: a secrets list must not be empty; remove the key or add a secret'),
  ]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'account:', '  secrets: [s, ""]')), [error(3, 16, 'account.secrets[1]: a secret must not be empty')]);
});

t.test('the same phone number on two assistants, spaces ignored: at the second', async (t) => {
  const source = yaml('version: 1', ...SECRETS, 'assistants:', '  a:', '    phone_numbers: ["+31 85 083 5037"]', '  b:', '    phone_numbers:', '      - "+31850835037"');
  t.strictSame(diagnosticsOf(t, source), [
    error(9, 9, 'assistants.b.phone_numbers[0]: phone number +31850835037 is already listed for assistant "a"; a number can belong to one assistant only'),
  ]);
});

t.test('no secrets anywhere', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'tools:', '  a: { url: http://127.0.0.1:1/a }')), [error(1, 1, NO_SECRETS_MESSAGE)]);
  // Secrets on an assistant are enough.
  const onAssistant = parseConfig(yaml('version: 1', 'assistants:', '  a: { secrets: [s-0123456789abcdef] }'), FILE, {});
  t.strictSame(onAssistant.config.assistants, { a: { secrets: ['s-0123456789abcdef'] } });
  // allow_unsigned: true accepts a config without secrets.
  const unsigned = parseConfig(yaml('version: 1', 'security:', '  allow_unsigned: true'), FILE, {});
  t.strictSame(unsigned.warnings, []);
  t.strictSame(unsigned.config.security, { timestamp_tolerance: 300_000, allow_unsigned: true });
  t.equal(unsigned.config.account, undefined);
});

t.test('assistant name with a slash: at the name', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'assistants:', '  sales/nl:', '    tools: {}')), [
    error(5, 3, 'assistants.sales/nl: an assistant name is used in the URL /webhook/<name>: use letters, digits, _, - and . only'),
  ]);
});

t.test('event target with body: arguments', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'events:', '  end-of-call-report:', '    - url: http://127.0.0.1:1/s', '      body: arguments')), [
    error(7, 13, 'events.end-of-call-report[0].body: event targets always receive the envelope; use body: message or leave it out'),
  ]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'events:', '  status-update:', '    url: http://127.0.0.1:1/s', '    body: arguments')), [
    error(7, 11, 'events.status-update[0].body: event targets always receive the envelope; use body: message or leave it out'),
  ]);
});

t.test('assistant-request with neither a target nor static', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'events:', '  assistant-request:', '    method: POST')), [
    error(6, 5, 'events.assistant-request: assistant-request needs upstream, url or static'),
  ]);
});

t.test('${NAME} substitution from the env argument', async (t) => {
  const source = yaml(
    'version: 1',
    'account:',
    '  secrets: ["${SECRET}", "${A}-${B}", "${EMPTY:-fallback}", "${UNSET:-}x", "$HOME {x}", "${WITH_DEFAULT:-ignored}"]',
  );
  const { config } = parseConfig(source, FILE, { SECRET: 's3cret', A: 'one', B: 'two', EMPTY: '', WITH_DEFAULT: 'used', HOME: '/root' });
  t.strictSame(config.account, { secrets: ['s3cret', 'one-two', 'fallback', 'x', '$HOME {x}', 'used'] });
  // A substituted value is taken literally, not substituted again.
  const literal = parseConfig(yaml('version: 1', 'account:', '  secrets: ["${A}"]'), FILE, { A: '${B}', B: 'nope' });
  t.strictSame(literal.config.account, { secrets: ['${B}'] });
  // Substitution happens in values of any depth, including a url.
  const nested = parseConfig(yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "${CRM_URL:-http://127.0.0.1:4100}/api" }'), FILE, { CRM_URL: 'http://127.0.0.1:9' });
  t.strictSame(nested.config.upstreams, { crm: { url: 'http://127.0.0.1:9/api' } });
});

t.test('the env argument is used, not process.env', async (t) => {
  const name = 'HMS_TOOL_ROUTER_TEST_ONLY_IN_PROCESS_ENV';
  process.env[name] = 'from-process';
  t.teardown(() => {
    delete process.env[name];
  });
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'account:', `  secrets: ["\${${name}}"]`)), [error(3, 14, missingVar(name))]);
});

t.test('missing variables: all reported at once, each where it is used, nothing else for those nodes', async (t) => {
  const source = yaml(
    'version: ${V}',
    'account: { secrets: ["${S}"] }',
    'upstreams:',
    '  crm: { url: "${U}", timeout: "${T}" }',
    'tools:',
    '  a: { upstream: "${UP}" }',
    '  b:',
    '    url: ${B_URL}',
    'assistants:',
    '  x: { phone_numbers: ["${P}"] }',
  );
  // The empty strings left behind would each fail the schema too (version, url, duration,
  // undeclared upstream, empty phone number): none of those may appear.
  t.strictSame(diagnosticsOf(t, source), [
    error(1, 10, missingVar('V')),
    error(2, 23, missingVar('S')),
    error(4, 16, missingVar('U')),
    error(4, 33, missingVar('T')),
    error(6, 19, missingVar('UP')),
    error(8, 10, missingVar('B_URL')),
    error(10, 25, missingVar('P')),
  ]);
});

t.test('several missing variables in one value are each reported', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'account:', '  secrets: ["${A}", "x${B}y${C}"]')), [
    error(3, 14, missingVar('A')),
    error(3, 23, missingVar('B')),
    error(3, 28, missingVar('C')),
  ]);
});

t.test('missing variables and schema errors elsewhere are reported together, in file order', async (t) => {
  const source = yaml('version: 1', ...SECRETS, 'upstreams:', '  crm:', '    url: ${CRM_URL}', '    timeout: soon', 'limits: { body: lots }');
  t.strictSame(diagnosticsOf(t, source), [
    error(6, 10, missingVar('CRM_URL')),
    error(7, 14, `upstreams.crm.timeout: ${DURATION_HINT}, got "soon"`),
    error(8, 17, 'limits.body: expected a size like 512kb, 1mb or an integer of bytes, got "lots"'),
  ]);
});

t.test('every problem at once: a bad value does not hide an undeclared upstream or a duplicate phone number', async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'upstreams:',
    '  crm: { url: "http://127.0.0.1:1" }',
    'tools:',
    '  a: { upstream: crn }',
    'assistants:',
    '  x: { phone_numbers: ["+31 1"] }',
    '  y: { phone_numbers: ["+311"] }',
    'limits:',
    '  body: lots',
  );
  t.strictSame(diagnosticsOf(t, source), [
    error(7, 18, 'tools.a.upstream: upstream "crn" is not declared under upstreams (declared: crm)'),
    error(10, 24, 'assistants.y.phone_numbers[0]: phone number +311 is already listed for assistant "x"; a number can belong to one assistant only'),
    error(12, 9, 'limits.body: expected a size like 512kb, 1mb or an integer of bytes, got "lots"'),
  ]);
});

t.test('YAML syntax error: with its line and column', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'account:', '\tsecrets: [s]')), [error(3, 1, 'YAML syntax error: Tabs are not allowed as indentation')]);
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  a: { url: http://127.0.0.1/a: b }')), [
    error(5, 13, 'YAML syntax error: Block collections are not allowed within flow collections'),
  ]);
});

t.test('an empty file', async (t) => {
  t.strictSame(diagnosticsOf(t, ''), [error(1, 1, 'the file is empty; start it with version: 1')]);
  t.strictSame(diagnosticsOf(t, '# only a comment\n'), [error(1, 1, 'the file is empty; start it with version: 1')]);
});

t.test('a bare-integer timestamp_tolerance below 1000 is a warning at the value', async (t) => {
  const loaded = parseConfig(yaml('version: 1', ...SECRETS, 'security:', '  timestamp_tolerance: 300'), FILE, {});
  t.strictSame(loaded.warnings, [warning(5, 24, 'timestamp_tolerance: 300 is 300 milliseconds; did you mean 300s?')]);
  t.equal(loaded.config.security.timestamp_tolerance, 300);
  for (const value of ['300s', '999ms', '1000', '5m']) {
    t.strictSame(parseConfig(yaml('version: 1', ...SECRETS, 'security:', `  timestamp_tolerance: ${value}`), FILE, {}).warnings, [], `no warning for ${value}`);
  }
});

t.test('formatDiagnostic and ConfigError.message', async (t) => {
  t.equal(formatDiagnostic(error(3, 12, 'account.secrets: a secrets list must not be empty')), 'routes.yaml:3:12 account.secrets: a secrets list must not be empty');
  t.equal(formatDiagnostic(warning(5, 24, 'timestamp_tolerance: 300 is 300 milliseconds')), 'routes.yaml:5:24 warning: timestamp_tolerance: 300 is 300 milliseconds');
  t.equal(formatDiagnostic({ file: 'x/routes.yaml', line: 0, col: 0, severity: 'error', message: 'cannot read routes file' }), 'x/routes.yaml cannot read routes file');
  const err = new ConfigError([error(1, 2, 'first'), warning(3, 4, 'second')]);
  t.equal(err.name, 'ConfigError');
  t.equal(err.message, 'routes.yaml:1:2 first\nroutes.yaml:3:4 warning: second');
  t.ok(err instanceof Error);
});

t.test('loadConfigFile: a real file, valid and invalid', async (t) => {
  const dir = t.testdir({
    'good.yaml': yaml('version: 1', 'account:', '  secrets: ["${GOOD_SECRET}"]', 'security:', '  timestamp_tolerance: 300'),
    'bad.yaml': yaml('version: 1', ...SECRETS, 'limits:', '  body: 1 megabyte'),
  });
  const good = join(dir, 'good.yaml');
  const loaded = await loadConfigFile(good, { GOOD_SECRET: 'g-0123456789abcdef' });
  t.equal(loaded.file, good);
  t.strictSame(loaded.config.account, { secrets: ['g-0123456789abcdef'] });
  t.strictSame(loaded.warnings, [{ file: good, line: 5, col: 24, severity: 'warning', message: 'timestamp_tolerance: 300 is 300 milliseconds; did you mean 300s?' }]);

  const bad = join(dir, 'bad.yaml');
  await t.rejects(loadConfigFile(bad, {}), ConfigError);
  try {
    await loadConfigFile(bad, {});
  } catch (err) {
    t.strictSame((err as ConfigError).diagnostics, [
      { file: bad, line: 5, col: 9, severity: 'error', message: 'limits.body: expected a size like 512kb, 1mb or an integer of bytes, got "1 megabyte"' },
    ]);
    t.equal((err as ConfigError).message, `${bad}:5:9 limits.body: expected a size like 512kb, 1mb or an integer of bytes, got "1 megabyte"`);
  }
});

t.test('loadConfigFile: a missing file is one clear error without a position', async (t) => {
  const missing = join(t.testdir({}), 'nope.yaml');
  let caught: unknown;
  try {
    await loadConfigFile(missing, {});
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof ConfigError, 'throws a ConfigError');
  const diagnostics = (caught as ConfigError).diagnostics;
  t.equal(diagnostics.length, 1);
  const [d] = diagnostics;
  t.strictSame({ ...d, message: '' }, { file: missing, line: 0, col: 0, severity: 'error', message: '' });
  // The hint after the reason depends on the command (serve takes --routes, check a FILE argument).
  t.match(d?.message, /^cannot read routes file: file not found\b/);
  t.match(formatDiagnostic(d!), new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot read routes file: file not found`));
});

t.test('an unquoted value that is only a placeholder takes the type of its text', async (t) => {
  const source = yaml(
    'version: ${VERSION:-1}',
    ...SECRETS,
    'deadlines:',
    '  tool-calls: ${TOOL_DEADLINE:-9000}',
    'security:',
    '  allow_unsigned: ${DEV:-false}',
    'limits:',
    '  body: ${BODY}',
  );
  const { config } = parseConfig(source, FILE, { BODY: '2048', DEV: 'true' });
  t.strictSame([config.version, config.deadlines['tool-calls'], config.security.allow_unsigned, config.limits.body], [1, 9000, true, 2048]);
  // Quoted, it stays a string; a string of digits is still read as milliseconds.
  t.strictSame(parseConfig(yaml('version: 1', ...SECRETS, 'security: { timestamp_tolerance: "${TOL:-60000}" }'), FILE, {}).config.security.timestamp_tolerance, 60000);
  // Text that YAML would read as a mapping stays text.
  const { config: headers } = parseConfig(yaml('version: 1', ...SECRETS, 'upstreams:', '  a:', '    url: "http://127.0.0.1:1"', '    headers:', '      x: ${H}'), FILE, { H: 'a: b' });
  t.strictSame(headers.upstreams.a?.headers, { x: 'a: b' });
});

t.test('a malformed ${...} reference is an error at its position, never kept as text', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', 'account:', '  secrets: ["${HMS-SECRET}", "ok-${}"]')), [
    error(3, 14, '"${HMS-SECRET}" is not a valid reference: write ${NAME} or ${NAME:-default}, with a name of letters, digits and _'),
    error(3, 34, '"${}" is not a valid reference: write ${NAME} or ${NAME:-default}, with a name of letters, digits and _'),
  ]);
});

t.test('assistant-request takes exactly one target, not a list', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'events:', '  assistant-request:', '    - { url: "http://127.0.0.1:1/a" }')), [
    error(6, 5, 'events.assistant-request: Invalid input: expected object, received array'),
  ]);
});

t.test('URLs: no credentials anywhere, no query on an upstream, time limits above zero', async (t) => {
  t.strictSame(
    diagnosticsOf(
      t,
      yaml(
        'version: 1',
        ...SECRETS,
        'upstreams:',
        '  a: { url: "http://user:pw@127.0.0.1:1/" }',
        '  b: { url: "http://127.0.0.1:1/api?key=abc" }',
        '  c: { url: "http://127.0.0.1:1", timeout: 0 }',
        'tools:',
        '  t: { url: "https://user@127.0.0.1/x" }',
        'deadlines: { tool-calls: 0ms }',
      ),
    ),
    [
      error(5, 13, 'upstreams.a.url: credentials in the URL are not sent; use headers: { authorization: "..." } instead'),
      error(6, 13, "upstreams.b.url: an upstream URL cannot carry a query or fragment; put them in each target's path"),
      error(7, 44, 'upstreams.c.timeout: must be more than 0'),
      error(9, 13, 'tools.t.url: credentials in the URL are not sent; use headers: { authorization: "..." } instead'),
      error(10, 26, 'deadlines.tool-calls: must be more than 0'),
    ],
  );
});

t.test('secrets anyone could guess are warnings at their position', async (t) => {
  const { warnings } = parseConfig(
    yaml(
      'version: 1',
      'account:',
      '  secrets: ["${S:-dev-secret-change-me}", short]',
      'assistants:',
      '  a: { secrets: [a-long-enough-secret-value] }',
      'events:',
      '  assistant-request: { static: { secret: x } }',
      'fallback: { url: "http://127.0.0.1:1/", secret: tiny }',
    ),
    FILE,
    {},
  );
  t.strictSame(warnings, [
    warning(3, 13, 'this is the demo secret from the shipped routes.yaml: anyone can sign requests with it. Set a real one (e.g. openssl rand -hex 32) before exposing the gateway'),
    warning(3, 43, 'this secret is only 5 characters: use at least 16 random characters (e.g. openssl rand -hex 32)'),
    warning(8, 49, 'this secret is only 4 characters: use at least 16 random characters (e.g. openssl rand -hex 32)'),
  ]);
});

t.test('parameters schemas with an $id can be loaded again (a reload) and shared by two tools', async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'tools:',
    '  book: { url: "http://127.0.0.1:1/b", parameters: { $id: booking, type: object, required: [date] } }',
    '  rebook: { url: "http://127.0.0.1:1/r", parameters: { $id: booking, type: object, required: [date] } }',
  );
  t.strictSame(parseConfig(source, FILE, {}).warnings, []);
  t.strictSame(parseConfig(source, FILE, {}).warnings, []);
});

t.test('parameters that are not a valid JSON Schema are an error at the key', async (t) => {
  t.strictSame(diagnosticsOf(t, yaml('version: 1', ...SECRETS, 'tools:', '  book: { url: "http://127.0.0.1:1/b", parameters: { type: 12 } }')), [
    error(5, 52, 'tools.book.parameters: not a valid JSON Schema: schema is invalid: data/type must be equal to one of the allowed values, data/type must be array, data/type must match a schema in anyOf'),
  ]);
});

t.test('limits.rate, logging and reload: bad values point at their keys', async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'limits:',
    '  rate:',
    '    global: { max: 0, window: 1s }',
    '    per_assistant: { window: 1s }',
    '    per_ip: { max: 1 }',
    'logging: { payloads: "yes" }',
    'reload: { pin_calls: soon }',
  );
  t.strictSame(diagnosticsOf(t, source).map((d) => `${d.line}:${d.col} ${d.message}`), [
    '6:20 limits.rate.global.max: Too small: expected number to be >=1',
    '7:20 limits.rate.per_assistant.max: missing required key "max"',
    '8:5 limits.rate: unknown key "per_ip"; remove it or check its spelling',
    '9:22 logging.payloads: Invalid input: expected boolean, received string',
    '10:22 reload.pin_calls: expected a duration like 500ms, 3s, 1m, 2h, 7d or an integer of milliseconds, got "soon"',
  ]);
});
