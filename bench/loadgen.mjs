// The load generator, in its own process (pinned away from the process under test): runs
// autocannon with a unique signed webhook per request, and meanwhile measures the process under
// test from outside: CPU (utime+stime from /proc/<pid>/stat) and peak RSS (VmHWM after a reset,
// and VmRSS sampled every 100 ms). Driven by its parent over IPC:
//   {cmd: 'run', id, origin, webhook, connections, duration, targetPid, backendPid} -> {id, result}
//   {cmd: 'burst', id, origin, webhook, count, rampMs, targetPid, backendPid}      -> {id, result}

import autocannon from 'autocannon';
import { Pool } from 'undici';
import { cpuMs, createWebhookFactory, machineBusyMs, memoryKB, resetPeakRss } from './lib.mjs';

/** Samples VmRSS of `pid` until stopped; peak = max(samples, VmHWM when it could be reset). */
function watchMemory(pid, everyMs = 100) {
  const hwmReset = resetPeakRss(pid);
  let maxSampled = memoryKB(pid).rssKB;
  const timer = setInterval(() => {
    const { rssKB } = memoryKB(pid);
    if (rssKB > maxSampled) maxSampled = rssKB;
  }, everyMs);
  return () => {
    clearInterval(timer);
    const { rssKB, hwmKB } = memoryKB(pid);
    const peakKB = Math.max(maxSampled, rssKB, hwmReset ? hwmKB : 0);
    return { peakKB, hwmReset };
  };
}

function percentiles(latencies, count) {
  const sorted = latencies.subarray(0, count).sort();
  const at = (p) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.floor(count * p))]);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += sorted[i];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: count ? sorted[count - 1] : NaN, mean: count ? sum / count : NaN };
}

async function run(msg) {
  const factory = createWebhookFactory(msg.webhook);
  factory.selfTest();
  const url = new URL(msg.origin);
  let latencies = new Float64Array(1 << 16);
  let ok = 0;
  let non2xx = 0;
  let degraded = 0;
  let firstProblem;
  const onResponse = (status, body) => {
    if (status < 200 || status > 299) {
      firstProblem ??= `HTTP ${status} ${String(body).slice(0, 300)}`;
      return;
    }
    // A 200 that carries an error or fallback entry is not a forwarded answer.
    if (body.includes('"error"') || !body.includes('"status":"ok"')) {
      degraded++;
      firstProblem ??= `HTTP 200 but degraded: ${String(body).slice(0, 300)}`;
    }
  };
  const memory = watchMemory(msg.targetPid);
  const cpu0 = cpuMs(msg.targetPid);
  const backendCpu0 = msg.backendPid ? cpuMs(msg.backendPid) : undefined;
  const self0 = process.cpuUsage();
  const machine0 = machineBusyMs();
  const wall0 = performance.now();
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: url.origin,
        connections: msg.connections,
        duration: msg.duration,
        pipelining: 1,
        timeout: 20,
        requests: [
          {
            method: 'POST',
            setupRequest(req) {
              const w = factory.next();
              req.path = w.path;
              req.headers = w.headers;
              req.body = w.body;
              return req;
            },
            onResponse,
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode > 299) {
        non2xx++;
        return;
      }
      if (ok === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[ok++] = responseTime;
    });
  });
  const wallMs = performance.now() - wall0;
  // Requests cut off at the end may still be finishing in the process under test.
  await new Promise((r) => setTimeout(r, 150));
  const cpu1 = cpuMs(msg.targetPid);
  const backendCpu1 = msg.backendPid ? cpuMs(msg.backendPid) : undefined;
  const self = process.cpuUsage(self0);
  const machine1 = machineBusyMs();
  const settledWallMs = performance.now() - wall0;
  const { peakKB, hwmReset } = memory();
  const oursMs = cpu1 - cpu0 + (self.user + self.system) / 1000 + (backendCpu1 !== undefined ? backendCpu1 - backendCpu0 : 0);
  const seconds = result.duration;
  const good = ok - degraded;
  return {
    requests: ok + non2xx,
    ok: good,
    non2xx,
    degraded,
    errors: result.errors,
    timeouts: result.timeouts,
    firstProblem,
    seconds,
    rps: good / seconds,
    latency: percentiles(latencies, ok),
    cpuMs: cpu1 - cpu0,
    cpuUsPerRequest: ((cpu1 - cpu0) * 1000) / Math.max(1, good),
    targetBusy: (cpu1 - cpu0) / wallMs,
    // Everything on the load side: this process plus the backend.
    loadSideBusy: ((self.user + self.system) / 1000 + (backendCpu1 !== undefined ? backendCpu1 - backendCpu0 : 0)) / wallMs,
    // CPU that other processes on the machine used meanwhile, in cores: noise in the numbers.
    foreignCores: Math.max(0, (machine1 - machine0 - oursMs) / settledWallMs),
    peakRssKB: peakKB,
    hwmReset,
    bodyBytes: factory.size,
  };
}

