// Shared by the benchmark scripts: signed tool-calls webhooks (unique per request, signed
// cheaply), /proc readers for CPU and memory of another process, and child-process bookkeeping
// so every process the benchmark starts is stopped, also on errors and Ctrl-C.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Signed webhooks

/**
 * Makes signed `tool-calls` webhooks, each with a unique call id and tool_call_ids (the gateway
 * answers byte-identical signed copies from its replay cache, so every request must differ).
 *
 * The body is `prefix + suffix`: the prefix (event type, phone number, a transcript padding the
 * body to `bodyBytes`) is the same for every request; the suffix holds the unique ids and the
 * tool calls. HMAC-SHA256(secret, `${ts}.${body}`) is computed the RFC 2104 way with the inner
 * hash state over `ipad ‖ ts. ‖ prefix` computed once per second and copied per request, so a
 * 64 KB webhook costs the load generator the hashing of ~200 bytes, not 64 KB.
 */
export function createWebhookFactory({ secret, tools, bodyBytes = 1024, assistants = ['bench'], args = { query: 'John Smith', limit: 5 } }) {
  let key = Buffer.from(secret, 'utf8');
  if (key.length > 64) key = createHash('sha256').update(key).digest();
  const block = Buffer.alloc(64);
  key.copy(block);
  const ipad = Buffer.from(block.map((b) => b ^ 0x36));
  const opad = Buffer.from(block.map((b) => b ^ 0x5c));

  const runId = randomBytes(4).toString('hex');
  const argsJson = JSON.stringify(args);
  const head = '{"message":{"type":"tool-calls","timestamp":1760000000000,"phone_number":{"number":"+31850835037"},"customer":{"number":"+31612345678"},"artifact":{"messages":[';
  // One transcript line; repeated until the body reaches the requested size.
  const line = (i) => JSON.stringify({ role: i % 2 ? 'assistant' : 'user', message: i % 2 ? 'Let me look that up for you, one moment please.' : 'Hi, I would like to know the status of my order, please.', time: 1760000000000 + i * 1500, seconds_from_start: i * 1.5 });
  const sampleSuffix = suffixFor('00000000', 'c0000000000', tools);
  let lines = [];
  for (let i = 0; ; i++) {
    const candidate = [...lines, line(i)];
    if (i > 0 && head.length + candidate.join(',').length + 3 + sampleSuffix.length > bodyBytes) break;
    lines = candidate;
    if (i > 100_000) break;
  }
  let prefix = `${head}${lines.join(',')}]},`;
  // Top up with a note so the size is close to the target.
  const missing = bodyBytes - (prefix.length + sampleSuffix.length) - '"note":"",'.length;
  if (missing > 0) prefix += `"note":"${'n'.repeat(missing)}",`;
  const prefixBuf = Buffer.from(prefix, 'utf8');

  let stateTs = '';
  let innerState;
  let n = 0;

  function suffixFor(run, counter, names) {
    const calls = names.map((name, i) => `{"id":"call_${run}${counter}_${i}","type":"function","function":{"name":"${name}","arguments":${argsJson}}}`);
    return `"call":{"id":"${run}-4b1c-8e2f-a9d0-${counter}","status":"in-progress"},"tool_call_list":[${calls.join(',')}]}}`;
  }

  function sign(ts, suffix) {
    if (ts !== stateTs) {
      innerState = createHash('sha256').update(ipad).update(`${ts}.`).update(prefixBuf);
      stateTs = ts;
    }
    const inner = innerState.copy().update(suffix).digest();
    return createHash('sha256').update(opad).update(inner).digest('hex');
  }

  return {
    /** Bytes of one body (all are the same size give or take the counter digits). */
    size: prefixBuf.length + sampleSuffix.length,
    /** A fresh signed webhook: { path, body (string), headers, toolCallIds }. */
    next(nowMs = Date.now()) {
      const counter = `c${(n++).toString(16).padStart(10, '0')}`;
      const suffix = suffixFor(runId, counter, tools);
      const ts = String(Math.floor(nowMs / 1000));
      const assistant = assistants.length === 1 ? assistants[0] : assistants[n % assistants.length];
      return {
        path: `/webhook/${assistant}`,
        body: prefix + suffix,
        headers: {
          'content-type': 'application/json',
          'x-webhook-event': 'tool-calls',
          'x-webhook-timestamp': ts,
          'x-webhook-signature': `sha256=${sign(ts, suffix)}`,
        },
      };
    },
    /** Checks the shortcut against a plain createHmac once. */
    selfTest() {
      const w = this.next();
      const expected = createHmac('sha256', secret).update(`${w.headers['x-webhook-timestamp']}.${w.body}`).digest('hex');
      if (`sha256=${expected}` !== w.headers['x-webhook-signature']) throw new Error('webhook factory: signature self-test failed');
      JSON.parse(w.body);
      return w;
    },
  };
}

