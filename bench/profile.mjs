// `npm run bench:profile`: the built gateway under `node --cpu-prof`, driven like the benchmark's
// main scenario (1 tool per webhook, backend answering at once, 10 connections, 1 KB bodies),
// then the top self-time functions of the profile, the same per package/module, and the
// inclusive time of the gateway's own functions. The .cpuprofile is kept (open it in Chrome
// DevTools > Performance, or speedscope.app, for a flame graph).
//
//   npm run bench:profile [-- --seconds 10 --tools 1 --connections 10 --body 1024 --delay 0 --top 25 --no-pin]
//     --assistants 1000   the large table (10 tools per assistant; requests spread over all of them)
//     --warmup S          seconds of load before the profiled window (default 2; 30 fills the
//                         in-memory stores, as a busy gateway's are)
//     --bare              profile the bare forwarder instead (the reference to compare with)
//     --whole             report the whole process life (start-up included), not just the load window
//     --out FILE          where to keep the .cpuprofile (default: the OS temp directory)
//   node bench/profile.mjs --analyse FILE.cpuprofile     (only the report, for an existing profile)

import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { root, routesYaml, startBackend, startBare, startGateway, startLoadgen, toolsWithDelay } from './gateways.mjs';
import { createProcessGroup, hasTaskset } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    tools: { type: 'string', default: '1' },
    connections: { type: 'string', default: '10' },
    body: { type: 'string', default: '1024' },
    delay: { type: 'string', default: '0' },
    top: { type: 'string', default: '25' },
    assistants: { type: 'string', default: '1' },
    whole: { type: 'boolean', default: false },
    bare: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    analyse: { type: 'string' },
    out: { type: 'string' },
  },
});
const log = (line) => process.stderr.write(`${line}\n`);

if (opts.analyse) {
  process.stdout.write(analyse(JSON.parse(readFileSync(opts.analyse, 'utf8')), Number(opts.top)));
} else {
  await profile();
}

