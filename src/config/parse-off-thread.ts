// parseConfig in a worker thread: same result, same ConfigError, without blocking the event loop.
// For a large file the worker is kept between reloads and warmed up once after start, so a reload
// pays neither the worker's module loading nor its first, slow run of the parser.

import { Worker } from 'node:worker_threads';
import { ConfigError, FAST_PATH_MIN_BYTES, type Diagnostic, type LoadedConfig } from './load.js';

export interface ParseRequest {
  id: number;
  text: string;
  file: string;
  env: NodeJS.ProcessEnv;
  /** False for a warm-up: the worker parses, and answers without the config. */
  reply: boolean;
}

export type ParseReply = { id: number; ok: true; loaded?: LoadedConfig } | { id: number; ok: false; diagnostics: Diagnostic[] } | { id: number; ok: false; crash: string };

export interface OffThreadParser {
  parse(text: string, file: string, env: NodeJS.ProcessEnv): Promise<LoadedConfig>;
  /** Starts the worker and has it parse `text` once, so that the next reload finds it warm. */
  warmUp(text: string, file: string, env: NodeJS.ProcessEnv): void;
  /** Whether a worker is up (parsing, or kept warm for the next reload). */
  hasWorker(): boolean;
  close(): void;
}

// The worker is this directory's parse-worker, compiled (.js) or, under the test loader, source (.ts).
const workerFile = new URL(import.meta.url.endsWith('.ts') ? './parse-worker.ts' : './parse-worker.js', import.meta.url);

const WARM_UP_RUNS = 2;

/** Whether a worker is worth keeping after parsing this text: small files parse in milliseconds. */
const worthKeeping = (text: string) => text.length >= FAST_PATH_MIN_BYTES;

export function createOffThreadParser(): OffThreadParser {
  let worker: Worker | undefined;
  let keep = false;
  let nextId = 1;
  const pending = new Map<number, { by: Worker; resolve: (reply: ParseReply) => void; reject: (err: Error) => void }>();
  const pendingOn = (which: Worker) => [...pending].filter(([, waiter]) => waiter.by === which);

  const stop = (which: Worker) => {
    if (worker === which) worker = undefined;
    void which.terminate();
  };
  const start = () => {
    const started = new Worker(workerFile);
    // Only this worker's requests: a worker stopped by close() may exit after a new one started.
    const failAll = (err: Error) => {
      if (worker === started) worker = undefined;
      for (const [id, waiter] of pendingOn(started)) {
        pending.delete(id);
        waiter.reject(err);
      }
    };
    started.on('message', (reply: ParseReply) => {
      const waiter = pending.get(reply.id);
      pending.delete(reply.id);
      if (pendingOn(started).length === 0) {
        // An idle worker does not keep the process alive; a small file's is not kept at all.
        if (keep) started.unref();
        else stop(started);
      }
      waiter?.resolve(reply);
    });
    started.on('error', failAll);
    started.on('exit', (code) => failAll(new Error(`routes file parser exited with code ${code}`)));
    return started;
  };
  const request = (text: string, file: string, env: NodeJS.ProcessEnv, reply: boolean) =>
    new Promise<ParseReply>((resolve, reject) => {
      keep = worthKeeping(text);
      const by = (worker ??= start());
      by.ref();
      const id = nextId++;
      pending.set(id, { by, resolve, reject });
      by.postMessage({ id, text, file, env, reply } satisfies ParseRequest);
    });

  return {
    async parse(text, file, env) {
      const reply = await request(text, file, env, true);
      if (reply.ok) return reply.loaded!;
      if ('diagnostics' in reply) throw new ConfigError(reply.diagnostics);
      throw new Error(`routes file parser failed: ${reply.crash}`);
    },
    warmUp(text, file, env) {
      if (!worthKeeping(text)) return;
      // Twice: V8 optimises the parser's hot code only on its second run. The outcome does not
      // matter: an invalid file is refused at the reload itself.
      for (let run = 0; run < WARM_UP_RUNS; run++) request(text, file, env, false).catch(() => undefined);
    },
    hasWorker: () => worker !== undefined,
    close() {
      if (worker) stop(worker);
    },
  };
}
