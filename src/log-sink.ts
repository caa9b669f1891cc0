// Where the gateway's log lines go: a file descriptor (stdout), written asynchronously in large
// batches, so that a line costs an append to an array and a log reader that stalls never holds
// up a call. What is still buffered is written synchronously when the process exits.

import { write as fsWrite, writeSync as fsWriteSync } from 'node:fs';
import { register } from 'on-exit-leak-free';

export interface LogSinkOptions {
  /** Default 1 (stdout). */
  fd?: number;
  /** A batch is written once this many bytes wait (default 64 KiB). */
  batchBytes?: number;
  /** …or this long after its first line was logged (default 200 ms). */
  flushMs?: number;
  /** Past this many unwritten bytes new lines are dropped and counted (default 16 MiB). */
  maxBufferedBytes?: number;
  /** Replaced in tests to produce the errors a real descriptor rarely gives (EAGAIN, partial writes). */
  write?: typeof fsWrite;
  writeSync?: typeof fsWriteSync;
}

export interface LogSink {
  /** pino's destination interface. False when the line was dropped (the buffer is full). */
  write(line: string): boolean;
  /** Writes what is buffered now; `done` runs once it is all written. */
  flush(done?: (err?: Error) => void): void;
  /** Writes everything buffered and in flight before returning (exit, fatal errors). */
  flushSync(): void;
  /** Lines dropped because the buffer was full, and batches lost to write errors, so far. */
  readonly dropped: { lines: number; batches: number };
}

const RETRY_MS = 10;
// A synchronous flush gives a full pipe this long before it gives up (the process is exiting).
const SYNC_RETRY_LIMIT_MS = 1000;
// The most UTF-8 bytes one UTF-16 code unit can take.
const MAX_BYTES_PER_CHAR = 3;

/**
 * Buffer.prototype.utf8Write, which Buffer#write(string, offset, 'utf8') ends in after checking
 * its arguments again on every call; present on every Node.js Buffer, though undocumented.
 */
type EncodingBuffer = Buffer & { utf8Write(text: string, offset: number): number };

interface Chunk {
  data: Buffer;
  /** Bytes filled. */
  used: number;
  /** Bytes already written out (only the chunk in flight has any). */
  written: number;
}

/**
 * sonic-boom (pino's stdout stream) measures every line's UTF-8 length, re-measures its whole
 * pending chunk on each line and cannot batch past 16 KiB; keeping lines as strings until a batch
 * is joined also kept thousands of them alive across garbage collections. Here each line is
 * encoded into a preallocated chunk as it arrives (a copy), and a full chunk is written in one call.
 */
export function createLogSink(options: LogSinkOptions = {}): LogSink {
  const fd = options.fd ?? 1;
  const batchBytes = options.batchBytes ?? 64 * 1024;
  const flushMs = options.flushMs ?? 200;
  const maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const writeAsync = options.write ?? fsWrite;
  const writeNow = options.writeSync ?? fsWriteSync;

  /** Filled in order; the first one may be in flight. */
  let chunks: Chunk[] = [];
  let bufferedBytes = 0;
  let inFlight: Chunk | undefined;
  let timer: NodeJS.Timeout | undefined;
  let waiters: Array<(err?: Error) => void> = [];
  const dropped = { lines: 0, batches: 0 };
  let reportedError = false;
  let reportedFull = false;

  // The log itself cannot carry these; stderr is the one place left to say them (once each).
  const report = (err: NodeJS.ErrnoException) => {
    dropped.batches++;
    if (reportedError) return;
    reportedError = true;
    process.stderr.write(`hms-tool-router: writing logs to fd ${fd} failed (${err.code ?? err.message}); lines are being lost\n`);
  };
  const reportFull = () => {
    dropped.lines++;
    if (reportedFull) return;
    reportedFull = true;
    process.stderr.write(`hms-tool-router: ${maxBufferedBytes} bytes of log lines are waiting for fd ${fd} to take them; new lines are being dropped\n`);
  };

  /** The chunk being filled, with room for `bytes` more. */
  function room(bytes: number): Chunk {
    const last = chunks[chunks.length - 1];
    if (last !== undefined && last !== inFlight && last.data.length - last.used >= bytes) return last;
    // Twice the batch: a chunk then usually reaches the batch size before a line fails to fit.
    const chunk = { data: Buffer.allocUnsafeSlow(Math.max(2 * batchBytes, bytes)), used: 0, written: 0 };
    chunks.push(chunk);
    return chunk;
  }

  /** A full chunk waits: the first one has reached the batch size, or a later one was opened. */
  const batchIsDue = () => chunks.length > 1 || (chunks[0] !== undefined && chunks[0].used >= batchBytes);

  function arm() {
    if (timer === undefined && inFlight === undefined && bufferedBytes > 0) {
      timer = setTimeout(startBatch, flushMs);
      timer.unref();
    }
  }

  function startBatch() {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (inFlight !== undefined) return;
    const next = chunks[0];
    if (next === undefined || next.used === 0) return settle();
    inFlight = next;
    writeRest();
  }

  function writeRest() {
    const chunk = inFlight!;
    writeAsync(fd, chunk.data, chunk.written, chunk.used - chunk.written, null, (err, written) => {
      if (inFlight !== chunk) return; // flushSync wrote it meanwhile
      if (err) {
        // A non-blocking pipe that is full: try again shortly, keeping the order of lines.
        if (err.code === 'EAGAIN') {
          setTimeout(writeRest, RETRY_MS).unref();
          return;
        }
        report(err);
        chunk.written = chunk.used;
      } else {
        chunk.written += written;
      }
      if (chunk.written < chunk.used) return writeRest();
      finished(chunk);
      if (waiters.length > 0 || batchIsDue()) startBatch();
      else arm();
    });
  }

  function finished(chunk: Chunk) {
    inFlight = undefined;
    chunks.shift();
    bufferedBytes -= chunk.used;
  }

  function settle() {
    const done = waiters;
    waiters = [];
    for (const waiter of done) waiter();
  }

  function writeAllSync(chunk: Chunk) {
    const giveUpAt = Date.now() + SYNC_RETRY_LIMIT_MS;
    while (chunk.written < chunk.used) {
      try {
        chunk.written += writeNow(fd, chunk.data, chunk.written, chunk.used - chunk.written);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' && Date.now() < giveUpAt) continue;
        report(err as NodeJS.ErrnoException);
        return;
      }
    }
  }

  const sink: LogSink = {
    dropped,
    write(line) {
      const most = line.length * MAX_BYTES_PER_CHAR;
      if (bufferedBytes + most > maxBufferedBytes && bufferedBytes + Buffer.byteLength(line) > maxBufferedBytes) {
        reportFull();
        return false;
      }
      const chunk = room(most);
      const bytes = (chunk.data as EncodingBuffer).utf8Write(line, chunk.used);
      chunk.used += bytes;
      bufferedBytes += bytes;
      if (inFlight === undefined && batchIsDue()) startBatch();
      else arm();
      return true;
    },
    flush(done) {
      // Queued even without a callback: it is what makes a batch in flight be followed at once.
      waiters.push(done ?? (() => undefined));
      if (inFlight === undefined) startBatch();
    },
    flushSync() {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      // The chunk in flight is written again from where it stood: a line printed twice at exit is
      // better than one lost.
      const all = chunks;
      chunks = [];
      inFlight = undefined;
      bufferedBytes = 0;
      for (const chunk of all) writeAllSync(chunk);
      settle();
    },
  };
  // Held weakly: a sink nobody uses any more is not kept alive for the exit hook.
  register(sink, (s) => s.flushSync());
  return sink;
}
