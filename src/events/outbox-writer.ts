// Group commit for the outbox: every write asked for while the previous commit is on its way to
// disk (events waiting for their 200, deliveries claimed, outcomes recorded) shares the next
// transaction, so one fsync covers them all; each caller hears only its own failure. The writer
// runs in a worker thread with its own connection, so commits and fsyncs never stall the event loop.

import { Worker } from 'node:worker_threads';
import type { DeliveryRow, DeliveryStatus, NewDelivery, Outcome, OutboxStore } from './outbox-store.js';

/** One write, as data: it crosses to the writer thread. */
export type WriteOp =
  | { op: 'insert'; deliveries: NewDelivery[]; now: number }
  | { op: 'claim'; seqs: readonly number[]; now: number }
  | { op: 'settle'; outcomes: readonly Outcome[]; now: number }
  | { op: 'purge'; status: DeliveryStatus; olderThan: number };

export type WriteRequest = { id: number; write: WriteOp };
export type WriteReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

export interface OutboxWriter {
  /** Resolves with the new delivery ids once they are committed; rejects when they are not. */
  insert(deliveries: NewDelivery[], now: number): Promise<string[]>;
  /** The deliveries still pending, whole, each with one more attempt counted. */
  claim(seqs: readonly number[], now: number): Promise<DeliveryRow[]>;
  settle(outcomes: readonly Outcome[], now: number): Promise<void>;
  purge(status: DeliveryStatus, olderThan: number): Promise<number>;
  /** Waits for every write asked for so far, then lets go of the connection. */
  close(): Promise<void>;
}

function applyWrite(store: OutboxStore, write: WriteOp): unknown {
  switch (write.op) {
    case 'insert':
      return store.insert(write.deliveries, write.now);
    case 'claim':
      return store.claim(write.seqs, write.now);
    case 'settle':
      return store.settle(write.outcomes, write.now);
    case 'purge':
      return store.purge({ status: write.status, olderThan: write.olderThan });
  }
}

/** Commits a batch of writes as one transaction and says how each went. */
export function commitGroup(store: OutboxStore, batch: readonly WriteRequest[]): WriteReply[] {
  try {
    const results = store.group(batch.map(({ write }) => () => applyWrite(store, write)));
    return results.map((r, i) => (r.ok ? { id: batch[i]!.id, ok: true, value: r.value } : { id: batch[i]!.id, ok: false, message: r.error.message }));
  } catch (err) {
    return batch.map(({ id }) => ({ id, ok: false, message: (err as Error).message }));
  }
}

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * The asking side: the writes asked for in one turn of the event loop (the requests parsed in
 * that turn) go together at its end, as one batch.
 */
function createBatcher(sendBatch: (batch: WriteRequest[]) => void, onBusy: (busy: boolean) => void) {
  const waiting = new Map<number, Waiting>();
  let next: WriteRequest[] = [];
  let nextId = 0;
  let idle: (() => void) | undefined;

  const send = () => {
    const batch = next;
    next = [];
    if (batch.length > 0) sendBatch(batch);
  };
  const settled = () => {
    if (waiting.size > 0) return;
    onBusy(false);
    idle?.();
  };
  return {
    request<T>(write: WriteOp): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const id = nextId++;
        if (waiting.size === 0) onBusy(true);
        waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
        if (next.length === 0) setImmediate(send);
        next.push({ id, write });
      });
    },
    answer(replies: readonly WriteReply[]) {
      for (const reply of replies) {
        const w = waiting.get(reply.id);
        if (!w) continue;
        waiting.delete(reply.id);
        if (reply.ok) w.resolve(reply.value);
        else w.reject(new Error(reply.message));
      }
      settled();
    },
    /** Everything sent and not answered is refused (the writer died); what is yet to go still goes. */
    failSent(err: Error) {
      const unsent = new Set(next.map((r) => r.id));
      for (const [id, w] of waiting) {
        if (unsent.has(id)) continue;
        waiting.delete(id);
        w.reject(err);
      }
      settled();
    },
    idle: () => (waiting.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (idle = resolve))),
  };
}

/**
 * The committing side: batches that arrive while a commit is syncing join into the next group, so
 * the group grows with the load and one fsync covers it.
 */
export function createGroupCommitter(store: OutboxStore, answer: (replies: WriteReply[]) => void): (batch: readonly WriteRequest[]) => void {
  let queue: WriteRequest[] = [];
  const flush = () => {
    const group = queue;
    queue = [];
    answer(commitGroup(store, group));
  };
  return (batch) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push(...batch);
  };
}

