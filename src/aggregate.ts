// Fans the tool calls of one tool-calls webhook out concurrently and folds the replies into the
// platform's {"results": [...]}: exactly one entry per incoming id, in order, before the deadline,
// whatever the backends do. Per call: argument checks, the side-effect ledger, the per-call
// limit, async hand-off, then the attempts; a fallback sentence for anything without a result.

import type { Logger } from 'pino';
import { AbortSwitch, type AbortSignalLike } from './abort-switch.js';
import { createAttemptRunner } from './attempts.js';
import type { Config, FallbackReason } from './config/schema.js';
import type { Envelope, ToolCall } from './envelope.js';
import type { EventDelivery } from './events/delivery.js';
import { createFallbackPicker, spokenName } from './fallbacks.js';
import type { ForwardOptions, UpstreamRequest, UpstreamResult } from './forward.js';
import { createLedger, ledgerKey, type LedgerOutcome } from './ledger.js';
import { buildToolRequest, type CallContext } from './outbound.js';
import type { LeveledRoute, RouteTable, Scope } from './routing.js';
import { inBackground, isPromise, type MaybePromise, type SharedState } from './state/memory-store.js';
import { normaliseToolReply } from './tool-reply.js';
import type { GatewayMetrics, ToolCallOutcome } from './metrics.js';
import { limitValue } from './truncate.js';
import type { HealthRegistry } from './upstream-health.js';

export type ToolResultEntry = { tool_call_id: string | number; result: unknown } | { tool_call_id: string | number; error: string };

export interface ToolCallDeps {
  config: Config;
  table: RouteTable;
  forward: (request: UpstreamRequest, options: ForwardOptions) => Promise<UpstreamResult>;
  health: HealthRegistry;
  delivery: EventDelivery;
  /** Ledger and per-call counters: in memory, or in Redis to share them between replicas. */
  shared: SharedState;
  now: () => number;
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
  random?: () => number;
}

/** One call's entry, and what happened, for the metrics and the webhook's log line. */
interface Answered {
  entry: ToolResultEntry;
  outcome: ToolCallOutcome;
  /** The route the call matched; absent when it matched none. */
  route?: LeveledRoute;
  /** Set when the entry is a fallback sentence. */
  fallback?: FallbackReason;
  /** An upper bound on the result's JSON size, when known (see limitValue). */
  maxJsonBytes?: number;
  /** Upstream attempts made (with hedges); absent when none was made. */
  attempts?: number;
  /** The status of the reply used, and how long that attempt took. */
  status?: number;
  upstreamMs?: number;
}

/**
 * One tool call as the webhook's `webhook answered` line shows it (its `tools` field): together
 * with the lines of failed or repeated attempts, enough to follow the call without debug logs.
 */
export interface ToolCallSummary {
  tool: string | undefined;
  tool_call_id: string | number;
  upstream: string | undefined;
  matched: string | undefined;
  outcome: ToolCallOutcome;
  attempts: number | undefined;
  status: number | undefined;
  ms: number | undefined;
}

/** What a tool-calls webhook answers (`body`), and the summary its log line carries. */
export interface ToolCallsAnswer {
  body: { results: ToolResultEntry[] };
  tools: ToolCallSummary[];
}

/** A tool that is not in routes.yaml is counted as `unknown`: the platform cannot grow label sets. */
function toolLabel(name: string, route: { level: string } | undefined): string {
  return route === undefined || route.level === 'fallback' ? 'unknown' : name;
}

