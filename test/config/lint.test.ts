// Likely-mistake warnings (src/config/lint.ts) as parseConfig and loadConfigFile report them: a
// tool with no fallback, a timeout longer than its deadline, an unused upstream — each at the
// line and column of the key it is about, after the other warnings, never an error.
import t from 'tap';
import { join } from 'node:path';
import { loadConfigFile, parseConfig, type Diagnostic } from '../../src/config/load.js';
import { lintConfig } from '../../src/config/lint.js';

const FILE = 'routes.yaml';

/** YAML text from lines, so that line N of the file is argument N. */
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;
const warning = (line: number, col: number, message: string): Diagnostic => ({ file: FILE, line, col, severity: 'warning', message });
const lint = (source: string, env: NodeJS.ProcessEnv = {}) => parseConfig(source, FILE, env, { lint: true }).warnings;

const SECRETS = ['account:', '  secrets: [s-0123456789abcdef]'];
const NEVER_WAITED = 'the reply leaves at the deadline, so the rest is never waited for';
const noFallback = (path: string, spoken: string) =>
  `${path} has no fallback: when its backend fails or is too slow the caller hears the built-in "The ${spoken} service did not answer in time."; add fallback: "…" to it, or defaults.fallback for every tool`;

t.test('a tool without a fallback, at the tool name, for the account and for an assistant', async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'tools:',
    '  lookup_contact: { url: "http://127.0.0.1:1/c" }',
    '  book: { url: "http://127.0.0.1:1/b", fallback: "The calendar is away." }',
    '  notify: { url: "http://127.0.0.1:1/n", async: true }',
    'assistants:',
    '  sales:',
    '    tools:',
    '      orderStatus:',
    '        url: "http://127.0.0.1:1/o"',
  );
  t.strictSame(lint(source), [
    warning(5, 3, noFallback('tools.lookup_contact', 'lookup contact')),
    warning(11, 7, noFallback('assistants.sales.tools.orderStatus', 'order status')),
  ]);
  // defaults.fallback covers every tool.
  t.strictSame(lint(`${source}defaults:\n  fallback: "One moment, that did not work."\n`), []);
});

t.test('a timeout longer than its deadline, at the timeout key', async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'defaults: { fallback: "Sorry." }',
    'deadlines: { tool-calls: 8s, assistant-request: 3s }',
    'tools:',
    '  slow:',
    '    url: "http://127.0.0.1:1/s"',
    '    timeout: 12s',
    '  fits: { url: "http://127.0.0.1:1/f", timeout: 8s }',
    '  late_ok: { url: "http://127.0.0.1:1/l", timeout: 30s, on_deadline: continue }',
    '  queued: { url: "http://127.0.0.1:1/q", timeout: 1m, async: true }',
    'events:',
    '  assistant-request: { url: "http://127.0.0.1:1/ar", timeout: 3500ms }',
    '  end-of-call-report: { url: "http://127.0.0.1:1/eocr", timeout: 1m }',
    'assistants:',
    '  a:',
    '    tools:',
    '      t: { url: "http://127.0.0.1:1/t", timeout: 9000 }',
  );
  t.strictSame(lint(source), [
    warning(9, 5, `tools.slow.timeout 12s is longer than deadlines.tool-calls (8s): ${NEVER_WAITED}; lower it, or set on_deadline: continue if the backend should finish anyway`),
    warning(14, 54, `events.assistant-request.timeout 3500ms is longer than deadlines.assistant-request (3s): ${NEVER_WAITED}; lower it to fit the deadline`),
    warning(19, 41, `assistants.a.tools.t.timeout 9s is longer than deadlines.tool-calls (8s): ${NEVER_WAITED}; lower it, or set on_deadline: continue if the backend should finish anyway`),
  ]);
});

t.test("an upstream's timeout, when a target that takes it has a shorter deadline", async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'defaults: { fallback: "Sorry." }',
    'upstreams:',
    '  crm:',
    '    url: http://127.0.0.1:4100',
    '    timeout: 10s',
    'tools:',
    '  a: { upstream: crm }',
    '  b: { upstream: crm, timeout: 2s }',
    '  c: { upstream: crm }',
  );
  t.strictSame(lint(source), [
    warning(8, 5, `upstreams.crm.timeout 10s is longer than deadlines.tool-calls (9s) of tools.a (and 1 more), which takes this timeout: ${NEVER_WAITED}; lower it, or give those targets a timeout of their own`),
  ]);
  // Used only by events delivered from the outbox, a long timeout is fine.
  t.strictSame(lint(yaml('version: 1', ...SECRETS, 'upstreams:', '  crm: { url: "http://127.0.0.1:4100", timeout: 1m }', 'events:', '  status-update: { upstream: crm }')), []);
});

