// Deployment files: docker-compose.yml parses and points at files that exist, the Dockerfile's COPY
// sources exist and are not docker-ignored, and .ci/run runs the README's `npm test`.
import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

interface ComposeService {
  build?: string | { context?: string; dockerfile?: string };
  image?: string;
  working_dir?: string;
  command?: string | string[];
  entrypoint?: string | string[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: string[];
  environment?: Record<string, string> | string[];
  depends_on?: string[] | Record<string, unknown>;
}

interface Compose {
  services: Record<string, ComposeService>;
}

interface Mount {
  source: string;
  target: string;
}

/** Bind mounts as { source (relative to the repo), target (in the container) }. */
function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') {
      const [source = '', target = ''] = volume.split(':');
      return { source, target };
    }
    return { source: volume.source ?? '', target: volume.target ?? '' };
  });
}

// `merge: true` resolves the `<<: *gateway` keys the way docker compose does.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose & { volumes?: Record<string, unknown> };
const GATEWAYS = ['gateway-a', 'gateway-b'];

t.test('docker-compose.yml: two gateway replicas behind a balancer, Redis, and the example backends', async (t) => {
  t.type(compose, 'object');
  t.strictSame(Object.keys(compose.services).sort(), ['backends', 'balancer', 'gateway-a', 'gateway-b', 'redis']);
  t.strictSame(Object.keys(compose.volumes ?? {}).sort(), ['outbox-a', 'outbox-b'], 'a named volume per replica');
});

t.test('every build context has a Dockerfile', async (t) => {
  const built = Object.entries(compose.services).filter(([, service]) => service.build !== undefined);
  t.strictSame(built.map(([name]) => name).sort(), GATEWAYS);
  for (const [name, service] of built) {
    const build = typeof service.build === 'string' ? { context: service.build } : service.build!;
    const context = build.context ?? '.';
    const dockerfile = join(ROOT, context, build.dockerfile ?? 'Dockerfile');
    t.ok(existsSync(dockerfile) && statSync(dockerfile).isFile(), `${name}: ${dockerfile} exists`);
  }
});

t.test('every bind-mounted source exists; named volumes are declared', async (t) => {
  let count = 0;
  for (const [name, service] of Object.entries(compose.services)) {
    for (const { source, target } of mounts(service)) {
      if (!source.startsWith('./')) {
        t.ok(source in (compose.volumes ?? {}), `${name}: ${source} is a declared volume`);
        continue;
      }
      t.ok(existsSync(join(ROOT, source)), `${name}: ${source} (mounted at ${target}) exists`);
      count++;
    }
  }
  t.ok(count >= 4, 'the services mount their files');
});

t.test('each replica serves the replica routes file, keeps its outbox on its own volume, and shares Redis', async (t) => {
  const outboxes = new Set<string>();
  for (const name of GATEWAYS) {
    const gateway = compose.services[name]!;
    const command = gateway.command as string[];
    const routesPath = command[command.indexOf('--routes') + 1];
    const routesMount = mounts(gateway).find((m) => m.target === routesPath);
    t.strictSame(routesMount, { source: './examples/routes-replica.yaml', target: '/app/routes-replica.yaml' }, name);
    const data = mounts(gateway).find((m) => m.target === '/app/data');
    t.ok(data, `${name} mounts /app/data`);
    if (data) outboxes.add(data.source);
  }
  t.equal(outboxes.size, 2, 'one outbox volume per replica');
  const replicaRoutes = parse(read('examples/routes-replica.yaml')) as { store: { path: string; redis: string } };
  t.strictSame(replicaRoutes.store, { path: '/app/data/hms-tool-router.db', redis: 'redis://redis:6379' });
  t.match(read('examples/nginx.conf'), /server gateway-a:8080;\s+server gateway-b:8080;/);
  t.strictSame(compose.services.balancer!.ports, ['8080:8080']);
  // The image's default CMD serves the shipped routes.yaml on the exposed port.
  const cmd = JSON.parse(/^CMD (.*)$/m.exec(read('Dockerfile'))?.[1] ?? '[]') as string[];
  t.equal(cmd[cmd.indexOf('--routes') + 1], '/app/routes.yaml');
  t.match(read('Dockerfile'), /^EXPOSE 8080$/m);
});

