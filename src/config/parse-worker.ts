// Runs in a worker thread: parses and validates routes files on request, so a reload of a large
// table never stalls calls on the main thread. It stays up between requests, its modules loaded
// and its code warm, for as long as parse-off-thread.ts keeps it.

import { parentPort } from 'node:worker_threads';
import { ConfigError, parseConfig } from './load.js';
import type { ParseReply, ParseRequest } from './parse-off-thread.js';

const port = parentPort!;
port.on('message', ({ id, text, file, env, reply }: ParseRequest) => {
  let answer: ParseReply;
  try {
    const loaded = parseConfig(text, file, env, { lint: true });
    // A warm-up parse sends nothing back: copying 10,000 routes to the main thread is not free.
    answer = reply ? { id, ok: true, loaded } : { id, ok: true };
  } catch (err) {
    answer = err instanceof ConfigError ? { id, ok: false, diagnostics: err.diagnostics } : { id, ok: false, crash: (err as Error).stack ?? String(err) };
  }
  port.postMessage(answer);
});
