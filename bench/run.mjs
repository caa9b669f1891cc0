// `npm run bench`: the gateway (built, production defaults) against a bare hand-written forwarder
// (bench/bare-forwarder.mjs) and, on 1-tool webhooks, fast-gateway (bench/fast-gateway.mjs), side
// by side, interleaved, several rounds; then the memory check, the large-table check and the
// durable-ack check. Prints one table of results with the ratios and PASS/FAIL against the goals
// of issue 6, and writes it to bench/results.md.
//
//   npm run bench                 full run, about 9 minutes on a quiet 2-core machine
//   npm run bench -- --quick      smoke run, about 1 minute (1 round, short runs)
//   options: --rounds N --duration S --warmup S --settle S --only ID[,ID] --skip memory,large,durable
//            --no-pin --log-file FILE (gateway logs; default /dev/null) --out FILE --keep-tmp
//   BENCH_LOG_LEVEL=warn npm run bench …   the gateway with info logging off (to see what logging costs)
//
// Layout (2 cores): the gateway and the bare forwarder on CPU 0, the backend, the load
// generator and this script on CPU 1 (taskset), so the process under test has a core to itself
// and its CPU time per webhook is read alone from /proc/<pid>/stat. Loopback only; every
// process is stopped at the end, on errors and on Ctrl-C.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gatewayHandlesSighup, hasFastGateway, root, routesYaml, startBackend, startBare, startFastGateway, startGateway, startLoadgen, toolsWithDelay } from './gateways.mjs';
import { createProcessGroup, createWebhookFactory, hasTaskset, median, memoryKB } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    settle: { type: 'string' },
    only: { type: 'string' },
    skip: { type: 'string', default: '' },
    'no-pin': { type: 'boolean', default: false },
    'log-file': { type: 'string' },
    out: { type: 'string', default: join(root, 'bench/results.md') },
    'keep-tmp': { type: 'boolean', default: false },
  },
});
const quick = opts.quick;
const rounds = Math.max(1, Math.min(9, Number(opts.rounds ?? (quick ? 1 : 3))));
const duration = Math.max(0.5, Math.min(30, Number(opts.duration ?? (quick ? 1.5 : 5))));
const warmup = Math.max(0, Math.min(10, Number(opts.warmup ?? (quick ? 0.5 : 2))));
// Load each process takes before any scenario is measured: a gateway's hot path is larger than
// the bare forwarder's and keeps getting cheaper for about 10 s of load (JIT tiers, the young
// generation's size, caches filling), so a short warm-up measured it still settling.
const settle = Math.max(0, Math.min(60, Number(opts.settle ?? (quick ? 2 : 15))));
const skip = new Set(opts.skip.split(',').filter(Boolean));
const pin = !opts['no-pin'] && hasTaskset() && cpus().length >= 2;

/** The goals of issue 6, as ratios against the bare forwarder measured in the same run. */
/** How long the memory check lets both processes sit idle before reading their settled RSS. */
const IDLE_SETTLE_SECONDS = 40;

const GOALS = { throughputRatio: 0.85, p50DeltaMs: 0.3, p99Ratio: 1.3, peakRssMB: 250, idleRssMB: 90, largeTableCost: 0.05, startMs: 1000, reloadMs: 1000, durablePerSecond: 1500 };

const SCENARIOS = [
  { id: '1t-0ms-10c-1k', tools: 1, delay: 0, connections: 10, bodyBytes: 1024 },
  { id: '1t-0ms-100c-1k', tools: 1, delay: 0, connections: 100, bodyBytes: 1024 },
  { id: '3t-0ms-10c-1k', tools: 3, delay: 0, connections: 10, bodyBytes: 1024 },
  { id: '3t-0ms-100c-1k', tools: 3, delay: 0, connections: 100, bodyBytes: 1024 },
  { id: '1t-20ms-10c-1k', tools: 1, delay: 20, connections: 10, bodyBytes: 1024 },
  { id: '3t-20ms-100c-1k', tools: 3, delay: 20, connections: 100, bodyBytes: 1024 },
  { id: '1t-0ms-10c-64k', tools: 1, delay: 0, connections: 10, bodyBytes: 64 * 1024 },
  { id: '3t-0ms-100c-64k', tools: 3, delay: 0, connections: 100, bodyBytes: 64 * 1024 },
];
const only = opts.only ? new Set(opts.only.split(',')) : undefined;
const scenarios = SCENARIOS.filter((s) => !only || only.has(s.id));
const label = (s) => `${s.tools} tool${s.tools > 1 ? 's' : ''}, ${s.delay} ms backend, ${s.connections} conn, ${s.bodyBytes >= 1024 ? `${s.bodyBytes / 1024} KB` : `${s.bodyBytes} B`}`;

