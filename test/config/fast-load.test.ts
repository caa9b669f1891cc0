// The fast path for large routes files (fast-load.ts): every file it accepts yields exactly what
// the positioned path yields, it declines whatever would be a diagnostic or might be read
// differently, and a large file's problems still come out with their FILE:LINE:COL.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigFast } from '../../src/config/fast-load.js';
import { ConfigError, FAST_PATH_MIN_BYTES, loadConfigFile, parseConfig, type Diagnostic, type LoadedConfig } from '../../src/config/load.js';
import { largeRoutesYaml } from '../helpers/large-routes.js';

const FILE = 'routes.yaml';
const root = new URL('../../', import.meta.url);
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;
const SECRETS = ['account:', '  secrets: [s-0123456789abcdef]'];

type Outcome = { loaded: LoadedConfig } | { diagnostics: Diagnostic[] };

/** What parseConfig makes of the text: the loaded config, or the diagnostics it throws. */
function outcome(text: string, env: NodeJS.ProcessEnv, fastPath: 'auto' | 'always' | 'never'): Outcome {
  try {
    return { loaded: parseConfig(text, FILE, env, { lint: true, fastPath }) };
  } catch (err) {
    if (err instanceof ConfigError) return { diagnostics: err.diagnostics };
    throw err;
  }
}

/** The positioned path's outcome, which parseConfig with the fast path forced must equal; and whether the fast path took the file itself. */
function bothPaths(text: string, env: NodeJS.ProcessEnv = {}): { positioned: Outcome; forced: Outcome; accepted: boolean } {
  return { positioned: outcome(text, env, 'never'), forced: outcome(text, env, 'always'), accepted: parseConfigFast(text, FILE, env, { lint: true }) !== undefined };
}

t.test('the shipped routes.yaml and every example: the same config from both paths', async (t) => {
  const files = ['routes.yaml', ...readdirSync(new URL('examples/', root)).filter((name) => name.endsWith('.yaml')).map((name) => `examples/${name}`)];
  t.strictSame(files, ['routes.yaml', 'examples/account-fallback.yaml', 'examples/routes-replica.yaml', 'examples/sidecar.yaml']);
  const strong = { HMS_WEBHOOK_SECRET: 'strong-secret-0123456789', HMS_WEBHOOK_SECRET_PREVIOUS: 'strong-previous-0123456789', LEGACY_SECRET: 'strong-legacy-0123456789', SUPPORT_SECRET: 'strong-support-0123456789' };
  for (const name of files) {
    const text = readFileSync(new URL(name, root), 'utf8');
    const fast = parseConfigFast(text, name, strong, { lint: true });
    t.ok(fast, `${name}: the fast path takes it`);
    t.strictSame(fast, parseConfig(text, name, strong, { lint: true, fastPath: 'never' }), name);
  }
  // With the demo secret (no environment) there is a warning: declined, and the warning is positioned.
  const shipped = readFileSync(new URL('routes.yaml', root), 'utf8');
  t.equal(parseConfigFast(shipped, FILE, {}, { lint: true }), undefined);
  const { warnings } = parseConfig(shipped, FILE, {}, { lint: true, fastPath: 'always' });
  t.strictSame(warnings, parseConfig(shipped, FILE, {}, { lint: true, fastPath: 'never' }).warnings);
  t.equal(warnings.length, 1);
  t.match(warnings[0], { severity: 'warning', message: /^this is the demo secret/ });
});

t.test('the 10,000-tool file: read by the fast path, the same config as the positioned path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-large-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  const { text } = largeRoutesYaml({ assistants: 1000 });
  writeFileSync(file, text);
  t.ok(text.length >= FAST_PATH_MIN_BYTES);
  t.ok(parseConfigFast(text, file, {}, { lint: true }), 'the fast path takes it');
  const loaded = await loadConfigFile(file, {});
  t.strictSame(loaded, parseConfig(text, file, {}, { lint: true, fastPath: 'never' }));
  t.equal(Object.keys(loaded.config.assistants).length, 1000);
  t.strictSame(loaded.config.assistants.a999, {
    phone_numbers: ['+31200000999'],
    tools: {
      fast_a: { upstream: 'backend', path: '/d0/a999/fast_a' },
      fast_b: { upstream: 'backend', path: '/d1/a999/fast_b' },
      fast_c: { upstream: 'backend', path: '/d2/a999/fast_c' },
      slow_a: { upstream: 'backend', path: '/d3/a999/slow_a' },
      slow_b: { upstream: 'backend', path: '/d4/a999/slow_b' },
      slow_c: { upstream: 'backend', path: '/d5/a999/slow_c' },
      hold_a: { upstream: 'backend', path: '/d6/a999/hold_a', timeout: 8000 },
      hold_b: { upstream: 'backend', path: '/d7/a999/hold_b', timeout: 8000 },
      hold_c: { upstream: 'backend', path: '/d8/a999/hold_c', timeout: 8000 },
      hold_d: { upstream: 'backend', path: '/d9/a999/hold_d', timeout: 8000 },
    },
  });
});

