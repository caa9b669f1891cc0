// Every upstream attempt of one tool call, inside its budget: the breaker is asked first, each
// attempt is cut at min(timeout, time left) and told so in x-deadline-ms, retries happen only
// where repeating is safe and only if they can still finish, and a hedge races a slow attempt.

import type { Logger } from 'pino';
import { AbortSwitch, type AbortSignalLike } from './abort-switch.js';
import type { FailureReason, ForwardOptions, UpstreamRequest, UpstreamResponse, UpstreamResult } from './forward.js';
import type { CompiledTarget } from './target.js';
import { NO_ATTRIBUTES, UNRECORDED, type SpanAttributes, type TraceSpan } from './trace-context.js';
import type { ToolPolicy } from './tool-policy.js';
import type { UpstreamHealth } from './upstream-health.js';

export type AttemptsOutcome =
  | { ok: true; response: UpstreamResponse; attempts: number }
  | { ok: false; reason: FailureReason; detail: string; attempts: number; touchedNetwork: boolean };

export interface AttemptsInput {
  request: UpstreamRequest;
  target: CompiledTarget;
  policy: ToolPolicy;
  health: UpstreamHealth;
  /** No attempt may run past this instant. */
  cutoffAt: number;
  /** Aborts attempts and backoff waits (the webhook's deadline); absent for on_deadline: continue. */
  signal: AbortSignalLike | undefined;
  /** True when a reply counts as a breaker failure although it arrived (5xx, unreadable). */
  isFailure: (response: UpstreamResponse) => boolean;
  log: Record<string, unknown>;
  /** The webhook's span: each attempt is a child span, and its id is the upstream's parent id. */
  span?: TraceSpan | undefined;
  /** Attributes each attempt's span carries (tool, tool call id, upstream); left out when spans are not recorded. */
  spanAttributes?: SpanAttributes | undefined;
}