export function createToolCallRunner(deps: ToolCallDeps) {
  const { config, table, now, logger, health, delivery } = deps;
  const { metrics } = deps;
  const runAttempts = createAttemptRunner({ ...deps, ...(metrics ? { observeDuration: metrics.upstreamDuration } : {}) });
  const pickFallback = createFallbackPicker({ ttlMs: config.idempotency.ttl });
  const onSharedError = (err: Error) => logger.warn({ reason: err.message }, 'shared store unavailable: answering from this replica alone');
  const ledger = createLedger(deps.shared.keyValue<{ result: unknown }>('ledger'), config.idempotency.ttl, onSharedError);
  const forwardedPerCall = deps.shared.counters('forwarded');

  /**
   * Reserves one forwarded call of the allowance; false once the call has used it up. Decided at
   * once with the in-memory counters; a store that cannot count lets the call through.
   */
  function allowForward(callId: string | undefined): MaybePromise<boolean> {
    if (callId === undefined) return true;
    const decide = (used: number) => {
      if (used <= config.limits.tool_calls_per_call) return true;
      refundForward(callId);
      return false;
    };
    const uncounted = (err: unknown) => {
      onSharedError(err as Error);
      return true;
    };
    try {
      const used = forwardedPerCall.add(callId, 1, config.idempotency.ttl);
      return isPromise(used) ? used.then(decide, uncounted) : decide(used);
    } catch (err) {
      return uncounted(err);
    }
  }

  /** Gives a reservation back: the call never reached a backend (breaker open, no time left). */
  function refundForward(callId: string | undefined): void {
    if (callId !== undefined) inBackground(() => forwardedPerCall.add(callId, -1, config.idempotency.ttl), onSharedError);
  }

  function fallback(id: string | number, route: LeveledRoute, reason: FallbackReason, tool: string, ctx: CallContext, builtIn?: string): Answered {
    return { entry: { tool_call_id: id, ...pickFallback(route.policy.fallbacks, reason, tool, ctx.callId, builtIn) }, outcome: reason, fallback: reason, route };
  }

  /**
   * Everything after the checks: the attempts and what their reply means. `succeeded` is true
   * only for a real result (or an accepted async hand-off): that is what the ledger remembers.
   */
  async function callBackend(call: ToolCall & { name: string }, args: Record<string, unknown>, route: LeveledRoute, envelope: Envelope, ctx: CallContext, cutoffAt: number, signal: AbortSignalLike, key: string | undefined): Promise<Answered & { succeeded: boolean }> {
    const failed = (answered: Answered) => ({ ...answered, succeeded: false });
    const { target, policy } = route;
    const id = call.id;
    const built = buildToolRequest(target, call, args, envelope, ctx, now());
    if (!built.ok) {
      return failed({
        entry:
          'missing' in built
            ? { tool_call_id: id, error: `The tool ${call.name} needs the argument "${built.missing}".` }
            : { tool_call_id: id, error: `The argument "${built.invalid}" of ${call.name} is not a valid value.` },
        outcome: 'invalid_arguments',
        route,
      });
    }
    if (policy.sideEffects && key !== undefined) built.request.headers['idempotency-key'] = key;
    const log = { call_id: ctx.logId, tool: call.name, tool_call_id: id, upstream: target.label, matched: route.level };
    let allowed = allowForward(ctx.callId);
    if (isPromise(allowed)) allowed = await allowed;
    if (!allowed) {
      logger.warn({ ...log, reason: 'rate_limited', limit: config.limits.tool_calls_per_call }, 'tool call refused: limits.tool_calls_per_call reached for this call');
      return failed(fallback(id, route, 'rate_limited', call.name, ctx));
    }
    if (policy.async) {
      try {
        await delivery.submitRequest({ ctx, target, request: built.request });
      } catch (err) {
        refundForward(ctx.callId);
        logger.error({ ...log, reason: (err as Error).message }, 'async tool call not accepted: the outbox store is unavailable');
        return failed({ entry: { tool_call_id: id, error: `The ${spokenName(call.name)} request could not be taken right now.` }, outcome: 'error', route });
      }
      return { entry: { tool_call_id: id, result: policy.asyncResponse }, outcome: 'ok', route, succeeded: true };
    }

    const upstreamHealth = health.healthOf(target.label);
    // A reply is judged once (the breaker asks, then the result is read): the last one is kept.
    let judgedResponse: object | undefined;
    let judged: ReturnType<typeof normaliseToolReply> | undefined;
    const judge = (response: { status: number; contentType: string; body: Buffer }) => {
      if (judgedResponse !== response || judged === undefined) {
        judged = normaliseToolReply(response.status, response.contentType, response.body, id);
        judgedResponse = response;
      }
      return judged;
    };
    const outcome = await runAttempts({
      request: built.request,
      target,
      policy,
      health: upstreamHealth,
      // on_deadline: continue lets the request run past the deadline, bounded by its own timeout.
      cutoffAt: policy.continueAfterDeadline ? Number.POSITIVE_INFINITY : cutoffAt,
      signal: policy.continueAfterDeadline ? undefined : signal,
      // 5xx and unreadable replies are breaker failures; a 4xx or a well-formed {error} is not.
      isFailure: (response) => response.status >= 500 || (response.status >= 200 && response.status < 300 && judge(response).kind === 'failed'),
      log,
      span: ctx.span,
      spanAttributes: ctx.span?.recording ? { 'hms.tool': call.name, 'hms.tool_call_id': String(id), 'hms.upstream': target.label, 'hms.call_id': ctx.logId } : undefined,
    });
    const { attempts } = outcome;
    if (!outcome.ok) {
      if (!outcome.touchedNetwork) refundForward(ctx.callId);
      return failed({ ...fallback(id, route, outcome.reason, call.name, ctx), attempts: attempts > 0 ? attempts : undefined });
    }
    const { status, elapsedMs: upstreamMs } = outcome.response;
    const reply = judge(outcome.response);
    if (reply.kind === 'failed') {
      logger.warn({ ...log, status, reason: 'error', detail: reply.detail }, 'tool call failed');
      return failed({ ...fallback(id, route, 'error', call.name, ctx), attempts, status, upstreamMs });
    }
    if (reply.kind === 'error') return failed({ entry: { tool_call_id: id, error: reply.message }, outcome: 'error', route, attempts, status, upstreamMs });
    // Parsed from these bytes, the result serializes to at most 6 bytes per byte (escapes) + quotes.
    return { entry: { tool_call_id: id, result: reply.value }, outcome: 'ok', route, succeeded: true, maxJsonBytes: outcome.response.body.length * 6 + 2, attempts, status, upstreamMs };
  }

  /**
   * One tool call, up to its answer. The webhook's deadline is not watched here: runToolCalls
   * answers a call still running at the cut-off with its fallback.
   */
  async function runOne(call: ToolCall, scope: Scope, envelope: Envelope, ctx: CallContext, cutoffAt: number, signal: AbortSignalLike, rateLimited: boolean): Promise<Answered> {
    const id = call.id;
    const route = call.name === undefined ? undefined : table.lookupTool(scope, call.name);
    if (!route) return unrouted(call);
    const name = call.name!;
    // Over the webhook rate limit: a spoken answer, and nothing counts toward tool_calls_per_call.
    if (rateLimited) return fallback(id, route, 'rate_limited', name, ctx);
    if (!call.args.ok) return { entry: { tool_call_id: id, error: `The arguments for ${name} could not be read: ${call.args.problem}.` }, outcome: 'invalid_arguments', route };
    const args = call.args.value;
    const { policy } = route;

    const problem = policy.checkArguments?.(args);
    if (problem !== undefined) {
      logger.info({ call_id: ctx.logId, tool: name, tool_call_id: id, reason: 'invalid_arguments' }, 'tool call refused: arguments do not match parameters');
      return fallback(id, route, 'invalid_arguments', name, ctx, problem);
    }

    // Writes (and late results of on_deadline: continue) are remembered per phone call.
    const remember = (policy.sideEffects || policy.continueAfterDeadline) && ctx.callId !== undefined;
    const key = remember ? ledgerKey(ctx.callId!, name, args) : undefined;
    let claim = key !== undefined ? ledger.claim(key) : undefined;
    if (isPromise(claim)) claim = await claim;
    if (claim) {
      if ('replay' in claim) {
        logger.info({ call_id: ctx.logId, tool: name, tool_call_id: id, outcome: 'replayed' }, 'tool call replayed from the ledger');
        return { entry: { tool_call_id: id, result: claim.replay.result }, outcome: 'replayed', route };
      }
      if ('join' in claim) {
        logger.info({ call_id: ctx.logId, tool: name, tool_call_id: id, outcome: 'joined' }, 'tool call joined an identical one in flight');
        const joined = await claim.join;
        // A joiner hears what the call it joined heard.
        if (joined && 'result' in joined) return { entry: { tool_call_id: id, result: joined.result }, outcome: 'replayed', route };
        if (joined && 'answer' in joined) return { entry: { tool_call_id: id, ...joined.answer }, outcome: 'error', route };
        return fallback(id, route, 'error', name, ctx);
      }
    }

    const running = callBackend(call as ToolCall & { name: string }, args, route, envelope, ctx, cutoffAt, signal, key);
    if (claim) claim.run(running.then(asLedgerOutcome));
    return running;
  }

  /** A call that names no tool, or one routes.yaml does not know. */
  function unrouted(call: ToolCall): Answered {
    const error = call.name === undefined ? 'The tool call has no function name.' : `No route for tool ${call.name}.`;
    return { entry: { tool_call_id: call.id, error }, outcome: 'error' };
  }

  /** What a call still running at the cut-off answers: its timeout fallback. */
  function cutOff(call: ToolCall, scope: Scope, ctx: CallContext): Answered {
    const route = call.name === undefined ? undefined : table.lookupTool(scope, call.name);
    // Unrouted calls answer before any timer can fire; the check only keeps the types honest.
    return route ? fallback(call.id, route, 'timeout', call.name!, ctx) : unrouted(call);
  }

  return async function runToolCalls(calls: ToolCall[], scope: Scope, envelope: Envelope, ctx: CallContext, cutoffAt: number, rateLimited = false): Promise<ToolCallsAnswer> {
    // One signal for the whole webhook: at the cut-off every call still running gets its fallback
    // and its upstream request is aborted (unless the tool continues after the deadline).
    const deadline = new AbortSwitch();
    const timer = setTimeout(() => deadline.abort(), Math.max(0, cutoffAt - now()));
    try {
      const answered = await untilCutOff(
        calls.map((call) => runOne(call, scope, envelope, ctx, cutoffAt, deadline, rateLimited)),
        deadline,
        (i) => cutOff(calls[i]!, scope, ctx),
      );
      const results: ToolResultEntry[] = [];
      const tools: ToolCallSummary[] = [];
      for (let i = 0; i < calls.length; i++) {
        const call = calls[i]!;
        const { entry, outcome, route, fallback: reason, maxJsonBytes, attempts, status, upstreamMs } = answered[i]!;
        // Counted once per call, here: a call cut at the deadline may also have failed inside.
        if (metrics) {
          const tool = toolLabel(call.name ?? '', route);
          metrics.toolCall(tool, route?.target.label ?? 'none', outcome);
          if (reason !== undefined) metrics.fallback(tool, reason);
        }
        const result = limitEntry(entry, config.limits.result, ctx, logger, maxJsonBytes);
        results.push(result);
        // What was asked and answered is personal data: logged only with logging.payloads: true.
        if (config.logging.payloads) {
          logger.info({ call_id: ctx.logId, tool: call.name, tool_call_id: result.tool_call_id, arguments: call.args.ok ? call.args.value : undefined, ...('result' in result ? { result: result.result } : { error: result.error }) }, 'tool call payload');
        }
        tools.push({ tool: call.name, tool_call_id: call.id, upstream: route?.target.label, matched: route?.level, outcome, attempts, status, ms: upstreamMs });
      }
      return { body: { results }, tools };
    } finally {
      clearTimeout(timer);
    }
  };
}

