// Answers one verified webhook by its event type: tool calls fan out under their deadline,
// assistant-request asks its backend (or answers static), other events are acknowledged at once
// and handed to event delivery. No HTTP server here: the fastify plugin calls this.

import type { ToolCallDeps, ToolCallSummary } from './aggregate.js';
import { createToolCallRunner } from './aggregate.js';
import type { Config } from './config/schema.js';
import { callIdOf, toolCallsOf, type Envelope } from './envelope.js';
import { GatewayError, RateLimited } from './errors.js';
import type { EventDelivery, EventJob } from './events/delivery.js';
import { buildEventRequest, type CallContext } from './outbound.js';
import type { Scope } from './routing.js';
import type { CompiledTarget } from './target.js';
import { isPlainObject } from './tool-reply.js';
import { maskPhoneNumbers } from './redact.js';
import { createReplayCache, type ReplayClaim } from './replay-cache.js';
import { isPromise } from './state/memory-store.js';
import { NO_ATTRIBUTES, UNRECORDED, type TraceSpan } from './trace-context.js';

export interface DispatchDeps extends ToolCallDeps {
  config: Config;
  delivery: EventDelivery;
}

export interface Inbound {
  /** The assistant's scope (from the URL, or on POST /webhook from the phone number), or the account's. */
  scope: Scope;
  envelope: Envelope;
  raw: Buffer;
  receivedAt: number;
  /** Set for signed requests: identifies a byte-identical repeat (see replay-cache.ts). */
  replayKey?: string | undefined;
  /** The webhook's trace span; upstream requests become its children. */
  span?: TraceSpan | undefined;
  /**
   * Asks limits.rate (seconds to wait when over it). Asked only for a first copy: a repeat gets
   * the first reply without spending budget. Over it, tool calls get the rate_limited fallback
   * and call nothing; other events are refused with RateLimited.
   */
  overLimit?: (() => Promise<number | undefined>) | undefined;
}

export interface Dispatched {
  body: unknown;
  /** `body` as JSON: what is sent, made once (the replay cache keeps the same text). */
  json: string;
  ctx: CallContext;
  deadlineAt: number | undefined;
  /** For tool-calls (not replayed): each tool call's outcome, for the webhook's log line. */
  tools?: ToolCallSummary[];
  /** Answered from the replay cache: nothing ran again. */
  replayed?: boolean;
  /** Over limits.rate: every tool call got its rate_limited fallback. */
  rateLimited?: boolean;
}

/**
 * Upstream work stops this long before the deadline, leaving time to fold the results and write
 * the reply, so the reply leaves before the deadline rather than at it.
 */
export const REPLY_RESERVE_MS = 50;

/** When the reply must have left, counted from receipt; undefined for events answered at once. */
export function deadlineFor(config: Config, event: string, receivedAt: number): number | undefined {
  if (event === 'tool-calls' || event === 'assistant-request') return receivedAt + config.deadlines[event];
  return undefined;
}

