// Starting the processes under test and around them: the benchmark backend, the built gateway
// (the CLI, production defaults: logging at info, metrics, breakers, ledger, durable outbox in a
// temporary directory), the bare forwarder and the load generator. Used by run.mjs and profile.mjs.

import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstJsonLine, freePort, waitHealthy } from './lib.mjs';

export const root = fileURLToPath(new URL('..', import.meta.url));
const here = (file) => fileURLToPath(new URL(file, import.meta.url));

/** The 10-tool table: 3 tools answered at once, 3 after 20 ms, 4 after 5 s (for the memory check). */
export const TOOLS = {
  fast_a: 0,
  fast_b: 0,
  fast_c: 0,
  slow_a: 20,
  slow_b: 20,
  slow_c: 20,
  hold_a: 5000,
  hold_b: 5000,
  hold_c: 5000,
  hold_d: 5000,
};
export const toolsWithDelay = (delay, count) => Object.keys(TOOLS).filter((name) => TOOLS[name] === delay).slice(0, count);

function toolLines(prefix, indent) {
  return Object.entries(TOOLS)
    .map(([name, delay]) => `${indent}${name}: { upstream: backend, path: /d${delay}${prefix}/${name}${delay >= 5000 ? ', timeout: 8s' : ''} }`)
    .join('\n');
}

/**
 * routes.yaml for the benchmark: one upstream (the backend), and `assistants` assistants with the
 * 10 tools each (assistant "bench" when there is one, else a0…aN-1 with a phone number each).
 */
export function routesYaml({ secret, backend, storePath, assistants = 1, extraTool }) {
  const lines = [
    'version: 1',
    `account: { secrets: ["${secret}"] }`,
    `store: { path: "${storePath}" }`,
    // A spoken fallback for every tool, as production configs have (and `check` asks for).
    'defaults: { fallback: "Sorry, that system is not answering right now." }',
    'upstreams:',
    `  backend: { url: "${backend}" }`,
    'assistants:',
  ];
  if (assistants === 1) {
    lines.push('  bench:', '    tools:', toolLines('', '      '));
  } else {
    for (let i = 0; i < assistants; i++) {
      lines.push(`  a${i}:`, `    phone_numbers: ["+3120${String(i).padStart(7, '0')}"]`, '    tools:', toolLines(`/a${i}`, '      '));
      if (i === 0 && extraTool) lines.push(`      ${extraTool}: { upstream: backend, path: /d0/a0/${extraTool} }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The bare forwarder's table: tool name -> backend path. */
export function bareTools() {
  return Object.fromEntries(Object.entries(TOOLS).map(([name, delay]) => [name, `/d${delay}/${name}`]));
}

export async function startBackend(group, { pin }) {
  const child = group.start('backend', [here('./backend.mjs')], { cpu: pin ? 1 : undefined });
  const { port } = await firstJsonLine(child);
  return { child, origin: `http://127.0.0.1:${port}` };
}

export async function startBare(group, { pin, secret, backend, nodeArgs = [] }) {
  const child = group.start('bare forwarder', [...nodeArgs, here('./bare-forwarder.mjs'), '--secret', secret, '--backend', backend, '--tools', JSON.stringify(bareTools())], { cpu: pin ? 0 : undefined, cwd: root });
  const { port } = await firstJsonLine(child);
  return { child, origin: `http://127.0.0.1:${port}`, pid: child.pid };
}

/** fast-gateway proxying every webhook to one backend path (the reference proxy of issue 6). */
export async function startFastGateway(group, { pin, backend, path }) {
  const child = group.start('fast-gateway', [here('./fast-gateway.mjs'), '--backend', backend, '--path', path], { cpu: pin ? 0 : undefined, cwd: root });
  const { port } = await firstJsonLine(child);
  return { child, origin: `http://127.0.0.1:${port}`, pid: child.pid };
}

/** True when fast-gateway (a devDependency) is installed. */
export function hasFastGateway() {
  return existsSync(join(root, 'node_modules/fast-gateway/package.json'));
}

/**
 * The built gateway through its CLI, as production runs it: `serve` with LOG_LEVEL=info, logs
 * to `logFile` (default /dev/null: pino still formats every line). Resolves once /healthz
 * answers, with the milliseconds from spawn to healthy.
 */
export async function startGateway(group, { pin, name = 'gateway', dir, yaml, logFile = '/dev/null', nodeArgs = [] }) {
  mkdirSync(dir, { recursive: true });
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, yaml);
  const port = await freePort();
  const out = openSync(logFile, 'a');
  const started = performance.now();
  const child = group.start(name, [...nodeArgs, join(root, 'dist/cli.js'), 'serve', '--routes', routes, '--port', String(port), '--host', '127.0.0.1'], {
    cpu: pin ? 0 : undefined,
    cwd: dir,
    stdio: ['ignore', out, 'pipe'],
    env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', ROUTES_FILE: '', PORT: '', HOST: '', NODE_ENV: 'production' },
  });
  closeSync(out);
  const origin = `http://127.0.0.1:${port}`;
  await waitHealthy(`${origin}/healthz`, child);
  return { child, origin, pid: child.pid, routes, startMs: performance.now() - started };
}

/** The load generator process, with a promise-returning call over IPC. */
export async function startLoadgen(group, { pin }) {
  const child = group.start('loadgen', [here('./loadgen.mjs')], { cpu: pin ? 1 : undefined, cwd: root });
  const pending = new Map();
  let nextId = 1;
  await new Promise((resolve, reject) => {
    child.once('message', (m) => (m.ready ? resolve() : reject(new Error('loadgen: unexpected first message'))));
    child.once('exit', (code) => reject(new Error(`loadgen exited (${code})\n${child.stderrText}`)));
  });
  child.on('message', (m) => {
    const waiter = pending.get(m.id);
    if (!waiter) return;
    pending.delete(m.id);
    if (m.error) waiter.reject(new Error(`loadgen: ${m.error}`));
    else waiter.resolve(m.result);
  });
  child.on('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`loadgen exited (${code})\n${child.stderrText}`));
    pending.clear();
  });
  return {
    child,
    call(message) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ ...message, id });
      });
    },
  };
}

/** True when the built gateway handles SIGHUP (a routes reload); sending it otherwise kills it. */
export function gatewayHandlesSighup() {
  const walk = (dir) =>
    readdirSync(dir).some((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return walk(path);
      return path.endsWith('.js') && readFileSync(path, 'utf8').includes("'SIGHUP'");
    });
  try {
    return walk(join(root, 'dist'));
  } catch {
    return false;
  }
}
