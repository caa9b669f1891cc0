// Fans the tool calls of one tool-calls webhook out concurrently and folds the replies into the
// platform's {"results": [...]}: one entry per incoming id, in order, before the deadline.

import type { Logger } from 'pino';
import type { Envelope, ToolCall } from './envelope.js';
import type { FailureReason, ForwardOptions, UpstreamRequest, UpstreamResult } from './forward.js';
import { buildToolRequest, type CallContext } from './outbound.js';
import type { RouteTable, Scope } from './routing.js';
import { builtInFallback } from './spoken.js';
import type { CompiledTarget } from './target.js';
import { normaliseToolReply } from './tool-reply.js';

export type ToolResultEntry = { tool_call_id: string | number; result: unknown } | { tool_call_id: string | number; error: string };

export interface ToolCallDeps {
  table: RouteTable;
  forward: (request: UpstreamRequest, options: ForwardOptions) => Promise<UpstreamResult>;
  now: () => number;
  logger: Logger;
}

export function createToolCallRunner(deps: ToolCallDeps) {
  const { table, forward, now, logger } = deps;

  async function runOne(call: ToolCall, scope: Scope, envelope: Envelope, ctx: CallContext, cutoffAt: number, signal: AbortSignal): Promise<ToolResultEntry> {
    const id = call.id;
    if (call.name === undefined) return { tool_call_id: id, error: 'The tool call has no function name.' };
    const name = call.name;
    if (!call.args.ok) return { tool_call_id: id, error: `The arguments for ${name} could not be read: ${call.args.problem}.` };
    const route = table.lookupTool(scope, name);
    if (!route) return { tool_call_id: id, error: `No route for tool ${name}.` };
    const { target } = route;
    const built = buildToolRequest(target, { ...call, name }, call.args.value, envelope, ctx, now());
    if (!built.ok) {
      return 'missing' in built
        ? { tool_call_id: id, error: `The tool ${name} needs the argument "${built.missing}".` }
        : { tool_call_id: id, error: `The argument "${built.invalid}" of ${name} is not a valid value.` };
    }

    const timeoutMs = Math.min(target.timeoutMs, cutoffAt - now());
    const outcome = await forward(built.request, { timeoutMs, signal });
    const log = { call_id: ctx.logId, tool: name, tool_call_id: id, upstream: target.label, matched: route.level, ms: outcome.elapsedMs, attempt: 1 };
    if (!outcome.ok) {
      logger.warn({ ...log, reason: outcome.reason, detail: outcome.detail }, 'tool call failed');
      return fallbackEntry(id, target, outcome.reason, name);
    }
    const reply = normaliseToolReply(outcome.status, outcome.contentType, outcome.body, id);
    if (reply.kind === 'failed') {
      logger.warn({ ...log, status: outcome.status, reason: 'error', detail: reply.detail }, 'tool call failed');
      return fallbackEntry(id, target, 'error', name);
    }
    logger.info({ ...log, status: outcome.status, outcome: reply.kind === 'result' ? 'ok' : 'error' }, 'tool call answered');
    return reply.kind === 'result' ? { tool_call_id: id, result: reply.value } : { tool_call_id: id, error: reply.message };
  }

  return async function runToolCalls(calls: ToolCall[], scope: Scope, envelope: Envelope, ctx: CallContext, cutoffAt: number): Promise<{ results: ToolResultEntry[] }> {
    // One signal for the whole webhook: at the deadline every request still running is aborted.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), Math.max(0, cutoffAt - now()));
    try {
      const results = await Promise.all(calls.map((call) => runOne(call, scope, envelope, ctx, cutoffAt, deadline.signal)));
      return { results };
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The target's configured sentence as a result (it is meant to be spoken), else a built-in error. */
function fallbackEntry(id: string | number, target: CompiledTarget, reason: FailureReason, tool: string): ToolResultEntry {
  if (target.fallback !== undefined) return { tool_call_id: id, result: target.fallback };
  return { tool_call_id: id, error: builtInFallback(reason, tool) };
}