export function createDispatcher(deps: DispatchDeps) {
  const { config, table, forward, now, delivery, logger } = deps;
  const onSharedError = (err: Error) => logger.warn({ reason: err.message }, 'shared store unavailable: replay protection is local to this replica for now');
  const runToolCalls = createToolCallRunner(deps);
  // A timestamp is accepted from `tolerance` before to `tolerance` after it, so a copy can arrive
  // up to twice the tolerance after the first one (plus a second of rounding).
  const replays = createReplayCache(deps.shared.keyValue<{ reply: string }>('replay'), 2 * config.security.timestamp_tolerance + 1000, onSharedError);

  async function askForAssistant(target: CompiledTarget, raw: Buffer, ctx: CallContext, cutoffAt: number): Promise<Record<string, unknown> | undefined> {
    const timeoutMs = Math.min(target.timeoutMs, cutoffAt - now());
    const request = buildEventRequest(target, raw, ctx, now());
    // Like a tool's backend, the assistant backend is told how long it has.
    request.headers['x-deadline-ms'] = String(Math.max(0, Math.floor(timeoutMs)));
    const span = ctx.span?.recording ? ctx.span.child(`${target.method} ${target.label}`, { 'hms.call_id': ctx.logId, 'hms.upstream': target.label }) : ctx.span?.child(UNRECORDED, NO_ATTRIBUTES);
    if (span) request.headers.traceparent = span.traceparent;
    const outcome = await forward(request, { timeoutMs });
    span?.end(outcome.ok ? { status: outcome.status } : { error: outcome.reason });
    deps.metrics?.upstreamDuration(target.label, outcome.elapsedMs);
    const log = { call_id: ctx.logId, event: ctx.event, assistant: ctx.assistant, upstream: target.label, ms: outcome.elapsedMs };
    if (!outcome.ok) {
      logger.warn({ ...log, reason: outcome.reason, detail: outcome.detail }, 'assistant-request failed');
      return undefined;
    }
    let value: unknown;
    try {
      value = outcome.status >= 200 && outcome.status < 300 ? JSON.parse(outcome.body.toString('utf8')) : undefined;
    } catch {
      value = undefined;
    }
    if (!isPlainObject(value)) {
      logger.warn({ ...log, status: outcome.status, reason: 'error', detail: outcome.status >= 300 || outcome.status < 200 ? `HTTP ${outcome.status}` : 'reply is not a JSON object' }, 'assistant-request failed');
      return undefined;
    }
    logger.info({ ...log, status: outcome.status }, 'assistant-request answered');
    return value;
  }

  /** The platform hears 200 only once the event is stored; a store that refuses means 503. */
  async function accept(job: EventJob): Promise<void> {
    try {
      await delivery.submit(job);
    } catch (err) {
      logger.error({ call_id: job.ctx.logId, event: job.ctx.event, reason: (err as Error).message }, 'event not accepted');
      throw new GatewayError('GW_ERR_STORE_UNAVAILABLE');
    }
  }

  async function answer(inbound: Inbound): Promise<Dispatched> {
    const { envelope, raw, receivedAt, scope } = inbound;
    const event = envelope.message.type;
    // Awaited only when there is a limit to ask: an await costs a turn of the microtask queue.
    const retryAfterS = inbound.overLimit ? await inbound.overLimit() : undefined;
    const rateLimited = retryAfterS !== undefined;
    if (rateLimited && event !== 'tool-calls') throw new RateLimited(retryAfterS);
    const callId = callIdOf(envelope);
    const ctx: CallContext = { callId, logId: callId === undefined ? undefined : maskPhoneNumbers(callId), assistant: scope.assistant, event, span: inbound.span };
    const deadlineAt = deadlineFor(config, event, receivedAt);

    let body: unknown = {};
    let tools: ToolCallSummary[] | undefined;
    switch (event) {
      case 'tool-calls': {
        const calls = toolCallsOf(envelope);
        ({ body, tools } = await runToolCalls(calls, scope, envelope, ctx, deadlineAt! - REPLY_RESERVE_MS, rateLimited));
        break;
      }
      case 'assistant-request': {
        const route = scope.assistantRequest;
        const target = route ? route.target : table.fallback;
        const asked = target ? await askForAssistant(target, raw, ctx, deadlineAt! - REPLY_RESERVE_MS) : undefined;
        body = asked ?? route?.static ?? {};
        break;
      }
      case 'status-update':
      case 'end-of-call-report': {
        const targets = scope.listEvents[event];
        await accept({ ctx, raw, targets: targets.length > 0 ? targets : table.fallback ? [table.fallback] : [] });
        break;
      }
      default: {
        // An event this gateway does not know yet must never break a call: acknowledge it.
        if (table.fallback) await accept({ ctx, raw, targets: [table.fallback] });
      }
    }
    const answered: Dispatched = { body, json: JSON.stringify(body), ctx, deadlineAt };
    if (tools) answered.tools = tools;
    if (rateLimited) answered.rateLimited = true;
    return answered;
  }

  /** A repeat gets the first reply; a first copy is answered, and its reply kept for the repeats. */
  function answerClaimed(inbound: Inbound, claim: ReplayClaim): Promise<Dispatched> {
    if ('earlier' in claim) {
      // A repeat: tool calls and assistant-request get the first reply; events are not re-delivered.
      return claim.earlier.then((text) => {
        const first = JSON.parse(text) as Pick<Dispatched, 'body' | 'ctx'>;
        return { ...first, json: JSON.stringify(first.body), deadlineAt: undefined, replayed: true };
      });
    }
    const reply = answer(inbound);
    // Kept for as long as a copy can arrive: the reply and the call's ids only, not its trace
    // span. The reply's text goes in as made, not serialised again.
    claim.first(
      reply.then(({ json, ctx }) => {
        const kept = { callId: ctx.callId, logId: ctx.logId, assistant: ctx.assistant, event: ctx.event };
        return `{"ctx":${JSON.stringify(kept)},"body":${json}}`;
      }),
    );
    return reply;
  }

  return function dispatch(inbound: Inbound): Promise<Dispatched> {
    const key = inbound.replayKey;
    if (key === undefined) return answer(inbound);
    // With the in-memory store the claim is decided at once: no await between receipt and work.
    const claim = replays.claim(key);
    return isPromise(claim) ? claim.then((decided) => answerClaimed(inbound, decided)) : answerClaimed(inbound, claim);
  };
}
