// Builds the HTTP request the gateway sends to a target: for one tool call (its arguments, or the
// envelope narrowed to that call) or for an event copy; headers, user-agent and re-signing.

import type { Envelope, ToolCall } from './envelope.js';
import type { UpstreamRequest } from './forward.js';
import { signedHeaders } from './signature.js';
import { requestPath, type CompiledTarget } from './target.js';
import type { TraceSpan } from './trace-context.js';
import { VERSION } from './version.js';

export const USER_AGENT = `hms-tool-router/${VERSION}`;

export interface CallContext {
  callId: string | undefined;
  /** The call id as logs show it: phone numbers inside it masked. */
  logId: string | undefined;
  assistant: string | undefined;
  event: string;
  /** The webhook's span: requests made for it carry its trace (each attempt as a child span). */
  span?: TraceSpan | undefined;
}

/**
 * Values from the payload may hold characters HTTP headers cannot carry (a newline, "€"):
 * those are percent-encoded, so the request is still sent and nothing can inject a header.
 */
export function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : value.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
}

/** The configured headers, then the gateway's own, which configuration cannot replace. */
function baseHeaders(target: CompiledTarget, ctx: CallContext): Record<string, string> {
  const headers: Record<string, string> = { ...target.headers, 'content-type': 'application/json', 'user-agent': USER_AGENT };
  if (ctx.callId !== undefined) headers['x-call-id'] = headerSafe(ctx.callId);
  if (ctx.assistant !== undefined) headers['x-assistant'] = ctx.assistant;
  Object.assign(headers, traceHeaders(ctx));
  return headers;
}

/** The webhook's trace context, so deliveries made later (even after a restart) join its trace. */
export function traceHeaders(ctx: CallContext): Record<string, string> {
  if (!ctx.span) return {};
  return ctx.span.tracestate === undefined ? { traceparent: ctx.span.traceparent } : { traceparent: ctx.span.traceparent, tracestate: ctx.span.tracestate };
}

/** Envelopes and signed requests look like the platform's own: X-Webhook-Event, and a signature. */
function sign(headers: Record<string, string>, target: CompiledTarget, body: string | Buffer | undefined, ctx: CallContext, nowMs: number): void {
  if (target.body === 'message' || target.secret !== undefined) headers['x-webhook-event'] = ctx.event;
  if (target.secret !== undefined) Object.assign(headers, signedHeaders(target.secret, body ?? '', nowMs));
}

export type ToolRequest = { ok: true; request: UpstreamRequest } | Exclude<ReturnType<typeof requestPath>, { ok: true }>;

export function buildToolRequest(target: CompiledTarget, call: ToolCall & { name: string }, args: Record<string, unknown>, envelope: Envelope, ctx: CallContext, nowMs: number): ToolRequest {
  const path = requestPath(target, args);
  if (!path.ok) return path;
  let body: string | undefined;
  if (target.body === 'message') {
    // Each tool call is exactly one upstream request: the envelope carries only this call.
    body = JSON.stringify({ ...envelope, message: { ...envelope.message, tool_call_list: [call.entry] } });
  } else if (target.method !== 'GET' && target.method !== 'DELETE') {
    body = JSON.stringify(args);
  }
  const headers = baseHeaders(target, ctx);
  headers['x-tool-call-id'] = headerSafe(String(call.id));
  headers['x-tool-name'] = headerSafe(call.name);
  sign(headers, target, body, ctx, nowMs);
  return { ok: true, request: { origin: target.origin, path: path.path, method: target.method, headers, body } };
}

/** A copy of a whole event (the envelope exactly as received) for an event target or `fallback`. */
export function buildEventRequest(target: CompiledTarget, raw: Buffer, ctx: CallContext, nowMs: number): UpstreamRequest {
  const path = requestPath(target, undefined);
  if (!path.ok) throw new Error("an event target's path cannot have placeholders: events have no arguments to fill them");
  const headers = baseHeaders(target, ctx);
  sign(headers, target, raw, ctx, nowMs);
  return { origin: target.origin, path: path.path, method: target.method, headers, body: raw };
}