const log = (line) => process.stderr.write(`${line}\n`);
const fmt = (v, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
const mb = (kb) => kb / 1024;
const verdict = (ok) => (ok ? 'PASS' : 'FAIL');

const group = createProcessGroup({ pin });
const tmp = mkdtempSync(join(tmpdir(), 'hms-bench-'));
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  group.killAll();
  if (!opts['keep-tmp']) rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
/** Kills every child, waits (at most 2 s) until they are gone, then exits with `code`. */
function shutdown(code) {
  const exited = [...group.children].map((child) => new Promise((resolve) => child.once('exit', resolve)));
  cleanup();
  Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 2000))]).then(() => process.exit(code));
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    log(`\n${signal}: stopping every benchmark process`);
    shutdown(130);
  });
}

function machine() {
  const list = cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    if (dirty) commit += ' + uncommitted src/ changes';
  } catch {
    // not a git checkout
  }
  return { cpu: `${list[0]?.model ?? 'unknown CPU'} × ${list.length}`, node: process.version, commit, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC' };
}

async function main() {
  const started = performance.now();
  // This script only waits and samples; it shares CPU 1 with the load generator and the backend.
  if (pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  const env = machine();
  log(`hms-tool-router benchmark (${quick ? 'quick' : 'full'}): ${rounds} round(s) × ${duration} s per target and scenario, ${warmup} s warm-up`);
  log(`${env.cpu}, Node ${env.node}, commit ${env.commit}; ${pin ? 'pinned with taskset: gateway and bare forwarder on CPU 0; backend, load generator and this script on CPU 1' : 'NOT pinned (taskset unavailable or --no-pin): numbers include contention'}`);

  const secret = `bench-${randomBytes(24).toString('hex')}`;
  const backend = await startBackend(group, { pin });
  const loadgen = await startLoadgen(group, { pin });
  const gatewayYaml = (dir, extra = {}) => routesYaml({ secret, backend: backend.origin, storePath: join(dir, 'outbox.db'), ...extra });
  const results = { env, scenarios: [], memory: undefined, large: undefined, durable: undefined };

  // --- Memory: fresh processes, idle RSS, then 2,000 tool calls in flight to a 5 s backend. ---
  if (!skip.has('memory')) {
    log('\n[memory] 2,000 tool calls in flight (500 webhooks × 4 tools) to a 5 s backend, sent over 2 s');
    const webhook = { secret, tools: toolsWithDelay(5000, 4), bodyBytes: 1024 };
    const memory = {};
    // The bare forwarder's figures are a reference only; the quick run skips them.
    const which = quick ? ['gateway'] : ['gateway', 'bare'];
    const targets = {};
    for (const name of which) {
      const dir = join(tmp, `memory-${name}`);
      targets[name] = name === 'gateway' ? await startGateway(group, { pin, name: 'gateway (memory)', dir, yaml: gatewayYaml(dir), logFile: opts['log-file'] }) : await startBare(group, { pin, secret, backend: backend.origin });
    }
    // Idle RSS twice: 2 s after start, and settled. V8 gives back the heap that start-up grew only
    // once its memory reducer runs (about 20 s into an idle process); what an idle sidecar costs
    // from then on is the settled figure. Both processes idle side by side meanwhile.
    await new Promise((r) => setTimeout(r, 2000));
    const idle = Object.fromEntries(which.map((name) => [name, { idleKB: memoryKB(targets[name].pid).rssKB, settledKB: Infinity }]));
    const settleSeconds = quick ? 0 : IDLE_SETTLE_SECONDS;
    for (let s = 2; s < settleSeconds; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      // The lowest of the last 10 s: a figure that holds, not a momentary dip.
      if (s >= settleSeconds - 10) for (const name of which) idle[name].settledKB = Math.min(idle[name].settledKB, memoryKB(targets[name].pid).rssKB);
    }
    for (const name of which) {
      const target = targets[name];
      // Sent over 2 s: from then until the first answers (5 s) all 2,000 are in flight together.
      const burst = await loadgen.call({ cmd: 'burst', origin: target.origin, webhook, count: 500, rampMs: 2000, targetPid: target.pid, backendPid: backend.child.pid });
      memory[name] = { ...idle[name], ...burst };
      const settled = Number.isFinite(idle[name].settledKB) ? `, settled ${fmt(mb(idle[name].settledKB))} MB` : '';
      log(`  ${name}: idle ${fmt(mb(idle[name].idleKB))} MB 2 s after start${settled}; ${burst.answered}/${burst.toolCalls} answered in ${fmt(burst.elapsedMs / 1000, 1)} s (per webhook ${fmt(burst.latency.min / 1000, 1)}–${fmt(burst.latency.max / 1000, 1)} s), peak ${fmt(mb(burst.peakRssKB))} MB, CPU ${fmt(burst.cpuMs)} ms, others ${fmt(burst.foreignCores, 2)} cores${burst.firstProblem ? `; first problem: ${burst.firstProblem}` : ''}`);
      await group.stop(target.child);
    }
    results.memory = memory;
  }

  // --- Throughput and latency: gateway vs bare forwarder, interleaved. ---
  const mainDir = join(tmp, 'gateway');
  const gateway = await startGateway(group, { pin, dir: mainDir, yaml: gatewayYaml(mainDir), logFile: opts['log-file'] });
  const bare = await startBare(group, { pin, secret, backend: backend.origin });
  // fast-gateway only where it does comparable work: one upstream request per 1-tool webhook.
  const comparableToFast = (s) => s.tools === 1 && s.delay === 0 && s.bodyBytes === 1024;
  const fast = hasFastGateway() && scenarios.some(comparableToFast) ? await startFastGateway(group, { pin, backend: backend.origin, path: `/d0/${toolsWithDelay(0, 1)[0]}` }) : undefined;
  const targets = { gateway, bare, fast };
  const withFast = (s) => fast !== undefined && comparableToFast(s);
  log(`\ngateway started in ${fmt(gateway.startMs)} ms (spawn to /healthz 200); logs at info to ${opts['log-file'] ?? '/dev/null'}`);
  await wireCheck(secret, gateway, bare);

  const runOnce = (target, s, seconds, extra = {}) =>
    loadgen.call({
      cmd: 'run',
      origin: target.origin,
      webhook: { secret, tools: toolsWithDelay(s.delay, s.tools), bodyBytes: s.bodyBytes, ...extra.webhook },
      connections: s.connections,
      duration: seconds,
      targetPid: target.pid,
      backendPid: backend.child.pid,
    });

  if (settle > 0 && scenarios.length > 0) {
    log(`settling: ${settle} s of 1-tool load on each process before measuring`);
    for (const name of Object.keys(targets)) if (targets[name]) await runOnce(targets[name], { tools: 1, delay: 0, connections: 10, bodyBytes: 1024 }, settle);
  }
  for (const [index, s] of scenarios.entries()) {
    const tag = `[${index + 1}/${scenarios.length} ${s.id}]`;
    const names = withFast(s) ? ['gateway', 'bare', 'fast'] : ['gateway', 'bare'];
    if (warmup > 0) for (const name of names) await runOnce(targets[name], s, warmup);
    const runs = { gateway: [], bare: [], fast: [] };
    for (let r = 0; r < rounds; r++) {
      // Interleaved, each starting a round in turn, so no one is always first after a warm-up.
      for (const name of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) {
        const result = await runOnce(targets[name], s, duration);
        runs[name].push(result);
        log(`${tag} round ${r + 1} ${(name === 'fast' ? 'fast-gw' : name).padEnd(7)} ${fmt(result.rps).padStart(7)}/s  p50 ${fmt(result.latency.p50, 2)} ms  p99 ${fmt(result.latency.p99, 2)} ms  CPU ${fmt(result.cpuUsPerRequest)} µs/webhook (${fmt(result.targetBusy * 100)}% of a core)  peak RSS ${fmt(mb(result.peakRssKB))} MB  load side ${fmt(result.loadSideBusy * 100)}%  others ${fmt(result.foreignCores, 2)} cores${problems(result)}`);
      }
    }
    results.scenarios.push({ ...s, gateway: summarise(runs.gateway), bare: summarise(runs.bare), ...(runs.fast.length > 0 ? { fast: summarise(runs.fast) } : {}) });
  }

  // --- Large table: 10,000 tools across 1,000 assistants against the 10-tool table. ---
  if (!skip.has('large')) {
    log('\n[large table] 10,000 tools across 1,000 assistants vs the 10-tool table (1 tool, 0 ms backend, 10 conn, 1 KB)');
    const dir = join(tmp, 'large');
    const large = await startGateway(group, { pin, name: 'gateway (large table)', dir, yaml: gatewayYaml(dir, { assistants: 1000 }), logFile: opts['log-file'] });
    log(`  started in ${fmt(large.startMs)} ms (10-tool table: ${fmt(gateway.startMs)} ms)`);
    const s = { tools: 1, delay: 0, connections: 10, bodyBytes: 1024 };
    const assistants = Array.from({ length: 1000 }, (_, i) => `a${i}`);
    const runLarge = (seconds) => runOnce(large, s, seconds, { webhook: { assistants } });
    // A fresh process: it settles as long as the 10-tool gateway did before it is compared.
    if (settle > 0) await runLarge(settle);
    if (warmup > 0) {
      await runOnce(gateway, s, warmup);
      await runLarge(warmup);
    }
    const runs = { small: [], large: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? ['small', 'large'] : ['large', 'small']) {
        const result = name === 'small' ? await runOnce(gateway, s, duration) : await runLarge(duration);
        runs[name].push(result);
        log(`[large table] round ${r + 1} ${name.padEnd(5)} ${fmt(result.rps).padStart(7)}/s  p50 ${fmt(result.latency.p50, 2)} ms  CPU ${fmt(result.cpuUsPerRequest)} µs/webhook  peak RSS ${fmt(mb(result.peakRssKB))} MB${problems(result)}`);
      }
    }
    const reloadMs = await measureReload(secret, large, gatewayYaml(dir, { assistants: 1000, extraTool: 'probe_reload' }));
    results.large = { startMs: large.startMs, smallStartMs: gateway.startMs, reloadMs, small: summarise(runs.small), large: summarise(runs.large) };
    await group.stop(large.child);
  }
  await group.stop(gateway.child);
  await group.stop(bare.child);
  if (fast) await group.stop(fast.child);

  // --- Durable acknowledgements: bench/durable-ack.mjs (its gateway, senders and sink share a process). ---
  if (!skip.has('durable')) {
    const seconds = quick ? 3 : 10;
    log(`\n[durable-ack] bench/durable-ack.mjs --seconds ${seconds} --senders 50`);
    results.durable = await runDurable(seconds);
    log(`  ${results.durable.line ?? results.durable.error}`);
  }

  await group.stop(loadgen.child);
  await group.stop(backend.child);
  const table = render(results, (performance.now() - started) / 1000);
  process.stdout.write(`\n${table}\n`);
  writeFileSync(opts.out, `${table}\n`);
  log(`\nwritten to ${opts.out}`);
  if (opts['keep-tmp']) log(`temporary files kept in ${tmp}`);
}

