// `hms-tool-router schema` and the JSON Schema it prints: draft 2020-12, the same as the shipped
// routes.schema.json, every key of the zod schema covered, the shipped routes.yaml and examples
// valid under it (as an editor sees them: placeholders unsubstituted), mistakes rejected.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import type { z } from 'zod';
import { DURATION_PATTERN, PLACEHOLDER_PATTERN, routesJsonSchema, routesJsonSchemaText, SIZE_PATTERN } from '../../src/config/json-schema.js';
import { parseConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { parseDuration, parseSize } from '../../src/config/units.js';
import { requireBuiltCli, ROOT, runCli } from '../helpers/cli.js';

t.before(requireBuiltCli);

type Json = Record<string, unknown>;

/** strict: an unknown keyword or a loose type in the generated schema fails the compile. */
const validator = () => new Ajv2020({ strict: true, allErrors: true }).compile(routesJsonSchema());

const shippedConfigs = (): string[] => ['routes.yaml', ...readdirSync(join(ROOT, 'examples')).filter((name) => /\.ya?ml$/.test(name)).map((name) => `examples/${name}`)];

t.test('schema prints the JSON Schema, identical to the shipped routes.schema.json', async (t) => {
  const result = await runCli(t, ['schema']);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  t.equal(result.stdout, routesJsonSchemaText(), 'the CLI prints what json-schema.ts generates');
  t.equal(
    readFileSync(join(ROOT, 'routes.schema.json'), 'utf8'),
    result.stdout,
    'routes.schema.json is up to date; if not: npm run build && node dist/cli.js schema > routes.schema.json',
  );
  const schema = JSON.parse(result.stdout) as Json;
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.equal(Object.keys(schema)[0], '$schema', '$schema comes first');
});

t.test('schema takes no arguments', async (t) => {
  t.strictSame(await runCli(t, ['schema', 'routes.yaml']), {
    code: 1,
    signal: null,
    stdout: '',
    stderr: 'schema takes no arguments, got routes.yaml\nUsage: hms-tool-router schema > routes.schema.json\n',
  });
});

t.test('the shipped routes.yaml and every examples/*.yaml point editors at the schema and are valid under it', async (t) => {
  const validate = validator();
  for (const file of shippedConfigs()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const relative = file.startsWith('examples/') ? '../routes.schema.json' : './routes.schema.json';
    t.equal(text.split('\n')[0], `# yaml-language-server: $schema=${relative}`, `${file}: first line`);
    t.ok(validate(parse(text)), `${file} is valid: ${JSON.stringify(validate.errors)}`);
  }
});

t.test('mistakes an editor should flag are rejected, at their place', async (t) => {
  const validate = validator();
  const errorsOf = (source: string) => {
    t.notOk(validate(parse(source)), source);
    return (validate.errors ?? []).map((e) => ({ at: e.instancePath, keyword: e.keyword, params: e.params }));
  };
  t.strictSame(errorsOf('version: 1\ntools:\n  a: { url: "http://127.0.0.1/a", methd: GET }\n'), [{ at: '/tools/a', keyword: 'additionalProperties', params: { additionalProperty: 'methd' } }]);
  t.strictSame(errorsOf('version: 1\nlimit: { body: 1mb }\n'), [{ at: '', keyword: 'additionalProperties', params: { additionalProperty: 'limit' } }]);
  t.strictSame(errorsOf('version: 1\nupstreams:\n  crm: { url: "http://127.0.0.1", breaker: { failure: 3 } }\n'), [
    { at: '/upstreams/crm/breaker', keyword: 'additionalProperties', params: { additionalProperty: 'failure' } },
  ]);
  t.ok(errorsOf('version: 1\nlimits: { body: 1 megabyte }\n').some((e) => e.at === '/limits/body'), 'a size that is not one');
  t.ok(errorsOf('version: 1\ntools:\n  a: { url: "http://127.0.0.1/a", timeout: soon }\n').some((e) => e.at === '/tools/a/timeout'), 'a duration that is not one');
  t.ok(errorsOf('version: 1\ntools:\n  a: { url: "http://127.0.0.1/a", method: FETCH }\n').some((e) => e.at === '/tools/a/method'), 'an unknown method');
  t.ok(errorsOf('version: 2\n').some((e) => e.at === '/version'), 'version 2');
  t.ok(errorsOf('version: 1\nassistants:\n  sales/nl: {}\n').some((e) => e.keyword === 'propertyNames'), 'an assistant name with a slash');
});

t.test('values as written are accepted: units, ${NAME} placeholders anywhere, one target or a list', async (t) => {
  const validate = validator();
  // Unquoted, a value that is only a placeholder takes the type of its text (a number, a boolean).
  const source = [
    'version: ${CONFIG_VERSION:-1}',
    'account: { secrets: ["${S}"] }',
    'upstreams:',
    '  crm:',
    '    url: ${CRM_URL}',
    '    timeout: 1.5s',
    '    breaker:',
    '      failures: ${FAILURES:-3}',
    '      slow: 800',
    '      slow_ratio: 0.5',
    '      open_for: 30s',
    'tools:',
    '  a:',
    '    upstream: crm',
    '    method: "${METHOD:-GET}"',
    '    retries: 2',
    '    hedge: 300ms',
    '    on_deadline: continue',
    '    side_effects: ${WRITES:-false}',
    'events:',
    '  status-update: { upstream: crm }',
    '  end-of-call-report: [{ upstream: crm }, { url: "http://127.0.0.1:4500/archive" }]',
    'deadlines: { tool-calls: "${DEADLINE:-8s}", assistant-request: 3500 }',
    'security:',
    '  timestamp_tolerance: 5m',
    '  allow_unsigned: ${DEV:-false}',
    'limits: { body: 512KB, result: 16384, tool_calls_per_call: 20 }',
    'store: { redis: "${REDIS_URL}" }',
  ].join('\n');
  t.ok(validate(parse(source)), JSON.stringify(validate.errors));
  // And the gateway agrees that it is valid.
  t.doesNotThrow(() => parseConfig(source, 'routes.yaml', { S: 's-0123456789abcdef', CRM_URL: 'http://127.0.0.1:4100', REDIS_URL: 'redis://127.0.0.1:6379' }));
});

t.test('the unit and placeholder patterns read text as units.ts and load.ts do', async (t) => {
  const duration = new RegExp(DURATION_PATTERN, 'u');
  const size = new RegExp(SIZE_PATTERN, 'u');
  for (const text of ['0', '500', '500ms', '3s', '1.5s', '1m', '2h', '7d', ' 3 s ', '3S', '3sec', '-1s', '1e3', 's', '']) {
    t.equal(duration.test(text), parseDuration(text) !== undefined, `duration ${JSON.stringify(text)}`);
  }
  for (const text of ['0', '1024', '512kb', '512KB', '1mb', '1Gb', '10b', ' 2 mb ', '1 megabyte', '1kib', '-1kb', 'kb', '']) {
    t.equal(size.test(text), parseSize(text) !== undefined, `size ${JSON.stringify(text)}`);
  }
  const placeholder = new RegExp(PLACEHOLDER_PATTERN, 'u');
  t.ok(placeholder.test('${NAME}') && placeholder.test('x-${NAME:-3s}-y'));
  t.notOk(placeholder.test('$NAME') || placeholder.test('{NAME}'));
});

/** Paths of every object key a zod schema accepts; `*` for a map's keys, lists see through. */
function zodKeys(schema: z.core.$ZodType, path: string, into: Set<string>): Set<string> {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  const walk = (inner: unknown, at: string) => zodKeys(inner as z.core.$ZodType, at, into);
  switch (def.type) {
    case 'object':
      for (const [key, value] of Object.entries(def.shape as Record<string, unknown>)) {
        into.add(`${path}.${key}`);
        walk(value, `${path}.${key}`);
      }
      break;
    case 'record':
      into.add(`${path}.*`);
      walk(def.valueType, `${path}.*`);
      break;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      walk(def.innerType, path);
      break;
    case 'pipe':
      walk(def.in, path);
      walk(def.out, path);
      break;
    case 'union':
      for (const option of def.options as unknown[]) walk(option, path);
      break;
    case 'array':
      walk(def.element, path);
      break;
  }
  return into;
}

/** The same paths as the JSON Schema allows them, following $refs. */
function jsonKeys(node: unknown, root: Json, path: string, into: Set<string>, depth = 0): Set<string> {
  if (typeof node !== 'object' || node === null || depth > 50) return into;
  const schema = node as Json;
  if (typeof schema.$ref === 'string') jsonKeys((root.$defs as Json)[schema.$ref.replace('#/$defs/', '')], root, path, into, depth + 1);
  for (const [key, value] of Object.entries((schema.properties as Json | undefined) ?? {})) {
    into.add(`${path}.${key}`);
    jsonKeys(value, root, `${path}.${key}`, into, depth + 1);
  }
  if (typeof schema.additionalProperties === 'object') {
    into.add(`${path}.*`);
    jsonKeys(schema.additionalProperties, root, `${path}.*`, into, depth + 1);
  }
  if (schema.items !== undefined) jsonKeys(schema.items, root, path, into, depth + 1);
  for (const branch of (schema.anyOf as unknown[] | undefined) ?? []) jsonKeys(branch, root, path, into, depth + 1);
  return into;
}

t.test('every key of the zod schema is in the JSON Schema, and no other', async (t) => {
  const schema = routesJsonSchema();
  const fromZod = [...zodKeys(configSchema, '', new Set())].sort();
  const fromJson = [...jsonKeys(schema, schema, '', new Set())].sort();
  t.ok(fromZod.length > 50, `a real walk (${fromZod.length} keys)`);
  t.strictSame(fromJson, fromZod);
});
