// Durable delivery: events and async tool calls are committed to the outbox before the platform
// is answered, then delivered to every target at least once, in order per call and target,
// with backoff, across outages and restarts, until delivered or dead-lettered.

import type { Logger } from 'pino';
import type { ForwardOptions, UpstreamRequest, UpstreamResult } from '../forward.js';
import { headerSafe, traceHeaders, USER_AGENT } from '../outbound.js';
import { maskPhoneNumbers } from '../redact.js';
import { signedHeaders } from '../signature.js';
import type { CompiledTarget } from '../target.js';
import type { EventDelivery, EventJob, RequestJob } from './delivery.js';
import type { DeliveryRow, NewDelivery, OutboxStore } from './outbox-store.js';

export interface OutboxSettings {
  initialMs: number;
  maxMs: number;
  maxAttempts: number;
  maxAgeMs: number;
  /** Deliveries in flight per target at most. */
  concurrency: number;
  /** How often the store is asked for due work (also picks up `events retry` from the CLI). */
  pollMs: number;
  retentionMs: number;
}

export interface OutboxDeps {
  /** The store, or why it could not be opened: then events are refused (503), tool calls still served. */
  store: OutboxStore | Error;
  resolveTarget: (targetId: string) => CompiledTarget | undefined;
  forward: (request: UpstreamRequest, options: ForwardOptions) => Promise<UpstreamResult>;
  now: () => number;
  logger: Logger;
  settings: OutboxSettings;
  random?: () => number;
}

const PRUNE_EVERY_MS = 3_600_000;

export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable';
}

export interface Outbox extends EventDelivery {
  /** Why the store cannot take events, or undefined when it can. */
  problem(): string | undefined;
  /** Deliveries waiting and given up, for the metrics; undefined without a store. */
  counts(): { pending: number; dead: number } | undefined;
}

/** Headers the outbox adds itself at every attempt; never stored. */
const NOT_STORED = new Set(['content-type', 'user-agent', 'x-webhook-timestamp', 'x-webhook-signature', 'x-deadline-ms']);

