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

/** One prepared request (an async tool call) sent in the background, retried a bounded number of times. */
export interface RequestJob {
  ctx: CallContext;
  target: CompiledTarget;
  request: UpstreamRequest;
  /** Attempts in all, the first included. */
  attempts: number;
}

export interface EventDelivery {
  /** Resolves once the job is accepted (a durable store resolves after its commit). */
  submit(job: EventJob): Promise<void>;
  submitRequest(job: RequestJob): Promise<void>;
  /** Stops accepting and waits for deliveries in flight. */
  close(): Promise<void>;
}

/** Wait before the second attempt of an async tool call; doubled for each one after. */
const ASYNC_BACKOFF_MS = 500;

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

  /** 5xx, 408, 429 and transport failures are worth another try; other replies are final. */
  async function sendWithRetries(job: RequestJob): Promise<void> {
    const log = { call_id: job.ctx.logId, tool: job.request.headers['x-tool-name'], target: job.target.label };
    for (let attempt = 1; attempt <= job.attempts; attempt++) {
      const outcome = await deps.forward(job.request, { timeoutMs: job.target.timeoutMs });
      const status = outcome.ok ? outcome.status : undefined;
      if (status !== undefined && status >= 200 && status < 300) {
        deps.logger.info({ ...log, status, attempt, ms: outcome.elapsedMs }, 'async tool call delivered');
        return;
      }
      const retry = status === undefined || status >= 500 || status === 408 || status === 429;
      deps.logger.warn({ ...log, status, attempt, reason: outcome.ok ? 'error' : outcome.reason, ms: outcome.elapsedMs }, 'async tool call attempt failed');
      if (!retry || attempt === job.attempts) return;
      await new Promise((resolve) => setTimeout(resolve, ASYNC_BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }

  const track = (work: Promise<void>, log: Record<string, unknown>) => {
    const guarded = work.catch((err: unknown) => deps.logger.error({ ...log, detail: (err as Error).message }, 'background delivery failed'));
    inFlight.add(guarded);
    void guarded.finally(() => inFlight.delete(guarded));
  };

  return {
    async submit(job) {
      for (const target of job.targets) track(deliverOne(target, job), { call_id: job.ctx.logId, event: job.ctx.event, target: target.label });
    },
    async submitRequest(job) {
      track(sendWithRetries(job), { call_id: job.ctx.logId, target: job.target.label });
    },
    async close() {
      await Promise.all([...inFlight]);
    },
  };
}
