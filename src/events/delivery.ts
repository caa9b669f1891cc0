// Delivery of event copies (status-update, end-of-call-report, unrouted events) to their targets
// after the platform has been answered. One small interface, so a durable outbox can replace
// the best-effort sender without touching the webhook path.

import type { Logger } from 'pino';
import type { ForwardOptions, UpstreamRequest, UpstreamResult } from '../forward.js';
import { buildEventRequest, type CallContext } from '../outbound.js';
import type { CompiledTarget } from '../target.js';

export interface EventJob {
  ctx: CallContext;
  /** The envelope exactly as received. */
  raw: Buffer;
  targets: readonly CompiledTarget[];
}

export interface EventDelivery {
  /** Resolves once the job is accepted (a durable store resolves after its commit). */
  submit(job: EventJob): Promise<void>;
  /** Stops accepting and waits for deliveries in flight. */
  close(): Promise<void>;
}

export interface BestEffortDeps {
  forward: (request: UpstreamRequest, options: ForwardOptions) => Promise<UpstreamResult>;
  now: () => number;
  logger: Logger;
}

/** Sends each copy once, in the background, and logs failures with their reason. */
export function createBestEffortDelivery(deps: BestEffortDeps): EventDelivery {
  const inFlight = new Set<Promise<void>>();

  async function deliverOne(target: CompiledTarget, job: EventJob): Promise<void> {
    const log = { call_id: job.ctx.logId, event: job.ctx.event, assistant: job.ctx.assistant, target: target.label };
    let request: UpstreamRequest;
    try {
      request = buildEventRequest(target, job.raw, job.ctx, deps.now());
    } catch (err) {
      deps.logger.error({ ...log, reason: 'error', detail: (err as Error).message }, 'event delivery failed');
      return;
    }
    const outcome = await deps.forward(request, { timeoutMs: target.timeoutMs });
    if (!outcome.ok) {
      deps.logger.warn({ ...log, reason: outcome.reason, detail: outcome.detail, ms: outcome.elapsedMs }, 'event delivery failed');
    } else if (outcome.status < 200 || outcome.status > 299) {
      deps.logger.warn({ ...log, reason: 'error', status: outcome.status, ms: outcome.elapsedMs }, 'event delivery failed');
    } else {
      deps.logger.info({ ...log, status: outcome.status, ms: outcome.elapsedMs }, 'event delivered');
    }
  }

  return {
    async submit(job) {
      for (const target of job.targets) {
        const delivery = deliverOne(target, job).catch((err: unknown) => {
          deps.logger.error({ call_id: job.ctx.logId, event: job.ctx.event, target: target.label, detail: (err as Error).message }, 'event delivery failed');
        });
        inFlight.add(delivery);
        void delivery.finally(() => inFlight.delete(delivery));
      }
    },
    async close() {
      await Promise.all([...inFlight]);
    },
  };
}