const upstream = ['upstreams:', '  crm: { url: "http://127.0.0.1:4100" }', 'tools:', '  lookup: { upstream: crm, fallback: "One moment." }'];

/** Files the fast path takes, with what makes each one worth trying. */
const accepted: Record<string, { text: string; env?: NodeJS.ProcessEnv }> = {
  'unquoted placeholders take the type of their text; quoted ones stay strings': {
    text: yaml('version: ${VERSION:-1}', ...SECRETS, ...upstream, 'deadlines:', '  tool-calls: ${TOOL_DEADLINE:-8000}', '  assistant-request: "${AR_DEADLINE:-3000}"', 'security:', '  allow_unsigned: ${DEV:-false}', 'limits:', '  body: ${BODY}'),
    env: { BODY: '2048' },
  },
  'placeholders in block and flow lists, with and without defaults': {
    text: yaml('version: 1', 'account:', '  secrets:', '    - ${S1}', '    - "${S2:-fallback-secret-0001}"', 'assistants:', '  sales: { secrets: ["${S3}", "x-${S1}"] }', ...upstream),
    env: { S1: 'first-secret-000001', S3: 'third-secret-000003' },
  },
  'placeholders inside text, in flow maps and in a URL': {
    text: yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://${HOST:-127.0.0.1}:4100", headers: { authorization: "Bearer ${TOKEN:-dev-token}", "${NOT_A_KEY}": kept } }', '  cal:', '    url: ${CAL_URL:-http://127.0.0.1:4200/api}', 'tools:', '  lookup:', '    upstream: crm', '    path: /a/${SEGMENT:-b}/c', '    fallback: "One moment."', '  book: { upstream: cal, fallback: "One moment." }'),
    env: { TOKEN: 'from-env' },
  },
  'block scalars, folded and multi-line text': {
    text: yaml(
      'version: 1',
      ...SECRETS,
      ...upstream,
      'defaults:',
      '  fallback: >-',
      '    Sorry, the ${SYSTEM:-calendar}',
      '    is down.',
      'events:',
      '  assistant-request:',
      '    static:',
      '      greeting: |',
      '        Hello ${NAME:-there},',
      '          welcome.',
      '      note: one',
      '        two',
      '      quoted: "a\\tb \\u00e9',
      '        c"',
      "      single: 'it''s'",
    ),
  },
  'keys are never substituted, quoted or not; a quoted "null" is a key like any other': {
    text: yaml('version: 1', ...SECRETS, 'upstreams:', '  crm:', '    url: "http://127.0.0.1:1"', '    headers:', '      ${X}: y', '      "null": z', 'tools:', '  a: { upstream: crm, fallback: x }'),
    env: { X: 'substituted' },
  },
  'comments, explicit document markers and empty values': {
    text: yaml('# routes', '---', 'version: 1 # the only version', ...SECRETS, ...upstream, 'events:', '  assistant-request:', '    static:', '      empty:', '      tilde: ~', '...'),
  },
};

for (const [name, { text, env }] of Object.entries(accepted)) {
  t.test(`fast path takes it: ${name}`, async (t) => {
    const { positioned, forced, accepted } = bothPaths(text, env);
    t.ok('loaded' in positioned, 'the file is valid');
    t.equal(accepted, true, 'the fast path takes it');
    t.strictSame(forced, positioned);
  });
}

