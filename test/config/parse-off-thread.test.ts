// parseConfig in a worker thread (parse-off-thread.ts): the same config and the same ConfigError
// as on the main thread; a large file's worker warmed up and kept between reloads, a small
// file's gone once it has answered.
import t from 'tap';
import { ConfigError, FAST_PATH_MIN_BYTES, parseConfig, type Diagnostic } from '../../src/config/load.js';
import { createOffThreadParser } from '../../src/config/parse-off-thread.js';
import { largeRoutesYaml } from '../helpers/large-routes.js';

const FILE = 'routes.yaml';
const small = 'version: 1\naccount: { secrets: [s-0123456789abcdef] }\ndefaults: { fallback: "One moment." }\ntools: { a: { url: "http://127.0.0.1:1/a" } }\n';
const large = largeRoutesYaml({ assistants: 100 }).text;
const onMainThread = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(text, FILE, env, { lint: true });

async function diagnosticsOf(promise: Promise<unknown>): Promise<Diagnostic[] | string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    return err instanceof ConfigError ? err.diagnostics : String(err);
  }
}

t.test('a small file: the same result as parseConfig, and no worker left behind', async (t) => {
  const parser = createOffThreadParser();
  t.teardown(() => parser.close());
  t.strictSame(await parser.parse(small, FILE, {}), onMainThread(small));
  t.equal(parser.hasWorker(), false);
  // A warm-up is only for large files.
  parser.warmUp(small, FILE, {});
  t.equal(parser.hasWorker(), false);
});

t.test('an invalid file: the same diagnostics in a ConfigError', async (t) => {
  const parser = createOffThreadParser();
  t.teardown(() => parser.close());
  const invalid = `${small}deadlines: { tool-calls: soon }\nupstreams: { crm: { url: "\${CRM_URL}" } }\n`;
  const expected = await diagnosticsOf(Promise.resolve().then(() => onMainThread(invalid)));
  t.ok(Array.isArray(expected) && expected.length === 2, 'two problems');
  t.strictSame(await diagnosticsOf(parser.parse(invalid, FILE, {})), expected);
});

t.test('a large file: warmed up, then kept between parses; the results match the main thread', async (t) => {
  t.ok(large.length >= FAST_PATH_MIN_BYTES);
  const parser = createOffThreadParser();
  t.teardown(() => parser.close());
  parser.warmUp(large, FILE, {});
  t.equal(parser.hasWorker(), true, 'warming up');
  const changed = large.replace('fast_a: { upstream: backend, path: /d0/a0/fast_a }', 'fast_a: { upstream: backend, path: /changed }');
  t.not(changed, large);
  t.strictSame(await parser.parse(changed, FILE, {}), onMainThread(changed));
  t.equal(parser.hasWorker(), true, 'kept for the next reload');
  t.strictSame(await parser.parse(large, FILE, {}), onMainThread(large));
  parser.close();
  t.equal(parser.hasWorker(), false);
  // Closed is not broken: the next parse starts a worker again.
  t.strictSame(await parser.parse(small, FILE, {}), onMainThread(small));
});

t.test('parses in flight at once each get their own answer', async (t) => {
  const parser = createOffThreadParser();
  t.teardown(() => parser.close());
  const env = { SECRET: 'from-env-0123456789' };
  const withEnv = small.replace('s-0123456789abcdef', '"${SECRET}"');
  const [a, b, c] = await Promise.all([parser.parse(large, FILE, {}), parser.parse(withEnv, FILE, env), diagnosticsOf(parser.parse('version: 2\n', FILE, {}))]);
  t.strictSame(a, onMainThread(large));
  t.strictSame(b, onMainThread(withEnv, env));
  t.strictSame(c, await diagnosticsOf(Promise.resolve().then(() => onMainThread('version: 2\n'))));
});