t.test('the gateway environment names variables that routes.yaml uses', async (t) => {
  const environment = compose.services['gateway-a']!.environment;
  t.ok(environment !== undefined && !Array.isArray(environment), 'environment is a mapping');
  const routes = read('examples/routes-replica.yaml');
  for (const name of Object.keys(environment ?? {})) t.ok(routes.includes(`\${${name}`), `routes-replica.yaml uses \${${name}}`);
});

t.test("the backends service runs a file that exists in its mounted working directory", async (t) => {
  const backends = compose.services.backends!;
  const command = typeof backends.command === 'string' ? backends.command.split(/\s+/) : (backends.command ?? []);
  t.equal(command[0], 'node');
  const script = command[1] ?? '';
  const inContainer = posix.resolve(backends.working_dir ?? '/', script);
  const mount = mounts(backends).find((m) => inContainer.startsWith(`${m.target.replace(/\/$/, '')}/`));
  t.ok(mount !== undefined, `${inContainer} is inside a mounted directory`);
  if (!mount) return;
  const onHost = join(ROOT, mount.source, posix.relative(mount.target, inContainer));
  t.ok(existsSync(onHost) && statSync(onHost).isFile(), `${onHost} exists`);
});

/** COPY instructions of the Dockerfile, without `--from` ones (those copy between stages). */
function copySources(dockerfile: string): string[] {
  const sources: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const match = /^COPY\s+(.*)$/i.exec(line.trim());
    if (!match) continue;
    const words = match[1]!.trim().split(/\s+/);
    if (words.some((w) => w.startsWith('--from='))) continue;
    const operands = words.filter((w) => !w.startsWith('--'));
    sources.push(...operands.slice(0, -1));
  }
  return sources;
}

t.test("the Dockerfile's COPY sources exist and are not excluded by .dockerignore", async (t) => {
  const sources = copySources(read('Dockerfile'));
  t.ok(sources.length > 0, 'the Dockerfile copies files from the build context');
  // The build needs these; if one stops being copied the image will not build or will not run.
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'routes.yaml']) {
    t.ok(sources.includes(needed), `COPY ${needed}`);
  }
  const ignored = existsSync(join(ROOT, '.dockerignore'))
    ? read('.dockerignore')
        .split('\n')
        .map((line) => line.trim().replace(/\/$/, ''))
        .filter((line) => line !== '' && !line.startsWith('#'))
    : [];
  for (const source of sources) {
    t.ok(existsSync(join(ROOT, source)), `${source} exists`);
    t.notOk(ignored.includes(source.replace(/^\.\//, '').replace(/\/$/, '')), `${source} is not in .dockerignore`);
  }
  // The build stage compiles with tsconfig.build.json; whatever it extends must be copied as well.
  const buildConfig = JSON.parse(read('tsconfig.build.json')) as { extends?: string };
  if (buildConfig.extends !== undefined) t.ok(sources.includes(posix.normalize(buildConfig.extends).replace(/^\.\//, '')), `COPY ${buildConfig.extends}`);
});

t.test('.ci/run runs npm test, the README test command', async (t) => {
  const file = join(ROOT, '.ci', 'run');
  t.ok((statSync(file).mode & 0o111) !== 0, '.ci/run is executable');
  const lines = read('.ci/run')
    .split('\n')
    .map((line) => line.trim());
  t.equal(lines[0], '#!/usr/bin/env bash');
  t.ok(lines.includes('set -euo pipefail'), 'fails on the first failing command');
  t.ok(lines.includes('npm test'), 'has a line that is exactly `npm test`');
  const pkg = JSON.parse(read('package.json')) as { scripts?: Record<string, string> };
  t.type(pkg.scripts?.test, 'string', 'package.json defines the test script');
});

t.test("the README's two set-up commands are the ones CI and package.json run", async (t) => {
  const readme = read('README.md');
  t.match(readme, /^npm ci && npm start {2,}# /m, 'README runs the gateway with npm ci && npm start');
  t.match(readme, /^npm ci && npm test {2,}# /m, 'README runs the tests with npm ci && npm test');
  const ci = read('.ci/run');
  t.match(ci, /^npm ci\b/m, '.ci/run installs with npm ci');
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };
  t.equal(pkg.scripts.start, 'npm run build && node examples/start.mjs');
  t.equal(pkg.bin['hms-tool-router'], 'dist/cli.js');
});
