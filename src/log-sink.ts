// Where the gateway's log lines go: a file descriptor (stdout), written asynchronously in large
// batches, so that a line costs a copy into a buffer and a log reader that stalls never holds up
// a call. What is still buffered is written synchronously when the process exits.

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
  /** Writes what is buffered now; `done` runs once every line logged before the call is written (with the error if a batch of them was lost). */
  flush(done?: (err?: Error) => void): void;
  /** Writes everything buffered before returning (exit, fatal errors); a batch whose write is already running is left to it. */
  flushSync(): void;
  /** Lines dropped because the buffer was full, and batches lost to write errors, so far. */
  readonly dropped: { lines: number; batches: number };
}

const RETRY_MS = 10;
// A synchronous flush (the process is exiting) gives a full pipe this long in all, then gives up.
const SYNC_FLUSH_LIMIT_MS = 1000;
const SYNC_RETRY_SLEEP_MS = 1;
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

/** A flush(done) caller: called back once every byte logged before it has been written. */
interface Waiter {
  upTo: number;
  done: (err?: Error) => void;
  error?: Error;
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
  /** Memory the chunks hold (their full size, not what is filled): what the cap limits. */
  let heldBytes = 0;
  let inFlight: Chunk | undefined;
  /** True from an fs.write call until its callback: the kernel may be writing those bytes now. */
  let writing = false;
  let timer: NodeJS.Timeout | undefined;
  /** Bytes taken since start, and bytes written (or given up on) since start. */
  let queuedTotal = 0;
  let doneTotal = 0;
  let waiters: Waiter[] = [];
  const dropped = { lines: 0, batches: 0 };
  let reportedError = false;
  let reportedFull = false;

  // The log itself cannot carry these; stderr is the one place left to say them (once each).
  const lost = (chunk: Chunk, err: NodeJS.ErrnoException) => {
    dropped.batches++;
    for (const waiter of waiters) waiter.error ??= err;
    chunk.written = chunk.used;
    if (reportedError) return;
    reportedError = true;
    process.stderr.write(`hms-tool-router: writing logs to fd ${fd} failed (${err.code ?? err.message}); lines are being lost\n`);
  };
  const full = () => {
    dropped.lines++;
    if (reportedFull) return;
    reportedFull = true;
    process.stderr.write(`hms-tool-router: ${maxBufferedBytes} bytes of log lines are waiting for fd ${fd} to take them; new lines are being dropped\n`);
  };

  /** A full chunk waits: the first one has reached the batch size, or a later one was opened. */
  const batchIsDue = () => chunks.length > 1 || (chunks[0] !== undefined && chunks[0].used >= batchBytes);

  function arm() {
    if (timer === undefined && inFlight === undefined && chunks.length > 0) {
      timer = setTimeout(startBatch, flushMs);
      timer.unref();
    }
  }

  function disarm() {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
  }

  function startBatch() {
    disarm();
    if (inFlight !== undefined) return;
    const next = chunks[0];
    if (next === undefined) return settle();
    inFlight = next;
    writeRest(next);
  }

  function writeRest(chunk: Chunk) {
    // A retry that flushSync overtook: that chunk is gone, and any new one has its own write.
    if (inFlight !== chunk) return;
    writing = true;
    writeAsync(fd, chunk.data, chunk.written, chunk.used - chunk.written, null, (err, written) => {
      writing = false;
      if (inFlight !== chunk) return; // flushSync took over meanwhile
      if (err) {
        // A non-blocking pipe that is full: try again shortly, keeping the order of lines.
        if (err.code === 'EAGAIN') {
          setTimeout(() => writeRest(chunk), RETRY_MS).unref();
          return;
        }
        lost(chunk, err);
      } else {
        chunk.written += written;
      }
      if (chunk.written < chunk.used) return writeRest(chunk);
      finished(chunk);
      settle();
      // A flush waiting for bytes not written yet goes on at once; otherwise batch as usual.
      if (batchIsDue() || waiters.length > 0) startBatch();
      else arm();
    });
  }

  function finished(chunk: Chunk) {
    if (inFlight === chunk) inFlight = undefined;
    chunks.splice(chunks.indexOf(chunk), 1);
    heldBytes -= chunk.data.length;
    doneTotal += chunk.used;
  }

  function settle() {
    if (waiters.length === 0) return;
    const ready = waiters.filter((w) => w.upTo <= doneTotal);
    if (ready.length === 0) return;
    waiters = waiters.filter((w) => w.upTo > doneTotal);
    for (const waiter of ready) waiter.done(waiter.error);
  }

  /** Atomics.wait: a short sleep that lets a full pipe drain without spinning the CPU. */
  const nap = (() => {
    const cell = new Int32Array(new SharedArrayBuffer(4));
    return (ms: number) => void Atomics.wait(cell, 0, 0, ms);
  })();

  const sink: LogSink = {
    dropped,
    write(line) {
      if (line.length === 0) return true;
      const most = line.length * MAX_BYTES_PER_CHAR;
      let chunk = chunks[chunks.length - 1];
      if (chunk === undefined || chunk === inFlight || chunk.data.length - chunk.used < most) {
        // Twice the batch: a chunk then usually reaches the batch size before a line fails to fit.
        const size = Math.max(2 * batchBytes, most);
        if (heldBytes + size > maxBufferedBytes) {
          full();
          return false;
        }
        chunk = { data: Buffer.allocUnsafeSlow(size), used: 0, written: 0 };
        chunks.push(chunk);
        heldBytes += size;
      }
      const bytes = (chunk.data as EncodingBuffer).utf8Write(line, chunk.used);
      chunk.used += bytes;
      queuedTotal += bytes;
      if (inFlight === undefined && batchIsDue()) startBatch();
      else arm();
      return true;
    },
    flush(done) {
      // With a batch in flight the waiter is settled when it lands (writeRest goes on from there).
      waiters.push({ upTo: queuedTotal, done: done ?? (() => undefined) });
      if (inFlight === undefined) startBatch();
    },
    flushSync() {
      disarm();
      // A chunk whose fs.write is still running is left to it: writing it again here printed
      // its lines twice (and, on a pipe, could split a line). One between writes (waiting to
      // retry after EAGAIN) is finished here, from where it stood.
      const pending = chunks.filter((chunk) => !(chunk === inFlight && writing));
      const giveUpAt = Date.now() + SYNC_FLUSH_LIMIT_MS;
      for (const chunk of pending) {
        if (chunk === inFlight) inFlight = undefined;
        while (chunk.written < chunk.used) {
          try {
            chunk.written += writeNow(fd, chunk.data, chunk.written, chunk.used - chunk.written);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && Date.now() < giveUpAt) {
              nap(SYNC_RETRY_SLEEP_MS);
              continue;
            }
            lost(chunk, err as NodeJS.ErrnoException);
          }
        }
        finished(chunk);
      }
      settle();
    },
  };
  // Held weakly: a sink nobody uses any more is not kept alive for the exit hook.
  register(sink, (s) => s.flushSync());
  return sink;
}
