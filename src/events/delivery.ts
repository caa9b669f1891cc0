// The one interface between answering the platform and delivering what it sent on: event
// copies (status-update, end-of-call-report, unrouted events) and async tool calls. The durable
// outbox (outbox.ts) implements it; tests of the webhook path can pass their own.

import type { UpstreamRequest } from '../forward.js';
import type { CallContext } from '../outbound.js';
import type { CompiledTarget } from '../target.js';

export interface EventJob {
  ctx: CallContext;
  /** The envelope exactly as received. */
  raw: Buffer;
  targets: readonly CompiledTarget[];
}

/** One prepared request (an async tool call), delivered like an event. */
export interface RequestJob {
  ctx: CallContext;
  target: CompiledTarget;
  request: UpstreamRequest;
}

export interface EventDelivery {
  /** Resolves once the job is accepted (committed to disk); rejects when it cannot be. */
  submit(job: EventJob): Promise<void>;
  submitRequest(job: RequestJob): Promise<void>;
  /** Stops taking work and waits for deliveries in flight. */
  close(): Promise<void>;
}
