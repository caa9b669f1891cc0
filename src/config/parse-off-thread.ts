// parseConfig in a worker thread: same result, same ConfigError, without blocking the event loop.

import { Worker } from 'node:worker_threads';
import { ConfigError, type Diagnostic, type LoadedConfig } from './load.js';

type WorkerReply = { ok: true; loaded: LoadedConfig } | { ok: false; diagnostics: Diagnostic[] } | { ok: false; crash: string };

// The worker is this directory's parse-worker, compiled (.js) or, under the test loader, source (.ts).
const workerFile = new URL(import.meta.url.endsWith('.ts') ? './parse-worker.ts' : './parse-worker.js', import.meta.url);

export function parseConfigOffThread(text: string, file: string, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerFile, { workerData: { text, file, env } });
    worker.once('message', (reply: WorkerReply) => {
      void worker.terminate();
      if (reply.ok) resolve(reply.loaded);
      else if ('diagnostics' in reply) reject(new ConfigError(reply.diagnostics));
      else reject(new Error(`routes file parser failed: ${reply.crash}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`routes file parser exited with code ${code}`)));
  });
}