/**
 * `count` webhooks, every answer must be a real result. They are sent evenly over `rampMs`
 * (shorter than the backend's delay, so at the end of the ramp all of them are in flight at
 * once) rather than in one instant, which would measure a storm of 2,500 TCP connects.
 */
async function burst(msg) {
  const factory = createWebhookFactory(msg.webhook);
  const pool = new Pool(msg.origin, { connections: msg.count, keepAliveTimeout: 30_000 });
  const rampMs = msg.rampMs ?? 0;
  const memory = watchMemory(msg.targetPid, 50);
  const cpu0 = cpuMs(msg.targetPid);
  const machine0 = machineBusyMs();
  const backend0 = msg.backendPid ? cpuMs(msg.backendPid) : 0;
  const self0 = process.cpuUsage();
  const started = performance.now();
  let answered = 0;
  let failed = 0;
  let firstProblem;
  const latencies = [];
  await Promise.all(
    Array.from({ length: msg.count }, async (_, i) => {
      if (rampMs > 0) await new Promise((r) => setTimeout(r, (i * rampMs) / msg.count));
      const w = factory.next();
      const sent = performance.now();
      try {
        const res = await pool.request({ path: w.path, method: 'POST', headers: w.headers, body: w.body, headersTimeout: 30_000, bodyTimeout: 30_000 });
        const text = await res.body.text();
        latencies.push(performance.now() - sent);
        const parsed = JSON.parse(text);
        const entries = res.statusCode === 200 && Array.isArray(parsed.results) ? parsed.results : [];
        const good = entries.filter((r) => r.result?.status === 'ok').length;
        answered += good;
        failed += msg.webhook.tools.length - good;
        if (good < msg.webhook.tools.length) firstProblem ??= `HTTP ${res.statusCode} after ${Math.round(performance.now() - sent)} ms: ${JSON.stringify(entries.find((r) => r.result?.status !== 'ok') ?? text.slice(0, 300))}`;
      } catch (err) {
        failed += msg.webhook.tools.length;
        firstProblem ??= String(err);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const { peakKB, hwmReset } = memory();
  const cpu1 = cpuMs(msg.targetPid);
  const self = process.cpuUsage(self0);
  const backendMs = msg.backendPid ? cpuMs(msg.backendPid) - backend0 : 0;
  const foreignCores = Math.max(0, (machineBusyMs() - machine0 - (cpu1 - cpu0) - backendMs - (self.user + self.system) / 1000) / elapsedMs);
  await pool.destroy();
  latencies.sort((a, b) => a - b);
  const latency = { min: latencies[0], p50: latencies[latencies.length >> 1], max: latencies[latencies.length - 1] };
  return { toolCalls: msg.count * msg.webhook.tools.length, answered, failed, firstProblem, elapsedMs, latency, peakRssKB: peakKB, hwmReset, cpuMs: cpu1 - cpu0, foreignCores };
}

process.on('message', async (msg) => {
  try {
    const result = msg.cmd === 'run' ? await run(msg) : msg.cmd === 'burst' ? await burst(msg) : undefined;
    process.send({ id: msg.id, result });
  } catch (err) {
    process.send({ id: msg.id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