t.test('what the fast path reads in the accepted files, spelled out', async (t) => {
  const typed = parseConfigFast(accepted['unquoted placeholders take the type of their text; quoted ones stay strings']!.text, FILE, { BODY: '2048' }, { lint: true });
  t.strictSame([typed?.config.version, typed?.config.deadlines, typed?.config.security.allow_unsigned, typed?.config.limits.body], [1, { 'tool-calls': 8000, 'assistant-request': 3000 }, false, 2048]);
  const inText = parseConfigFast(accepted['placeholders inside text, in flow maps and in a URL']!.text, FILE, { TOKEN: 'from-env' }, { lint: true });
  t.strictSame(inText?.config.upstreams, {
    crm: { url: 'http://127.0.0.1:4100', headers: { authorization: 'Bearer from-env', '${NOT_A_KEY}': 'kept' } },
    cal: { url: 'http://127.0.0.1:4200/api' },
  });
  t.strictSame(inText?.config.tools.lookup?.path, '/a/b/c');
  const keys = parseConfigFast(accepted['keys are never substituted, quoted or not; a quoted "null" is a key like any other']!.text, FILE, { X: 'substituted' }, { lint: true });
  t.strictSame(keys?.config.upstreams.crm?.headers, { '${X}': 'y', null: 'z' });
  const blocks = parseConfigFast(accepted['block scalars, folded and multi-line text']!.text, FILE, {}, { lint: true });
  t.strictSame(blocks?.config.defaults.fallback, 'Sorry, the calendar is down.');
  t.strictSame(blocks?.config.events['assistant-request']?.static, { greeting: 'Hello there,\n  welcome.\n', note: 'one two', quoted: 'a\tb é c', single: "it's" });
});