export interface AttemptsDeps {
  forward: (request: UpstreamRequest, options: ForwardOptions) => Promise<UpstreamResult>;
  now: () => number;
  logger: Logger;
  /** Receives every attempt's duration, by upstream label. */
  observeDuration?: (upstream: string, ms: number) => void;
  /** 0..1; replaced in tests to make jitter predictable. */
  random?: () => number;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2000;

export function createAttemptRunner(deps: AttemptsDeps) {
  const { forward, now, logger } = deps;
  const random = deps.random ?? Math.random;

  /** The attempt's child of the webhook's span: named and described only when spans are recorded. */
  function attemptSpan(input: AttemptsInput, number: number): TraceSpan | undefined {
    const parent = input.span;
    if (!parent?.recording) return parent?.child(UNRECORDED, NO_ATTRIBUTES);
    return parent.child(`${input.request.method} ${input.target.label}`, { ...input.spanAttributes, 'hms.attempt': number });
  }

  /** One attempt; `abort` is its own switch when a hedge may race it (the slower one is aborted). */
  function attempt(input: AttemptsInput, number: number, timeoutMs: number, abort?: AbortSwitch) {
    // Only what differs per attempt is added: the request itself is shared by all its attempts.
    const extraHeaders = ['x-deadline-ms', String(Math.floor(timeoutMs))];
    const span = attemptSpan(input, number);
    if (span) {
      extraHeaders.push('traceparent', span.traceparent);
      if (span.tracestate !== undefined) extraHeaders.push('tracestate', span.tracestate);
    }
    return forward(input.request, { timeoutMs, signal: input.signal, cancel: abort, extraHeaders }).then((result) => {
      span?.end(result.ok ? { status: result.status, ...(result.status >= 500 ? { error: `HTTP ${result.status}` } : {}) } : { error: abort?.aborted ? 'hedge lost' : result.reason });
      if (abort?.aborted) return result; // a hedging loser: neither logged nor counted
      deps.observeDuration?.(input.target.label, result.elapsedMs);
      const failed = !result.ok || input.isFailure(result);
      input.health.breaker.record({ failed, latencyMs: result.elapsedMs });
      // "Recent latency" is that of real answers: 2xx replies that could be used.
      if (!failed && result.ok && result.status < 300) input.health.latency.add(result.elapsedMs);
      const ms = result.elapsedMs;
      const timeout_ms = Math.floor(timeoutMs);
      // A first attempt that answered is the common case, and the webhook's own line sums it up
      // (its `tools` field); its line is for debugging only. Anything else is worth a line.
      const level = failed || number > 1 ? 'info' : 'debug';
      if (!result.ok) logger.warn({ ...input.log, attempt: number, ms, timeout_ms, reason: result.reason, detail: result.detail }, 'upstream attempt');
      else if (logger.isLevelEnabled(level)) logger[level]({ ...input.log, attempt: number, ms, timeout_ms, status: result.status, outcome: failed ? 'error' : 'ok' }, 'upstream attempt');
      return result;
    });
  }

  /** The first attempt, plus a hedge once it has run for `hedgeMs`; the first real answer wins. */
  async function attemptWithHedge(input: AttemptsInput, number: number, timeoutMs: number, hedgeMs: number): Promise<{ result: UpstreamResult; attempts: number }> {
    const first = new AbortSwitch();
    const firstResult = attempt(input, number, timeoutMs, first);

    let timer: NodeJS.Timeout | undefined;
    const hedgeDue = new Promise<'hedge'>((resolve) => {
      timer = setTimeout(() => resolve('hedge'), hedgeMs);
    });
    const early = await Promise.race([firstResult, hedgeDue]);
    clearTimeout(timer);
    if (early !== 'hedge') return { result: early, attempts: 1 };
    const left = Math.min(input.target.timeoutMs, input.cutoffAt - now());
    const hedgeIsProbe = input.health.breaker.state() === 'half-open';
    if (left <= 0 || !input.health.breaker.tryAcquire()) return { result: await firstResult, attempts: 1 };

    const second = new AbortSwitch();
    const secondResult = attempt(input, number + 1, left, second);
    const answered = (r: UpstreamResult) => r.ok;
    const winner = await firstAnswer([firstResult, secondResult], answered);
    // The slower one is aborted: its connection closes and its outcome is ignored.
    if (winner.index === 0) second.abort();
    else first.abort();
    // An aborted probe never reports: give its permit back so another call can probe.
    if (winner.index === 0 && hedgeIsProbe) input.health.breaker.release();
    return { result: winner.result, attempts: 2 };
  }

  return async function runAttempts(input: AttemptsInput): Promise<AttemptsOutcome> {
    const { policy, health, target } = input;
    let attempts = 0;
    // A round is one attempt plus its hedge: `retries` counts rounds, so hedging never uses one up.
    let rounds = 0;
    let last: UpstreamResult | undefined;
    for (;;) {
      if (!health.breaker.tryAcquire()) {
        if (last) return outcome(last, attempts);
        logger.warn({ ...input.log, attempt: 1, reason: 'unavailable', detail: 'circuit breaker open', ms: 0 }, 'upstream attempt');
        return { ok: false, reason: 'unavailable', detail: 'circuit breaker open', attempts: 0, touchedNetwork: false };
      }
      const timeoutMs = Math.min(target.timeoutMs, input.cutoffAt - now());
      if (timeoutMs <= 0 || input.signal?.aborted) {
        health.breaker.release();
        return last ? outcome(last, attempts) : { ok: false, reason: 'timeout', detail: 'no time left before the deadline', attempts, touchedNetwork: false };
      }
      // Without a hedge, the attempt is awaited here: one async layer less on every tool call.
      const { hedgeMs } = policy;
      let result: UpstreamResult;
      if (hedgeMs !== undefined && policy.repeatable && hedgeMs < timeoutMs) {
        const hedged = await attemptWithHedge(input, attempts + 1, timeoutMs, hedgeMs);
        result = hedged.result;
        attempts += hedged.attempts;
      } else {
        result = await attempt(input, attempts + 1, timeoutMs);
        attempts += 1;
      }
      rounds++;
      last = result;

      const retryable = result.ok ? RETRY_STATUSES.has(result.status) : result.reason === 'unavailable';
      if (!retryable || !policy.repeatable || rounds > policy.retries) return outcome(result, attempts);
      // Retry-After when the backend sent a readable one, else exponential backoff.
      const waitMs = (result.ok && result.retryAfter !== undefined ? retryAfterMs(result.retryAfter, now()) : undefined) ?? backoffMs(rounds, random);
      // Only if the retry can still finish: time left after the wait beats recent p90 latency.
      const expectedMs = health.latency.p90() ?? target.timeoutMs;
      if (now() + waitMs + expectedMs > input.cutoffAt) {
        logger.info({ ...input.log, attempt: attempts, wait_ms: waitMs, expected_ms: expectedMs }, 'retry skipped: it would not finish before the deadline');
        return outcome(result, attempts);
      }
      if (!(await sleep(waitMs, input.signal))) return outcome(result, attempts);
    }
  };
}

function outcome(result: UpstreamResult, attempts: number): AttemptsOutcome {
  return result.ok ? { ok: true, response: result, attempts } : { ok: false, reason: result.reason, detail: result.detail, attempts, touchedNetwork: true };
}

/** Exponential backoff with equal jitter: 50–100 ms, 100–200 ms, 200–400 ms… capped at 2 s. */
export function backoffMs(attempt: number, random: () => number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Retry-After as seconds or an HTTP date; undefined when unreadable. */
export function retryAfterMs(value: string, nowMs: number): number | undefined {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Only text shaped like an HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT") is read as one.
  if (!/^[A-Za-z]{3},/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** Waits, unless the signal aborts first; resolves false when aborted. */
function sleep(ms: number, signal: AbortSignalLike | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The first result that `isAnswer` accepts; if none does, the last one to settle. */
function firstAnswer<T>(promises: Promise<T>[], isAnswer: (value: T) => boolean): Promise<{ result: T; index: number }> {
  return new Promise((resolve) => {
    let settled = 0;
    promises.forEach((promise, index) => {
      void promise.then((result) => {
        settled++;
        if (isAnswer(result) || settled === promises.length) resolve({ result, index });
      });
    });
  });
}