t.test('the catch-all fallback target answers assistant-request too when the account routes none', async (t) => {
  const base = ['version: 1', ...SECRETS, 'fallback: { url: "http://127.0.0.1:1/legacy", timeout: 5s }'];
  t.strictSame(lint(yaml(...base)), [
    warning(4, 47, `fallback.timeout 5s is longer than deadlines.assistant-request (4s): ${NEVER_WAITED}; lower it to fit the deadline`),
  ]);
  t.strictSame(lint(yaml(...base, 'events:', '  assistant-request: { static: {} }')), []);
});

t.test('an upstream no target uses, at its name', async (t) => {
  const source = yaml(
    'version: 1',
    ...SECRETS,
    'upstreams:',
    '  crm: { url: "http://127.0.0.1:4100" }',
    '  calendar: { url: "http://127.0.0.1:4200" }',
    '  legacy: { url: "http://127.0.0.1:4900" }',
    '  archive: { url: "http://127.0.0.1:4500" }',
    'tools:',
    '  lookup: { upstream: crm, fallback: "Sorry." }',
    'assistants:',
    '  a:',
    '    events:',
    '      end-of-call-report: { upstream: archive }',
    'fallback: { upstream: legacy }',
  );
  t.strictSame(lint(source), [
    warning(6, 3, 'upstreams.calendar is not used by any tool, event or fallback; remove it, or point a target at it with upstream: calendar'),
  ]);
});

t.test('lint warnings come after the value warnings, sorted by position; errors still throw first', async (t) => {
  const source = yaml(
    'version: 1',
    'account:',
    '  secrets: [short]',
    'upstreams:',
    '  unused: { url: "http://127.0.0.1:1" }',
    'tools:',
    '  a: { url: "http://127.0.0.1:1/a" }',
  );
  t.strictSame(lint(source), [
    warning(3, 13, 'this secret is only 5 characters: use at least 16 random characters (e.g. openssl rand -hex 32)'),
    warning(5, 3, 'upstreams.unused is not used by any tool, event or fallback; remove it, or point a target at it with upstream: unused'),
    warning(7, 3, noFallback('tools.a', 'a')),
  ]);
  // parseConfig leaves them out unless asked.
  t.strictSame(parseConfig(source, FILE, {}).warnings, [warning(3, 13, 'this secret is only 5 characters: use at least 16 random characters (e.g. openssl rand -hex 32)')]);
});

t.test('loadConfigFile lints by default (check and serve show the warnings)', async (t) => {
  const dir = t.testdir({ 'routes.yaml': yaml('version: 1', ...SECRETS, 'tools:', '  a: { url: "http://127.0.0.1:1/a" }') });
  const file = join(dir, 'routes.yaml');
  const loaded = await loadConfigFile(file, {});
  t.strictSame(loaded.warnings, [{ file, line: 5, col: 3, severity: 'warning', message: noFallback('tools.a', 'a') }]);
  t.strictSame((await loadConfigFile(file, {}, { lint: false })).warnings, []);
});

t.test('a key reached through a YAML alias is reported at the nearest key written out', async (t) => {
  const source = yaml('version: 1', ...SECRETS, 'tools:', '  a: &slow { url: "http://127.0.0.1:1/s", timeout: 20s, fallback: "Sorry." }', '  b: *slow');
  t.strictSame(lint(source), [
    warning(5, 43, `tools.a.timeout 20s is longer than deadlines.tool-calls (9s): ${NEVER_WAITED}; lower it, or set on_deadline: continue if the backend should finish anyway`),
    // b has no timeout key of its own in the file: its name is the nearest.
    warning(6, 3, `tools.b.timeout 20s is longer than deadlines.tool-calls (9s): ${NEVER_WAITED}; lower it, or set on_deadline: continue if the backend should finish anyway`),
  ]);
});

t.test('lintConfig on a parsed config: paths of keys, nothing for a clean config', async (t) => {
  const { config } = parseConfig(yaml('version: 1', ...SECRETS, 'upstreams:', '  u: { url: "http://127.0.0.1:1" }', 'tools:', '  a: { upstream: u }'), FILE, {});
  t.strictSame(
    lintConfig(config).map((finding) => finding.path),
    [['tools', 'a']],
  );
  const clean = parseConfig(yaml('version: 1', ...SECRETS, 'defaults: { fallback: "Sorry." }', 'upstreams:', '  u: { url: "http://127.0.0.1:1", timeout: 2s }', 'tools:', '  a: { upstream: u }'), FILE, {});
  t.strictSame(lintConfig(clean.config), []);
});