function asLedgerOutcome({ entry, succeeded }: Answered & { succeeded: boolean }): LedgerOutcome {
  if (succeeded && 'result' in entry) return { result: entry.result };
  return { answer: 'result' in entry ? { result: entry.result } : { error: entry.error } };
}

/**
 * Every call's answer, or at the cut-off (the signal) what `late` says for each one still running.
 * One promise for the webhook rather than one race per call.
 */
function untilCutOff(running: Promise<Answered>[], signal: AbortSignalLike, late: (index: number) => Answered): Promise<Answered[]> {
  return new Promise((resolve, reject) => {
    const answered: (Answered | undefined)[] = new Array<Answered | undefined>(running.length);
    let left = running.length;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      for (let i = 0; i < answered.length; i++) answered[i] ??= late(i);
      resolve(answered as Answered[]);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      reject(err as Error);
    };
    const onAbort = () => finish();
    signal.addEventListener('abort', onAbort, { once: true });
    running.forEach((promise, i) =>
      promise.then((value) => {
        if (settled) return;
        answered[i] = value;
        if (--left === 0) finish();
      }, fail),
    );
  });
}

/** Contract guard: a result or error over limits.result is cut to fit, as valid JSON. */
function limitEntry(entry: ToolResultEntry, limit: number, ctx: CallContext, logger: Logger, maxJsonBytes: number | undefined): ToolResultEntry {
  const isResult = 'result' in entry;
  const { value, truncatedFrom } = limitValue(isResult ? entry.result : entry.error, limit, maxJsonBytes);
  if (truncatedFrom === undefined) return entry;
  logger.warn({ call_id: ctx.logId, tool_call_id: entry.tool_call_id, bytes: truncatedFrom, limit }, 'tool result truncated to limits.result');
  return isResult ? { tool_call_id: entry.tool_call_id, result: value } : { tool_call_id: entry.tool_call_id, error: String(value) };
}