function problems(result) {
  const bad = result.non2xx + result.degraded + result.errors + result.timeouts;
  return bad > 0 ? `  !! ${result.non2xx} non-2xx, ${result.degraded} degraded, ${result.errors} errors, ${result.timeouts} timeouts: ${result.firstProblem ?? ''}` : '';
}

function summarise(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    rounds: runs.map((r) => r.rps),
    p50: median(runs.map((r) => r.latency.p50)),
    p99: median(runs.map((r) => r.latency.p99)),
    cpuUs: median(runs.map((r) => r.cpuUsPerRequest)),
    peakRssKB: Math.max(...runs.map((r) => r.peakRssKB)),
    loadSideBusy: Math.max(...runs.map((r) => r.loadSideBusy)),
    foreignCores: runs.map((r) => r.foreignCores),
    targetBusy: median(runs.map((r) => r.targetBusy)),
    bad: runs.reduce((n, r) => n + r.non2xx + r.degraded + r.errors + r.timeouts, 0),
    bodyBytes: runs[0]?.bodyBytes,
  };
}

/** The same signed webhooks to both: the answers must be the same bytes (the wire behaviour). */
async function wireCheck(secret, gateway, bare) {
  for (const tools of [toolsWithDelay(0, 1), toolsWithDelay(0, 3)]) {
    const factory = createWebhookFactory({ secret, tools });
    const w = factory.next();
    const answers = [];
    for (const target of [gateway, bare]) {
      const res = await fetch(`${target.origin}${w.path}`, { method: 'POST', headers: w.headers, body: w.body });
      answers.push(`${res.status} ${await res.text()}`);
    }
    // The gateway got the request first; the bare forwarder has no replay cache, so it answers anew.
    if (answers[0] !== answers[1]) throw new Error(`wire check: the gateway and the bare forwarder answer differently\n  gateway: ${answers[0]}\n  bare:    ${answers[1]}`);
    if (!answers[0].startsWith('200 {"results":[')) throw new Error(`wire check: unexpected answer ${answers[0]}`);
  }
  log('wire check: gateway and bare forwarder answer the same bytes for 1- and 3-tool webhooks');
}