export function createOutbox(deps: OutboxDeps): Outbox {
  const { forward, now, logger, settings } = deps;
  const random = deps.random ?? Math.random;
  const store = deps.store instanceof Error ? undefined : deps.store;
  let problem: string | undefined = deps.store instanceof Error ? `the outbox store cannot be opened: ${deps.store.message}` : undefined;

  const inFlight = new Map<string, Promise<void>>();
  const perTarget = new Map<string, number>();
  let closing = false;
  let timer: NodeJS.Timeout | undefined;

  // Group commit: everything submitted in one turn of the event loop shares one transaction.
  let batch: { rows: NewDelivery[]; settle: (err?: Error) => void }[] = [];
  const flush = () => {
    const pending = batch;
    batch = [];
    try {
      if (!store) throw new StoreUnavailable(problem ?? 'no outbox store');
      store.insert(
        pending.flatMap((p) => p.rows),
        now(),
      );
      if (problem?.startsWith('the outbox store refused a write')) problem = undefined;
      for (const p of pending) p.settle();
      schedule(0);
    } catch (err) {
      const reason = err instanceof StoreUnavailable ? err.message : `the outbox store refused a write: ${(err as Error).message}`;
      problem = reason;
      logger.error({ reason }, 'events not accepted: outbox store unavailable');
      for (const p of pending) p.settle(new StoreUnavailable(reason));
    }
  };
  const commit = (rows: NewDelivery[]) =>
    new Promise<void>((resolve, reject) => {
      if (closing) return reject(new StoreUnavailable('the gateway is shutting down'));
      if (batch.length === 0) setImmediate(flush);
      batch.push({ rows, settle: (err) => (err ? reject(err) : resolve()) });
    });

  function stored(target: CompiledTarget, path: string, headers: Record<string, string>, body: Buffer | string | undefined): NewDelivery['request'] {
    const kept: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!NOT_STORED.has(name) && target.headers[name] !== value) kept[name] = value;
    }
    return { targetId: target.id, targetUrl: `${target.origin}${target.pathTemplate}`, path, method: target.method, headers: kept, body: Buffer.from(body ?? '') };
  }

  function requestFor(row: DeliveryRow, target: CompiledTarget, attempt: number): UpstreamRequest {
    const headers: Record<string, string> = {
      ...target.headers,
      ...row.headers,
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'x-delivery-id': row.id,
      'x-delivery-attempt': String(attempt),
    };
    if (target.secret !== undefined) {
      headers['x-webhook-event'] = row.event;
      Object.assign(headers, signedHeaders(target.secret, row.body, now()));
    }
    return { origin: target.origin, path: row.path, method: row.method, headers, body: row.body };
  }

  function backoff(attempts: number): number {
    const ceiling = Math.min(settings.maxMs, settings.initialMs * 2 ** (attempts - 1));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }

  async function deliver(row: DeliveryRow): Promise<void> {
    const log = {
      delivery_id: row.id,
      call_id: row.callId === null ? undefined : maskPhoneNumbers(row.callId),
      event: row.event,
      tool: row.headers['x-tool-name'],
      target: row.targetUrl.replace(/\?.*$/, ''),
    };
    const target = deps.resolveTarget(row.targetId);
    if (!store) return;
    if (!target) {
      store.markDead(row.id, 'target no longer in routes.yaml', now());
      logger.error({ ...log, reason: 'target removed' }, 'delivery dead-lettered');
      return;
    }
    const attempt = store.startAttempt(row.id, now());
    const outcome = await forward(requestFor(row, target, attempt), { timeoutMs: target.timeoutMs });
    const status = outcome.ok ? outcome.status : undefined;
    if (status !== undefined && status >= 200 && status < 300) {
      store.markDelivered(row.id, now());
      logger.info({ ...log, attempt, status, ms: outcome.elapsedMs }, 'delivered');
      return;
    }
    const error = outcome.ok ? `HTTP ${outcome.status}` : `${outcome.reason}: ${outcome.detail}`;
    const final = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
    const exhausted = attempt >= settings.maxAttempts || now() - row.createdAt >= settings.maxAgeMs;
    if (final || exhausted) {
      store.markDead(row.id, error, now());
      logger.error({ ...log, attempt, status, reason: final ? 'rejected' : 'gave up', last_error: error }, 'delivery dead-lettered');
      return;
    }
    const wait = backoff(attempt);
    store.markRetry(row.id, error, now() + wait, now());
    logger.warn({ ...log, attempt, status, last_error: error, retry_in_ms: wait }, 'delivery failed; will retry');
  }

  function tick(): void {
    timer = undefined;
    if (closing || !store) return;
    prune();
    try {
      const rows = store.due(now(), 100, new Set(inFlight.keys()));
      for (const row of rows) {
        const busy = perTarget.get(row.targetId) ?? 0;
        if (busy >= settings.concurrency) continue;
        perTarget.set(row.targetId, busy + 1);
        const work = deliver(row)
          .catch((err: unknown) => logger.error({ delivery_id: row.id, detail: (err as Error).message }, 'delivery failed unexpectedly'))
          .finally(() => {
            inFlight.delete(row.id);
            perTarget.set(row.targetId, (perTarget.get(row.targetId) ?? 1) - 1);
            schedule(0);
          });
        inFlight.set(row.id, work);
      }
    } catch (err) {
      logger.error({ detail: (err as Error).message }, 'outbox poll failed');
    }
    schedule(settings.pollMs);
  }

  function schedule(ms: number): void {
    if (closing || !store) return;
    if (timer !== undefined) {
      if (ms > 0) return;
      clearTimeout(timer);
    }
    timer = setTimeout(tick, ms);
  }

  let prunedAt = 0;
  /** Delivered events are kept `store.retention`, then removed: at start, then hourly. */
  function prune(): void {
    if (!store || now() - prunedAt < PRUNE_EVERY_MS) return;
    prunedAt = now();
    try {
      const removed = store.purge({ status: 'delivered', olderThan: now() - settings.retentionMs });
      if (removed > 0) logger.info({ removed }, 'pruned delivered events past store.retention');
    } catch (err) {
      logger.warn({ detail: (err as Error).message }, 'could not prune delivered events');
    }
  }

  if (store) {
    prune();
    // Startup resumes whatever was pending when the gateway last stopped (or was killed).
    schedule(0);
  }

  return {
    problem: () => problem,
    counts() {
      if (!store || closing) return undefined;
      const { pending, dead } = store.counts();
      return { pending, dead };
    },
    async submit(job: EventJob) {
      if (job.targets.length === 0) return;
      await commit(job.targets.map((target) => ({ callId: job.ctx.callId, event: job.ctx.event, request: stored(target, target.pathTemplate, eventHeaders(job), job.raw) })));
    },
    async submitRequest(job: RequestJob) {
      await commit([{ callId: job.ctx.callId, event: job.ctx.event, request: stored(job.target, job.request.path, job.request.headers, job.request.body) }]);
    },
    async close() {
      closing = true;
      if (timer !== undefined) clearTimeout(timer);
      // Deliveries in flight finish (each within its timeout); anything not finished stays pending.
      await Promise.all(inFlight.values());
      store?.close();
    },
  };
}

function eventHeaders(job: EventJob): Record<string, string> {
  const headers: Record<string, string> = { 'x-webhook-event': job.ctx.event };
  if (job.ctx.callId !== undefined) headers['x-call-id'] = headerSafe(job.ctx.callId);
  if (job.ctx.assistant !== undefined) headers['x-assistant'] = job.ctx.assistant;
  return { ...headers, ...traceHeaders(job.ctx) };
}