/** What the benchmark backend answers for a path: the last path segment names the tool. */
export function backendReply(path) {
  const tool = path.split('?')[0].split('/').pop();
  return { result: { status: 'ok', tool, detail: 'Order A-1001 shipped on 2026-11-28; expected delivery 2026-12-01.' } };
}

// ---------------------------------------------------------------------------------------------
// /proc readers (Linux)

let ticksPerSecond;
export function clockTicks() {
  if (ticksPerSecond === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    ticksPerSecond = Number(out.stdout?.trim()) || 100;
  }
  return ticksPerSecond;
}

/** utime + stime of a process, in milliseconds; undefined if it is gone. */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat; `rest` starts at field 3.
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Milliseconds of CPU the whole machine spent busy (all cores, from /proc/stat; steal counted as busy). */
export function machineBusyMs() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').slice(0, 200).split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = fields[3] + fields[4];
    const total = fields.reduce((a, b) => a + b, 0);
    return ((total - idle) * 1000) / clockTicks();
  } catch {
    return NaN;
  }
}

/** { rssKB, hwmKB } from /proc/<pid>/status. */
export function memoryKB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKB: field('VmRSS'), hwmKB: field('VmHWM') };
  } catch {
    return { rssKB: NaN, hwmKB: NaN };
  }
}

/** Resets VmHWM to the current RSS (Linux 4.0+); false when not allowed. */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

export function hasTaskset() {
  const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  return probe.status === 0;
}

/** A free TCP port on 127.0.0.1 (closed again at once; the caller binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts and remembers child processes; `stopAll` kills every one still running. Children are
 * pinned with taskset when `cpu` is given and taskset works (taskset execs node, so the pid
 * stays that of the node process).
 */
export function createProcessGroup({ pin }) {
  const children = new Set();
  function start(name, args, { cpu, env, stdio = ['ignore', 'pipe', 'pipe', 'ipc'], cwd } = {}) {
    const [command, argv] = pin && cpu !== undefined ? ['taskset', ['-c', String(cpu), process.execPath, ...args]] : [process.execPath, args];
    const child = spawn(command, argv, { stdio, env: { ...process.env, ...env }, cwd });
    child.benchName = name;
    child.stderrText = '';
    child.stderr?.on('data', (chunk) => {
      child.stderrText = (child.stderrText + chunk.toString()).slice(-8000);
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  }
  async function stop(child, { graceMs = 3000 } = {}) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  function killAll() {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  return { start, stop, killAll, children };
}

/** Resolves with the first stdout line that parses as JSON (a child announcing its port). */
export function firstJsonLine(child, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(new Error(`${child.benchName}: no start-up line within ${timeoutMs} ms\n${child.stderrText}`)), timeoutMs);
    const onData = (chunk) => {
      buffered += chunk.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const value = JSON.parse(line);
          cleanup();
          resolve(value);
          return;
        } catch {
          // not the line we wait for
        }
      }
    };
    const onExit = (code, signal) => fail(new Error(`${child.benchName} exited (${code ?? signal}) before it was ready\n${child.stderrText}`));
    function cleanup() {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
    }
    function fail(err) {
      cleanup();
      reject(err);
    }
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Polls GET url until it answers 200; resolves with the milliseconds it took. */
export async function waitHealthy(url, child, timeoutMs = 15_000) {
  const started = performance.now();
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${child.benchName} exited (${child.exitCode ?? child.signalCode}) before it was ready\n${child.stderrText}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - started;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > timeoutMs) throw new Error(`${url} not healthy within ${timeoutMs} ms\n${child?.stderrText ?? ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