/**
 * Rewrites the routes file with one more tool, sends SIGHUP, and polls until the new tool
 * answers. Meanwhile one connection keeps sending ordinary webhooks: the slowest of their answers
 * shows whether the reload stalls calls in progress (parsing 10,000 routes on the event loop).
 */
async function measureReload(secret, large, yamlWithProbe) {
  if (!gatewayHandlesSighup()) {
    log('  reload: n/a (the built gateway has no SIGHUP reload)');
    return undefined;
  }
  const send = async (factory) => {
    const w = factory.next();
    const started = performance.now();
    const res = await fetch(`${large.origin}${w.path}`, { method: 'POST', headers: w.headers, body: w.body });
    const text = await res.text();
    return { ok: res.status === 200, text, ms: performance.now() - started };
  };
  const traffic = createWebhookFactory({ secret, tools: ['fast_a'], assistants: ['a1'] });
  const baseline = [];
  for (let i = 0; i < 20; i++) baseline.push((await send(traffic)).ms);
  let stop = false;
  let slowest = 0;
  const background = (async () => {
    while (!stop) slowest = Math.max(slowest, (await send(traffic)).ms);
  })();
  const probe = createWebhookFactory({ secret, tools: ['probe_reload'], assistants: ['a0'] });
  writeFileSync(large.routes, yamlWithProbe);
  const t0 = performance.now();
  process.kill(large.pid, 'SIGHUP');
  let reloadMs = Number.POSITIVE_INFINITY;
  while (performance.now() - t0 < 10_000) {
    const answer = await send(probe);
    if (answer.ok && answer.text.includes('"tool":"probe_reload"')) {
      reloadMs = performance.now() - t0;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  // One more second of traffic after the switch, then stop.
  await new Promise((r) => setTimeout(r, 1000));
  stop = true;
  await background;
  const stallMs = slowest;
  log(Number.isFinite(reloadMs) ? `  reload (SIGHUP to the new tool answering): ${fmt(reloadMs)} ms; slowest answer meanwhile ${fmt(stallMs)} ms (before: p50 ${fmt(median(baseline), 1)} ms)` : '  reload: the new tool did not answer within 10 s of SIGHUP');
  return { ms: reloadMs, stallMs, baselineMs: median(baseline) };
}

function runDurable(seconds) {
  return new Promise((resolve) => {
    const child = group.start('durable-ack', [join(root, 'bench/durable-ack.mjs'), '--seconds', String(seconds), '--senders', '50'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => {
      const row = out.trim().split('\n').filter((l) => /^\|\s*\d/.test(l)).pop();
      if (!row) return resolve({ error: `durable-ack failed (exit ${code}): ${child.stderrText.slice(-500)}` });
      const cells = row.split('|').map((c) => c.trim()).filter(Boolean);
      const [senders, secs, perSecond, p50, p99, acknowledged, stored, failed] = cells.map(Number);
      resolve({ line: row, senders, seconds: secs, perSecond, p50, p99, acknowledged, stored, failed, lost: code !== 0 });
    });
  });
}

function render(results, elapsedSeconds) {
  const { env } = results;
  const out = [];
  const partial = only || skip.size > 0 ? `, partial: ${[only ? `--only ${opts.only}` : '', skip.size ? `--skip ${opts.skip}` : ''].filter(Boolean).join(' ')}` : '';
  out.push(`### Benchmark: gateway vs bare forwarder (${quick ? 'quick run' : 'full run'}${partial})`);
  out.push('');
  out.push(`${env.date}; ${env.cpu}; Node ${env.node}; commit ${env.commit}. ${pin ? 'Pinned with taskset: gateway / bare forwarder on CPU 0, backend + load generator (autocannon) on CPU 1.' : 'Not pinned: everything shares the cores.'} ` +
    `Each process first took ${settle} s of load; then the median of ${rounds} interleaved round(s) of ${duration} s each after a ${warmup} s warm-up per scenario (in brackets after the ratio: the lowest and highest ratio of one round's pair); every request is a uniquely signed tool-calls webhook; gateway with production defaults (logging at info, metrics, breakers, ledger, replay cache, durable outbox). CPU is the process's utime+stime per answered webhook; RSS the peak during the runs. Total time ${fmt(elapsedSeconds)} s.`);
  out.push('');
  out.push('| Scenario | Bare /s | Gateway /s | Ratio | Bare p50 ms | GW p50 ms | Δp50 ms | Bare p99 ms | GW p99 ms | p99 ratio | Bare CPU µs | GW CPU µs | Bare RSS MB | GW RSS MB | Goals |');
  out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|');
  const checks = [];
  let saturated = false;
  for (const s of results.scenarios) {
    const g = s.gateway;
    const b = s.bare;
    const ratio = g.rps / b.rps;
    const dP50 = g.p50 - b.p50;
    const p99Ratio = g.p99 / b.p99;
    const goals = [`thr ${verdict(ratio >= GOALS.throughputRatio)}`];
    if (s.connections === 10) goals.push(`p50 ${verdict(dP50 <= GOALS.p50DeltaMs)}`);
    if (s.connections === 100) goals.push(`p99 ${verdict(p99Ratio <= GOALS.p99Ratio)}`);
    if (g.bad + b.bad > 0) goals.push(`${g.bad + b.bad} bad answers`);
    if (Math.max(g.loadSideBusy, b.loadSideBusy) > 0.9) {
      goals.push('load-bound†');
      saturated = true;
    }
    // The ratio of each round's pair (run back to back): how far one round can be from another.
    const pairs = g.rounds.map((rps, i) => rps / b.rounds[i]);
    const spread = pairs.length > 1 ? ` (${fmt(Math.min(...pairs), 2)}–${fmt(Math.max(...pairs), 2)})` : '';
    out.push(`| ${label(s)} | ${fmt(b.rps)} | ${fmt(g.rps)} | ${fmt(ratio, 2)}${spread} | ${fmt(b.p50, 2)} | ${fmt(g.p50, 2)} | ${dP50 >= 0 ? '+' : ''}${fmt(dP50, 2)} | ${fmt(b.p99, 2)} | ${fmt(g.p99, 2)} | ${fmt(p99Ratio, 2)} | ${fmt(b.cpuUs)} | ${fmt(g.cpuUs)} | ${fmt(mb(b.peakRssKB))} | ${fmt(mb(g.peakRssKB))} | ${goals.join(', ')} |`);
    checks.push({ goal: `Throughput ≥ ${GOALS.throughputRatio}× bare: ${label(s)}`, measured: `${fmt(ratio, 2)}×`, ok: ratio >= GOALS.throughputRatio });
    if (s.connections === 10) checks.push({ goal: `p50 within ${GOALS.p50DeltaMs} ms of bare: ${label(s)}`, measured: `${dP50 >= 0 ? '+' : ''}${fmt(dP50, 2)} ms`, ok: dP50 <= GOALS.p50DeltaMs });
    if (s.connections === 100) checks.push({ goal: `p99 ≤ ${GOALS.p99Ratio}× bare: ${label(s)}`, measured: `${fmt(p99Ratio, 2)}×`, ok: p99Ratio <= GOALS.p99Ratio });
  }
  const foreign = results.scenarios.flatMap((s) => [...s.gateway.foreignCores, ...s.bare.foreignCores]);
  const busy = results.scenarios.flatMap((s) => [s.gateway.targetBusy, s.bare.targetBusy]);
  if (foreign.length > 0) {
    out.push('');
    out.push(`Other processes on the machine used ${fmt(median(foreign), 2)} cores on average during the runs (max ${fmt(Math.max(...foreign), 2)})${median(foreign) > 0.1 ? ': the machine was not quiet, treat these numbers as noisy' : ''}. The process under test used ${fmt(Math.min(...busy) * 100)}–${fmt(Math.max(...busy) * 100)}% of its core.`);
  }
  if (saturated) {
    out.push('');
    out.push('† The load side (autocannon + backend on CPU 1) was over 90% busy in that scenario: the load generator, not the process under test, may have set the pace, which understates the difference between the two.');
  }

  if (results.memory) {
    const { gateway: g, bare: b } = results.memory;
    const ref = (text) => (b ? ` (bare: ${text(b)})` : '');
    checks.push({ goal: '2,000 tool calls in flight to a 5 s backend: all answered', measured: `${g.answered}/${g.toolCalls} in ${fmt(g.elapsedMs / 1000, 1)} s${ref((x) => `${x.answered}/${x.toolCalls}`)}`, ok: g.answered === g.toolCalls });
    checks.push({ goal: `…peak RSS < ${GOALS.peakRssMB} MB`, measured: `${fmt(mb(g.peakRssKB))} MB${ref((x) => `${fmt(mb(x.peakRssKB))} MB`)}`, ok: mb(g.peakRssKB) < GOALS.peakRssMB });
    if (Number.isFinite(g.settledKB)) {
      checks.push({ goal: `Idle RSS < ${GOALS.idleRssMB} MB (idle ${IDLE_SETTLE_SECONDS} s, settled; 2 s after start in brackets)`, measured: `${fmt(mb(g.settledKB))} MB [${fmt(mb(g.idleKB))} MB]${ref((x) => `${fmt(mb(x.settledKB))} MB [${fmt(mb(x.idleKB))} MB]`)}`, ok: mb(g.settledKB) < GOALS.idleRssMB });
    } else {
      checks.push({ goal: `Idle RSS < ${GOALS.idleRssMB} MB (2 s after start; the quick run does not wait for it to settle)`, measured: `${fmt(mb(g.idleKB))} MB${ref((x) => `${fmt(mb(x.idleKB))} MB`)}`, ok: mb(g.idleKB) < GOALS.idleRssMB });
    }
  }
  if (results.large) {
    const { small, large } = results.large;
    const cost = 1 - large.rps / small.rps;
    checks.push({ goal: `10,000 tools / 1,000 assistants cost < ${GOALS.largeTableCost * 100}% throughput vs 10 tools`, measured: `${fmt(cost * 100, 1)}% (${fmt(large.rps)}/s vs ${fmt(small.rps)}/s; CPU ${fmt(large.cpuUs)} vs ${fmt(small.cpuUs)} µs; RSS ${fmt(mb(large.peakRssKB))} vs ${fmt(mb(small.peakRssKB))} MB)`, ok: cost < GOALS.largeTableCost });
    checks.push({ goal: 'Start of the 10,000-tool table < 1 s (spawn to /healthz 200)', measured: `${fmt(results.large.startMs)} ms (10 tools: ${fmt(results.large.smallStartMs)} ms)`, ok: results.large.startMs < GOALS.startMs });
    const reload = results.large.reloadMs;
    checks.push({
      goal: 'Reload of the 10,000-tool table < 1 s (SIGHUP to new route answering)',
      measured: reload === undefined ? 'n/a (no SIGHUP reload in this build)' : Number.isFinite(reload.ms) ? `${fmt(reload.ms)} ms; slowest webhook answered meanwhile ${fmt(reload.stallMs)} ms (p50 before: ${fmt(reload.baselineMs, 1)} ms)` : 'did not reload within 10 s',
      ok: reload === undefined ? undefined : reload.ms < GOALS.reloadMs,
    });
  }
  if (results.durable) {
    const d = results.durable;
    checks.push({
      goal: `Durable acks ≥ ${fmt(GOALS.durablePerSecond)}/s at 50 senders (bench/durable-ack.mjs, not pinned)`,
      measured: d.error ?? `${fmt(d.perSecond)}/s, p50 ${d.p50} ms, p99 ${d.p99} ms, ${d.acknowledged} acknowledged, ${d.stored} stored${d.lost ? ', SOME LOST' : ''}`,
      ok: d.error ? false : d.perSecond >= GOALS.durablePerSecond && !d.lost,
    });
  }
  const versusFast = results.scenarios.filter((s) => s.fast);
  if (versusFast.length > 0) {
    out.push('');
    out.push('fast-gateway (bench/fast-gateway.mjs: proxies each webhook to the backend as is; no signature check, parsing or aggregation), same rounds, 1-tool webhooks:');
    out.push('');
    out.push('| Scenario | fast-gateway /s | Gateway /s | Gateway ÷ fast-gateway | fast-gateway ÷ bare | fast-gateway p99 ms | fast-gateway CPU µs |');
    out.push('|---|--:|--:|--:|--:|--:|--:|');
    for (const s of versusFast) {
      out.push(`| ${label(s)} | ${fmt(s.fast.rps)} | ${fmt(s.gateway.rps)} | ${fmt(s.gateway.rps / s.fast.rps, 2)} | ${fmt(s.fast.rps / s.bare.rps, 2)} | ${fmt(s.fast.p99, 2)} | ${fmt(s.fast.cpuUs)} |`);
      checks.push({ goal: `Throughput ahead of fast-gateway: ${label(s)}`, measured: `${fmt(s.gateway.rps / s.fast.rps, 2)}× (${fmt(s.gateway.rps)}/s vs ${fmt(s.fast.rps)}/s)`, ok: s.gateway.rps > s.fast.rps });
    }
  } else {
    checks.push({ goal: 'Throughput ahead of fast-gateway', measured: hasFastGateway() ? 'not measured (no 1-tool, 0 ms, 1 KB scenario in this run)' : 'not measured (fast-gateway is not installed: npm ci installs it)', ok: undefined });
  }

  out.push('');
  out.push('| Goal (issue 6) | Measured | Result |');
  out.push('|---|---|---|');
  for (const c of checks) out.push(`| ${c.goal} | ${c.measured} | ${c.ok === undefined ? 'n/a' : verdict(c.ok)} |`);
  const failed = checks.filter((c) => c.ok === false).length;
  out.push('');
  out.push(`${checks.filter((c) => c.ok === true).length} passed, ${failed} failed, ${checks.filter((c) => c.ok === undefined).length} not measured.`);
  return out.join('\n');
}

main().then(
  () => {
    cleanup();
  },
  (err) => {
    log(`\nbenchmark failed: ${err?.stack ?? err}`);
    shutdown(1);
  },
);