/** Files the fast path declines: the positioned path reads them, with the same result as always. */
const declined: Record<string, { text: string; env?: NodeJS.ProcessEnv }> = {
  'an anchor and an alias': { text: yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://127.0.0.1:1", headers: &auth { x-key: k } }', '  cal: { url: "http://127.0.0.1:2", headers: *auth }', 'tools:', '  a: { upstream: crm, fallback: x }', '  b: { upstream: cal, fallback: x }') },
  'a merge key': { text: yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: &crm { url: "http://127.0.0.1:1" }', '  cal: { <<: *crm }') },
  'a tag': { text: yaml('version: 1', ...SECRETS, ...upstream, 'deadlines: { tool-calls: !!str 3000 }') },
  'a %YAML 1.1 directive, which makes yes a boolean': { text: yaml('%YAML 1.1', '---', 'version: 1', ...SECRETS, ...upstream, 'security: { allow_unsigned: yes }') },
  'a null key, which the two libraries name differently': { text: yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://127.0.0.1:1", headers: { ~: x } }', 'tools:', '  a: { upstream: crm, fallback: x }') },
  'a key over 1024 characters': { text: yaml('version: 1', ...SECRETS, ...upstream, `events: { assistant-request: { static: { ${'k'.repeat(1100)}: 1 } } }`) },
  'a key that is a number': { text: yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://127.0.0.1:1", headers: { 404: x } }', 'tools:', '  a: { upstream: crm, fallback: x }') },
  'a __proto__ key': { text: yaml('version: 1', ...SECRETS, ...upstream, 'events: { assistant-request: { static: { __proto__: { polluted: true } } } }') },
  'the same key quoted and unquoted': { text: yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://127.0.0.1:1", headers: { a: x, "a": y } }', 'tools:', '  a: { upstream: crm, fallback: x }') },
  'a flow map over several lines, indented less than js-yaml wants': { text: yaml('version: 1', ...SECRETS, 'upstreams: {', '  crm: { url: "http://127.0.0.1:1" }', '}', 'tools:', '  a: { upstream: crm, fallback: x }') },
  'two documents': { text: yaml('version: 1', ...SECRETS, '---', 'version: 1') },
  'an empty file': { text: '' },
  'a YAML syntax error': { text: yaml('version: 1', ...SECRETS, 'upstreams: { crm: { url: x }') },
  'a duplicate key': { text: yaml('version: 1', ...SECRETS, ...upstream, 'tools:', '  b: { upstream: crm }') },
  'an unset variable': { text: yaml('version: 1', ...SECRETS, ...upstream, 'deadlines: { tool-calls: "${UNSET}" }') },
  'a malformed reference': { text: yaml('version: 1', ...SECRETS, ...upstream, 'deadlines: { tool-calls: "${1X}" }') },
  'a schema error': { text: yaml('version: 1', ...SECRETS, ...upstream, 'deadlines: { tool-calls: soon }') },
  'a weak secret': { text: yaml('version: 1', 'account: { secrets: [short] }', ...upstream) },
  'a weak secret from the environment, in a tool': { text: yaml('version: 1', ...SECRETS, ...upstream, '  signed: { upstream: crm, secret: "${TOOL_SECRET}", fallback: x }'), env: { TOOL_SECRET: 'tiny' } },
  'a timestamp_tolerance below 1000 from an unquoted placeholder': { text: yaml('version: 1', ...SECRETS, ...upstream, 'security:', '  timestamp_tolerance: ${TOLERANCE:-300}') },
  'a lint finding': { text: yaml('version: 1', ...SECRETS, ...upstream, '  other: { upstream: crm }') },
};

for (const [name, { text, env }] of Object.entries(declined)) {
  t.test(`fast path declines, positioned path decides: ${name}`, async (t) => {
    const { positioned, forced, accepted } = bothPaths(text, env);
    t.equal(accepted, false, 'the fast path declines it');
    t.strictSame(forced, positioned);
  });
}

t.test('a secret-looking value inside static or headers is passed on as it is: no warning, so the fast path takes it', async (t) => {
  const text = yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://127.0.0.1:1", headers: { secret: abc } }', 'tools:', '  a: { upstream: crm, fallback: x }', 'events:', '  assistant-request: { static: { secrets: [abc] } }');
  const { positioned, forced, accepted } = bothPaths(text);
  t.equal(accepted, true);
  t.strictSame(forced, positioned);
});

t.test('an unquoted placeholder: the fast path types what YAML would, and declines text YAML could read as more than a scalar', async (t) => {
  const text = yaml('version: 1', ...SECRETS, ...upstream, 'events:', '  assistant-request:', '    static:', '      v: ${V}');
  const staticValue = (env: NodeJS.ProcessEnv) => parseConfigFast(text, FILE, env, { lint: true })?.config.events['assistant-request']?.static?.v;
  const typed: [string, unknown][] = [
    ['3000', 3000],
    ['-5', -5],
    ['+12', 12],
    ['007', 7],
    ['0x1F', 31],
    ['0o17', 15],
    ['1.5', 1.5],
    ['1e3', 1000],
    ['.inf', Infinity],
    ['true', true],
    ['False', false],
    ['yes', 'yes'],
    ['null', 'null'],
    ['~', '~'],
    ['3s', '3s'],
    ['1_000', '1_000'],
    ['2026-01-01', '2026-01-01'],
    ['http://127.0.0.1:4100/api', 'http://127.0.0.1:4100/api'],
    ['a: b', 'a: b'],
    ['a, b', 'a, b'],
    ['-x', '-x'],
  ];
  for (const [value, expected] of typed) {
    t.strictSame(staticValue({ V: value }), expected, `V=${JSON.stringify(value)} (fast path)`);
    const { positioned, forced } = bothPaths(text, { V: value });
    t.strictSame(forced, positioned, `V=${JSON.stringify(value)} (both paths)`);
    t.strictSame('loaded' in positioned ? positioned.loaded.config.events['assistant-request']?.static?.v : undefined, expected, `V=${JSON.stringify(value)} (positioned path)`);
  }
  for (const value of ['1 # c', ' 1', '1 ', '- 1', '-', '---', '!!int 3', '&a 1', '*a', 'x\ny', '[1]', '{a: 1}', "'q'", '"q"', '? a', '%x', '|', '>', '#', '@x', '`x`']) {
    t.equal(staticValue({ V: value }), undefined, `V=${JSON.stringify(value)} is declined`);
    const { positioned, forced } = bothPaths(text, { V: value });
    t.strictSame(forced, positioned, `V=${JSON.stringify(value)} (both paths)`);
  }
});

t.test('plain scalars: the fast path reads null, booleans, numbers and text as the positioned path does', async (t) => {
  const spellings = ['true', 'True', 'TRUE', 'tRue', 'false', 'FALSE', 'falsey', 'true_north', 'yes', 'no', 'on', 'off', 'null', 'Null', 'NULL', 'nullable', '~', '~x', '', '0', '-0', '+1', '007', '1_000', '0x1F', '0o17', '0b1', '1.5', '1.', '.5', '1e3', '-1E-3', '.inf', '-.INF', '+.Inf', '.NaN', 'Infinity', '2001-12-14', '12:30', '3s', 'fast_a'];
  const lines = spellings.map((spelling, i) => `      v${i}: ${spelling}`);
  const text = yaml('version: 1', ...SECRETS, ...upstream, 'events:', '  assistant-request:', '    static:', ...lines);
  const { positioned, forced, accepted } = bothPaths(text);
  t.equal(accepted, true);
  t.strictSame(forced, positioned);
  const read = 'loaded' in forced ? forced.loaded.config.events['assistant-request']?.static : undefined;
  t.strictSame(
    spellings.map((_, i) => read?.[`v${i}`]),
    [true, true, true, 'tRue', false, false, 'falsey', 'true_north', 'yes', 'no', 'on', 'off', null, null, null, 'nullable', null, '~x', null, 0, -0, 1, 7, '1_000', 31, 15, '0b1', 1.5, 1, 0.5, 1000, -0.001, Infinity, -Infinity, Infinity, NaN, 'Infinity', '2001-12-14', '12:30', '3s', 'fast_a'],
  );
});

t.test('a problem in a large file: the fast path declines and the diagnostic has its FILE:LINE:COL', async (t) => {
  const assistant = 57;
  /** The 100-assistant file with the first tool of a57 replaced (or, for null, written twice). */
  const withTool = (line: string | null) => {
    const { text, firstToolLine } = largeRoutesYaml({ assistants: 100 });
    const lines = text.split('\n');
    const at = firstToolLine(assistant) - 1;
    if (line === null) lines.splice(at + 1, 0, lines[at]!);
    else lines[at] = line;
    return lines.join('\n');
  };
  const line = largeRoutesYaml({ assistants: 100 }).firstToolLine(assistant);
  t.equal(line, 751);
  const error = (l: number, col: number, message: string): Diagnostic => ({ file: FILE, line: l, col, severity: 'error', message });
  const warning = (l: number, col: number, message: string): Diagnostic => ({ file: FILE, line: l, col, severity: 'warning', message });
  const cases: [string, string, Outcome | Diagnostic[]][] = [
    ['syntax', withTool('      fast_a: { upstream: backend, path: /x'), [error(752, 7, 'YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }')]],
    ['duplicate key', withTool(null), [error(752, 7, 'duplicate key "fast_a": it is already defined above in the same mapping')]],
    ['unknown key', withTool('      fast_a: { upstream: backend, pth: /x }'), [error(751, 36, 'assistants.a57.tools.fast_a: unknown key "pth"; remove it or check its spelling')]],
    ['bad duration', withTool('      fast_a: { upstream: backend, timeout: 8 parsecs }'), [error(751, 45, 'assistants.a57.tools.fast_a.timeout: expected a duration like 500ms, 3s, 1m, 2h, 7d or an integer of milliseconds, got "8 parsecs"')]],
    ['undeclared upstream', withTool('      fast_a: { upstream: backnd }'), [error(751, 27, 'assistants.a57.tools.fast_a.upstream: upstream "backnd" is not declared under upstreams (declared: backend)')]],
    ['unset variable', withTool('      fast_a: { upstream: backend, path: "/${MISSING}" }'), [error(751, 44, 'environment variable MISSING is not set (used as ${MISSING}); set it, or write ${MISSING:-default}')]],
    ['malformed reference', withTool('      fast_a: { upstream: backend, path: "/${bad-name}" }'), [error(751, 44, '"${bad-name}" is not a valid reference: write ${NAME} or ${NAME:-default}, with a name of letters, digits and _')]],
  ];
  for (const [name, text, expected] of cases) {
    t.ok(text.length >= FAST_PATH_MIN_BYTES, `${name}: large enough for the fast path`);
    t.equal(parseConfigFast(text, FILE, {}, { lint: true }), undefined, `${name}: declined`);
    t.strictSame(outcome(text, {}, 'auto'), { diagnostics: expected }, name);
  }

  const warned: [string, string, Diagnostic][] = [
    ['lint', withTool('      fast_a: { upstream: backend, timeout: 20s }'), warning(751, 36, 'assistants.a57.tools.fast_a.timeout 20s is longer than deadlines.tool-calls (9s): the reply leaves at the deadline, so the rest is never waited for; lower it, or set on_deadline: continue if the backend should finish anyway')],
    ['weak secret', largeRoutesYaml({ assistants: 100, secret: 'short' }).text, warning(2, 22, 'this secret is only 5 characters: use at least 16 random characters (e.g. openssl rand -hex 32)')],
    ['timestamp_tolerance', largeRoutesYaml({ assistants: 100, head: ['security: { timestamp_tolerance: 300 }'] }).text, warning(2, 34, 'timestamp_tolerance: 300 is 300 milliseconds; did you mean 300s?')],
  ];
  for (const [name, text, expected] of warned) {
    t.equal(parseConfigFast(text, FILE, {}, { lint: true }), undefined, `${name}: declined`);
    const result = outcome(text, {}, 'auto');
    t.strictSame('loaded' in result ? result.loaded.warnings : result, [expected], name);
  }
});
