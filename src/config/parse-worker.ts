// Runs in a worker thread: parses and validates one routes file, so a reload of a large table
// (10,000 tools take a second or more of YAML work) never stalls calls on the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, parseConfig } from './load.js';

const { text, file, env } = workerData as { text: string; file: string; env: NodeJS.ProcessEnv };
try {
  parentPort!.postMessage({ ok: true, loaded: parseConfig(text, file, env, { lint: true }) });
} catch (err) {
  if (err instanceof ConfigError) parentPort!.postMessage({ ok: false, diagnostics: err.diagnostics });
  else parentPort!.postMessage({ ok: false, crash: (err as Error).stack ?? String(err) });
}