async function profile() {
  const pin = !opts['no-pin'] && hasTaskset() && cpus().length >= 2;
  const group = createProcessGroup({ pin });
  const tmp = mkdtempSync(join(tmpdir(), 'hms-profile-'));
  const profDir = join(tmp, 'prof');
  const cleanup = () => group.killAll();
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => (cleanup(), process.exit(130)));
  try {
    const secret = `bench-${randomBytes(24).toString('hex')}`;
    const backend = await startBackend(group, { pin });
    const loadgen = await startLoadgen(group, { pin });
    const dir = join(tmp, 'gateway');
    const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
    const gateway = opts.bare
      ? await startBare(group, { pin, secret, backend: backend.origin, nodeArgs })
      : await startGateway(group, { pin, name: 'gateway (profiled)', dir, yaml: routesYaml({ secret, backend: backend.origin, storePath: join(dir, 'outbox.db'), assistants: Number(opts.assistants) }), nodeArgs });
    const assistants = Number(opts.assistants) > 1 ? Array.from({ length: Number(opts.assistants) }, (_, i) => `a${i}`) : undefined;
    const webhook = { secret, tools: toolsWithDelay(Number(opts.delay), Number(opts.tools)), bodyBytes: Number(opts.body), assistants };
    if (!opts.bare) log(`gateway started in ${Math.round(gateway.startMs)} ms (spawn to /healthz 200)`);
    const load = (duration) => loadgen.call({ cmd: 'run', origin: gateway.origin, webhook, connections: Number(opts.connections), duration, targetPid: gateway.pid, backendPid: backend.child.pid });
    log(`profiling the ${opts.bare ? 'bare forwarder' : 'gateway'} (${pin ? 'pinned to CPU 0' : 'not pinned'}): ${webhook.tools.length} tool(s), ${opts.delay} ms backend, ${opts.connections} connections, ${opts.body} B bodies, ${opts.seconds} s after a ${opts.warmup} s warm-up`);
    if (Number(opts.warmup) > 0) await load(Number(opts.warmup));
    // V8 profile timestamps are CLOCK_MONOTONIC microseconds, like process.hrtime: only the
    // samples inside the measured window are counted.
    const windowStart = Number(process.hrtime.bigint() / 1000n);
    const result = await load(Number(opts.seconds));
    const windowEnd = Number(process.hrtime.bigint() / 1000n);
    log(`load: ${Math.round(result.rps)} webhooks/s, p50 ${result.latency.p50.toFixed(2)} ms, p99 ${result.latency.p99.toFixed(2)} ms, ${Math.round(result.cpuUsPerRequest)} µs CPU/webhook (profiler overhead included)`);
    await group.stop(gateway.child, { graceMs: 10_000 });
    await group.stop(loadgen.child);
    await group.stop(backend.child);
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile was written (did the gateway exit cleanly on SIGTERM?)');
    const kept = opts.out ?? join(tmpdir(), `hms-gateway-${Date.now()}.cpuprofile`);
    cpSync(join(profDir, file), kept);
    process.stdout.write(analyse(JSON.parse(readFileSync(kept, 'utf8')), Number(opts.top), opts.whole ? {} : { windowStart, windowEnd, requests: result.ok }));
    log(`\nprofile kept at ${kept} (Chrome DevTools > Performance > Load profile, or speedscope.app)`);
  } finally {
    cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Where a frame's code lives: the gateway's own module, a package, a Node module, or V8/native. */
function area(frame) {
  const url = frame.url ?? '';
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : `(native) ${frame.functionName || 'anonymous'}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return url;
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `gateway dist/${dist[1]}`;
  return url.replace(/^file:\/\//, '');
}

function where(frame) {
  const url = (frame.url ?? '').replace(/^file:\/\//, '');
  const short = url.includes('node_modules/') ? url.slice(url.lastIndexOf('node_modules/') + 13) : url.startsWith('/') ? relative(root, url) : url;
  return short === '' ? '' : `${short}:${frame.lineNumber + 1}`;
}

export function analyse(profile, top, { windowStart, windowEnd, requests } = {}) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => `${n.callFrame.functionName || '(anonymous)'}\t${where(n.callFrame)}`;

  // Sample i lasts until sample i+1.
  const { samples, timeDeltas } = profile;
  const times = new Array(samples.length);
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    times[i] = t;
  }
  const inWindow = windowStart !== undefined && times.some((x) => x >= windowStart && x <= windowEnd);
  const self = new Map();
  const byArea = new Map();
  const inclusive = new Map();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < samples.length - 1; i++) {
    if (inWindow && (times[i] < windowStart || times[i] > windowEnd)) continue;
    const dt = times[i + 1] - times[i];
    const node = nodes.get(samples[i]);
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    total += dt;
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const a = area(node.callFrame);
    byArea.set(a, (byArea.get(a) ?? 0) + dt);
    // Inclusive: every distinct gateway function on the stack.
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const n = nodes.get(id);
      if (!/\/dist\//.test(n.callFrame.url ?? '')) continue;
      const kk = key(n);
      if (seen.has(kk)) continue;
      seen.add(kk);
      inclusive.set(kk, (inclusive.get(kk) ?? 0) + dt);
    }
  }
  const ms = (us) => (us / 1000).toFixed(1).padStart(8);
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const perReq = (us) => (requests ? `${(us / requests).toFixed(2).padStart(7)} µs/req` : '');
  const lines = [];
  lines.push(`\nCPU profile: ${(total / 1000).toFixed(0)} ms on CPU, ${(idle / 1000).toFixed(0)} ms idle${inWindow ? ' (measured window only)' : ' (whole process life)'}${requests ? `, ${requests} webhooks` : ''}`);
  lines.push(`\nTop ${top} functions by self time:`);
  lines.push(`${'self ms'.padStart(8)} ${'share'.padStart(6)} ${requests ? 'per webhook'.padStart(14) : ''}  function  location`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const [fn, loc] = k.split('\t');
    lines.push(`${ms(us)} ${pct(us)} ${perReq(us)}  ${fn}  ${loc}`);
  }
  lines.push('\nSelf time by package / module:');
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1]).slice(0, 20)) lines.push(`${ms(us)} ${pct(us)} ${perReq(us)}  ${a}`);
  lines.push('\nGateway functions by inclusive time (self + everything they call):');
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const [fn, loc] = k.split('\t');
    lines.push(`${ms(us)} ${pct(us)} ${perReq(us)}  ${fn}  ${loc}`);
  }
  return `${lines.join('\n')}\n`;
}
