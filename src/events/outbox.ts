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
import { createInThreadWriter, startWriterThread } from './outbox-writer.js';

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

  // This connection only reads (polls, counts); every write goes through the writer's.
  const writer = store ? (store.path === ':memory:' ? createInThreadWriter(store) : startWriterThread(store)) : undefined;
  /** Deliveries being sent (by seq) until their outcome is committed: the poll skips them. */
  const inFlight = new Map<number, Promise<void>>();
  const perTarget = new Map<string, number>();
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  /** The next poll is already due now: more reasons to poll change nothing. */
  let timerSoon = false;

  async function commit(rows: NewDelivery[]): Promise<void> {
    if (closing) throw new StoreUnavailable('the gateway is shutting down');
    if (!writer) throw new StoreUnavailable(problem ?? 'no outbox store');
    try {
      await writer.insert(rows, now());
    } catch (err) {
      const reason = `the outbox store refused a write: ${(err as Error).message}`;
      // Every event of a failed group lands here: one line per new reason, not per event.
      if (problem !== reason) logger.error({ reason }, 'events not accepted: outbox store unavailable');
      problem = reason;
      throw new StoreUnavailable(reason);
    }
    if (problem?.startsWith('the outbox store refused a write')) problem = undefined;
    // A target already sending all it may picks the new rows up when a slot frees.
    if (rows.some((r) => (perTarget.get(r.request.targetId) ?? 0) < settings.concurrency)) schedule(0);
  }

  function stored(target: CompiledTarget, path: string, headers: Record<string, string>, body: Buffer | string | undefined): NewDelivery['request'] {
    const kept: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!NOT_STORED.has(name) && target.headers[name] !== value) kept[name] = value;
    }
    return { targetId: target.id, targetUrl: `${target.origin}${target.pathTemplate}`, path, method: target.method, headers: kept, body: ownBuffer(body ?? '') };
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

  function logFields(row: Pick<DeliveryRow, 'id' | 'callId' | 'event' | 'headers' | 'targetUrl'>) {
    return {
      delivery_id: row.id,
      call_id: row.callId === null ? undefined : maskPhoneNumbers(row.callId),
      event: row.event,
      tool: row.headers['x-tool-name'],
      target: row.targetUrl.replace(/\?.*$/, ''),
    };
  }

  /** Sends one claimed delivery and records how it went (committed with the others of its turn). */
  async function deliver(row: DeliveryRow, target: CompiledTarget): Promise<void> {
    const log = logFields(row);
    const attempt = row.attempts;
    const outcome = await forward(requestFor(row, target, attempt), { timeoutMs: target.timeoutMs });
    const status = outcome.ok ? outcome.status : undefined;
    if (status !== undefined && status >= 200 && status < 300) {
      await writer!.settle([{ seq: row.seq, status: 'delivered' }], now());
      logger.info({ ...log, attempt, status, ms: outcome.elapsedMs }, 'delivered');
      return;
    }
    const error = outcome.ok ? `HTTP ${outcome.status}` : `${outcome.reason}: ${outcome.detail}`;
    const final = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
    const exhausted = attempt >= settings.maxAttempts || now() - row.createdAt >= settings.maxAgeMs;
    if (final || exhausted) {
      await writer!.settle([{ seq: row.seq, status: 'dead', error }], now());
      logger.error({ ...log, attempt, status, reason: final ? 'rejected' : 'gave up', last_error: error }, 'delivery dead-lettered');
      return;
    }
    const wait = backoff(attempt);
    await writer!.settle([{ seq: row.seq, status: 'pending', error, nextAt: now() + wait }], now());
    logger.warn({ ...log, attempt, status, last_error: error, retry_in_ms: wait }, 'delivery failed; will retry');
  }

  /**
   * Claims the picked deliveries in one write (counting their attempts), then sends them. Each
   * stays in flight until its outcome is committed, so no poll picks it twice.
   */
  function send(seqs: number[], target: CompiledTarget): void {
    const claimed = writer!.claim(seqs, now());
    for (const seq of seqs) {
      perTarget.set(target.id, (perTarget.get(target.id) ?? 0) + 1);
      const work = claimed
        .then(async (rows) => {
          const row = rows.find((r) => r.seq === seq);
          // No longer pending (purged or settled by the CLI meanwhile): nothing to send.
          if (row) await deliver(row, target);
          return true;
        })
        .catch((err: unknown) => {
          logger.error({ seq, detail: (err as Error).message }, 'delivery failed unexpectedly; it stays pending');
          return false;
        })
        .then((ok) => {
          inFlight.delete(seq);
          perTarget.set(target.id, (perTarget.get(target.id) ?? 1) - 1);
          // After a failure (the store refusing writes) the next poll tries again, not at once.
          if (ok) schedule(0);
        });
      inFlight.set(seq, work);
    }
  }

  function tick(): void {
    timer = undefined;
    timerSoon = false;
    if (closing || !store) return;
    prune();
    try {
      const exclude = [...inFlight.keys()];
      for (const targetId of store.pendingTargets()) {
        const free = settings.concurrency - (perTarget.get(targetId) ?? 0);
        if (free <= 0) continue;
        const seqs = store.due(targetId, now(), free, exclude);
        if (seqs.length === 0) continue;
        const target = deps.resolveTarget(targetId);
        if (target) send(seqs, target);
        else for (const seq of seqs) deadTarget(seq);
      }
    } catch (err) {
      logger.error({ detail: (err as Error).message }, 'outbox poll failed');
    }
    schedule(settings.pollMs);
  }

  /** A delivery whose target left routes.yaml is dead-lettered without an attempt. */
  function deadTarget(seq: number): void {
    const row = store!.get(seq);
    const work = writer!
      .settle([{ seq, status: 'dead', error: 'target no longer in routes.yaml' }], now())
      .then(() => logger.error({ ...(row ? logFields(row) : { seq }), reason: 'target removed' }, 'delivery dead-lettered'))
      .then(
        () => schedule(0),
        (err: unknown) => logger.error({ seq, detail: (err as Error).message }, 'could not dead-letter a delivery; it stays pending'),
      )
      .finally(() => inFlight.delete(seq));
    inFlight.set(seq, work);
  }

  function schedule(ms: number): void {
    if (closing || !store || (timer !== undefined && (ms > 0 || timerSoon))) return;
    clearTimeout(timer);
    timerSoon = ms === 0;
    timer = setTimeout(tick, ms);
  }

  let prunedAt = 0;
  /** Delivered events are kept `store.retention`, then removed: at start, then hourly. */
  function prune(): void {
    if (!store || now() - prunedAt < PRUNE_EVERY_MS) return;
    prunedAt = now();
    const filter = { status: 'delivered' as const, olderThan: now() - settings.retentionMs };
    const failed = (err: unknown) => logger.warn({ detail: (err as Error).message }, 'could not prune delivered events');
    try {
      // The purge scans the delivered rows, so it runs on the writer thread; a store without any
      // (a new gateway) does not start the writer for it.
      if (!store.has('delivered')) return;
    } catch (err) {
      return failed(err);
    }
    writer!
      .purge(filter.status, filter.olderThan)
      .then((removed) => {
        if (removed > 0) logger.info({ removed }, 'pruned delivered events past store.retention');
      })
      .catch(failed);
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
      await writer?.close();
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

/**
 * A copy with a memory block of its own: small Buffers share 8 KB pool blocks, and handing one to
 * the writer thread would copy the whole block.
 */
function ownBuffer(body: Buffer | string): Buffer {
  if (typeof body === 'string') {
    const encoded = Buffer.allocUnsafeSlow(Buffer.byteLength(body));
    encoded.write(body);
    return encoded;
  }
  const copy = Buffer.allocUnsafeSlow(body.length);
  body.copy(copy);
  return copy;
}