function writerFrom(request: <T>(write: WriteOp) => Promise<T>, close: () => Promise<void>): OutboxWriter {
  return {
    insert: (deliveries, now) => request({ op: 'insert', deliveries, now }),
    // Buffers come back from the thread as plain Uint8Arrays.
    claim: async (seqs, now) => (await request<DeliveryRow[]>({ op: 'claim', seqs, now })).map((row) => ({ ...row, body: Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength) })),
    settle: (outcomes, now) => request({ op: 'settle', outcomes, now }),
    purge: (status, olderThan) => request({ op: 'purge', status, olderThan }),
    close,
  };
}

/** Group commit on this thread, through `store` (a store only this connection sees, like ':memory:'). */
export function createInThreadWriter(store: OutboxStore): OutboxWriter {
  const batcher = createBatcher(
    (batch) => batcher.answer(commitGroup(store, batch)),
    () => {},
  );
  return writerFrom(batcher.request, () => batcher.idle());
}

// The thread is this directory's outbox-thread, compiled (.js) or, under the test loader, source (.ts).
const threadFile = new URL(import.meta.url.endsWith('.ts') ? './outbox-thread.ts' : './outbox-thread.js', import.meta.url);

/** After the thread died, writes stay on this thread this long before a new one is started. */
const RESTART_AFTER_MS = 1000;

/**
 * Group commit on a worker thread with its own connection to `store`'s file. The thread starts at
 * the first write (a gateway that takes no events never starts one); until it is ready, and for a
 * while after it died, batches are committed here through `store`, so no write waits for a thread
 * to start. Only one connection writes at a time: this one before the thread is ready, the
 * thread's after.
 */
export function startWriterThread(store: OutboxStore): OutboxWriter & { threadReady(): Promise<void> } {
  let thread: { worker: Worker; ready: boolean } | undefined;
  let diedAt = -Infinity;
  const readyWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  let busy = false;
  // Keeps the process alive only while a write, or someone waiting for the thread, needs it.
  const holdProcess = () => (busy || readyWaiters.length > 0 ? thread?.worker.ref() : thread?.worker.unref());
  const batcher = createBatcher(
    (batch) => {
      if (!thread && Date.now() - diedAt >= RESTART_AFTER_MS) thread = start();
      if (thread?.ready) thread.worker.postMessage(batch);
      else batcher.answer(commitGroup(store, batch));
    },
    (isBusy) => {
      busy = isBusy;
      holdProcess();
    },
  );
  function start(): { worker: Worker; ready: boolean } {
    const started = { worker: new Worker(threadFile, { workerData: { path: store.path } }), ready: false };
    const gone = (why: string) => {
      if (thread !== started) return;
      thread = undefined;
      diedAt = Date.now();
      batcher.failSent(new Error(why));
      for (const waiter of readyWaiters.splice(0)) waiter.reject(new Error(why));
    };
    started.worker.on('message', (message: WriteReply[] | 'ready') => {
      if (message !== 'ready') return batcher.answer(message);
      started.ready = true;
      for (const waiter of readyWaiters.splice(0)) waiter.resolve();
      holdProcess();
    });
    started.worker.on('error', (err) => gone(`the outbox writer failed: ${err.message}`));
    started.worker.on('exit', (code) => gone(`the outbox writer stopped (exit code ${code})`));
    started.worker.unref();
    return started;
  }
  const writer = writerFrom(batcher.request, async () => {
    await batcher.idle();
    const stopping = thread?.worker;
    thread = undefined;
    for (const waiter of readyWaiters.splice(0)) waiter.reject(new Error('the outbox writer was closed'));
    if (!stopping) return;
    // The thread closes its connection (checkpointing the WAL) and ends by itself.
    const exited = new Promise((resolve) => stopping.once('exit', resolve));
    stopping.ref();
    stopping.postMessage('close');
    await exited;
  });
  return {
    ...writer,
    /** Starts the thread if it is not running, and resolves once writes go to it (rejects if it dies first). */
    threadReady() {
      if (thread?.ready) return Promise.resolve();
      thread ??= start();
      const ready = new Promise<void>((resolve, reject) => readyWaiters.push({ resolve, reject }));
      holdProcess();
      return ready;
    },
  };
}
