// Runs in a worker thread: the outbox's writer. Owns one connection to the store and commits the
// batches of writes the gateway sends in groups, so fsyncs never stall its event loop.

import { parentPort, workerData } from 'node:worker_threads';
import { openOutboxStore } from './outbox-store.js';
import { createGroupCommitter, type WriteRequest } from './outbox-writer.js';

const port = parentPort!;
const store = openOutboxStore((workerData as { path: string }).path);
const commit = createGroupCommitter(store, (replies) => port.postMessage(replies));

port.on('message', (message: WriteRequest[] | 'close') => {
  if (message === 'close') {
    store.close();
    port.close();
    return;
  }
  for (const { write } of message) {
    // Bodies arrive as plain Uint8Arrays; SQLite binds only Buffers as blobs.
    if (write.op === 'insert') for (const d of write.deliveries) d.request.body = Buffer.from(d.request.body.buffer, d.request.body.byteOffset, d.request.body.byteLength);
  }
  commit(message);
});
// From now on the gateway sends its writes here instead of committing them itself.
port.postMessage('ready');
