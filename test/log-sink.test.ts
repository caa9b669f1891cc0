import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, write as fsWrite, writeSync as fsWriteSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { createLogSink, type LogSinkOptions } from '../src/log-sink.js';
import { ROOT, requireBuiltCli } from './helpers/cli.js';
import { eventually } from './helpers/gateway.js';

const run = promisify(execFile);

/** A real file to write to, opened for the test and closed and removed at its end. */
function logFile(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'log-sink-'));
  const path = join(dir, 'out.log');
  const fd = openSync(path, 'a');
  let open = true;
  t.teardown(() => {
    if (open) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    fd,
    read: () => readFileSync(path, 'utf8'),
    close() {
      closeSync(fd);
      open = false;
    },
  };
}

/** What the code under test writes to stderr during the test (and not to the test's output). */
function captureStderr(t: Test): string[] {
  const seen: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => seen.push(String(chunk)) > 0) as typeof process.stderr.write;
  t.teardown(() => {
    process.stderr.write = original;
  });
  return seen;
}

const line = (n: number, pad = 0) => `${JSON.stringify({ n, pad: 'x'.repeat(pad) })}\n`;

t.test('lines wait for the batch timer, then reach the file whole and in order', async (t) => {
  const file = logFile(t);
  const sink = createLogSink({ fd: file.fd, flushMs: 100 });
  for (let n = 0; n < 5; n++) t.equal(sink.write(line(n)), true);
  t.equal(file.read(), '', 'nothing is written per line');
  const started = performance.now();
  await eventually(() => file.read() !== '');
  t.ok(performance.now() - started < 5000, 'written within a generous bound of the 100 ms timer');
  t.equal(file.read(), [0, 1, 2, 3, 4].map((n) => line(n)).join(''));
});

t.test('a full batch is written at once, without waiting for the timer', async (t) => {
  const file = logFile(t);
  const sink = createLogSink({ fd: file.fd, batchBytes: 1000, flushMs: 600_000 });
  const lines = Array.from({ length: 20 }, (_, n) => line(n, 80));
  for (const l of lines) sink.write(l);
  // 20 lines of ~100 characters: the first batch starts at the 10th; the rest follow it.
  await eventually(() => file.read().length >= lines.slice(0, 10).join('').length);
  // Called while that batch may still be in flight: the rest follows it at once.
  sink.flush();
  await eventually(() => file.read() === lines.join(''));
  t.equal(file.read(), lines.join(''));
});

t.test('characters outside ASCII arrive intact, with the default batch size and many lines', async (t) => {
  const file = logFile(t);
  const sink = createLogSink({ fd: file.fd });
  const lines = Array.from({ length: 5000 }, (_, n) => `${JSON.stringify({ n, said: 'Grüße, 50 € 📞 日本語のテキスト' })}\n`);
  for (const l of lines) sink.write(l);
  await new Promise<void>((resolve) => sink.flush(() => resolve()));
  t.equal(file.read(), lines.join(''));
});

t.test('flush(done) calls back once everything logged before it is written', async (t) => {
  const file = logFile(t);
  const sink = createLogSink({ fd: file.fd, flushMs: 600_000 });
  sink.write(line(1));
  await new Promise<void>((resolve, reject) => sink.flush((err) => (err ? reject(err) : resolve())));
  t.equal(file.read(), line(1));
  // With nothing buffered it still calls back.
  await new Promise<void>((resolve) => sink.flush(() => resolve()));
  t.equal(file.read(), line(1));
});

/**
 * fs.write that can be held back, as a stalled reader holds a pipe: while `stalled`, calls wait
 * in `held` and run (for real) when released.
 */
function stallableWrite() {
  const state = { stalled: true, held: [] as Array<() => void>, calls: 0 };
  const write = ((...args: Parameters<typeof fsWrite>) => {
    state.calls++;
    if (state.stalled) state.held.push(() => Reflect.apply(fsWrite, undefined, args));
    else Reflect.apply(fsWrite, undefined, args);
  }) as unknown as typeof fsWrite;
  const release = () => {
    state.stalled = false;
    for (const run of state.held.splice(0)) run();
  };
  return { state, write, release };
}

const flushed = (sink: ReturnType<typeof createLogSink>) => new Promise<Error | undefined>((resolve) => sink.flush((err) => resolve(err)));

t.test('past the buffer limit new lines are dropped and counted, said once; logging goes on once the reader drains', async (t) => {
  const file = logFile(t);
  const stderr = captureStderr(t);
  const { write, release } = stallableWrite();
  // Each line needs room for 3 × 617 bytes: one line per 2,000-byte chunk, and two chunks fit.
  const sink = createLogSink({ fd: file.fd, batchBytes: 1000, maxBufferedBytes: 4500, flushMs: 600_000, write });
  const kept = [line(1, 600), line(2, 600)];
  for (const l of kept) t.equal(sink.write(l), true);
  t.equal(sink.write(line(3, 600)), false, 'a third chunk would pass 4,500 bytes of buffers');
  t.equal(sink.write(line(5, 600)), false);
  t.strictSame(sink.dropped, { lines: 2, batches: 0 });
  t.strictSame(stderr, [`hms-tool-router: 4500 bytes of log lines are waiting for fd ${file.fd} to take them; new lines are being dropped\n`], 'said once');
  release();
  t.equal(await flushed(sink), undefined);
  t.equal(file.read(), kept.join(''));
  t.equal(sink.write(line(4)), true);
  await flushed(sink);
  t.equal(file.read(), kept.join('') + line(4));
});

t.test('flushSync writes what is buffered at once, and leaves a batch whose write is running to that write (no line twice)', async (t) => {
  const file = logFile(t);
  const { state, write, release } = stallableWrite();
  const sink = createLogSink({ fd: file.fd, batchBytes: 10, flushMs: 600_000, write });
  sink.write(line(1));
  t.equal(state.held.length, 1, 'the first line filled a batch and its write started');
  sink.write(line(2));
  sink.flushSync();
  t.equal(file.read(), line(2), 'the second batch is written before flushSync returns');
  release(); // the running write completes
  await eventually(() => file.read().length === line(1).length + line(2).length);
  t.equal(file.read(), line(2) + line(1), 'each line exactly once');
  sink.write(line(3));
  t.equal(await flushed(sink), undefined);
  t.equal(file.read(), line(2) + line(1) + line(3), 'later lines still go out');
});

t.test('a batch waiting to retry after EAGAIN is finished by flushSync, and the retry then does nothing', async (t) => {
  const file = logFile(t);
  let calls = 0;
  const write = ((_fd: number, _buffer: Buffer, _offset: number, _length: number, _position: null, callback: (err: NodeJS.ErrnoException | null, written: number) => void) => {
    calls++;
    setImmediate(() => callback(Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' }), 0));
  }) as unknown as typeof fsWrite;
  const sink = createLogSink({ fd: file.fd, batchBytes: 10, flushMs: 600_000, write });
  sink.write(line(1));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 1, 'the write was refused and a retry is waiting');
  sink.flushSync();
  t.equal(file.read(), line(1));
  await new Promise((r) => setTimeout(r, 60)); // the retry timer (10 ms) has fired
  t.equal(calls, 1, 'the retry found its batch gone');
  t.equal(file.read(), line(1), 'not written twice');
});

t.test('flush(done) calls back once the lines logged before it are written, however much is logged after', async (t) => {
  const file = logFile(t);
  const sink = createLogSink({ fd: file.fd, flushMs: 600_000 });
  let n = 0;
  const busy = setInterval(() => {
    for (let i = 0; i < 50; i++) sink.write(line(n++, 200));
  }, 1);
  t.teardown(() => clearInterval(busy));
  await new Promise((r) => setTimeout(r, 50));
  const last = n - 1;
  const started = performance.now();
  await flushed(sink);
  t.ok(performance.now() - started < 5000, 'called back within a generous bound while lines keep coming');
  clearInterval(busy);
  t.ok(file.read().includes(line(last, 200)), 'the last line logged before flush() is written');
});

t.test('flushSync gives a full pipe one second in all, however many batches wait, then counts them lost', async (t) => {
  const file = logFile(t);
  captureStderr(t);
  const eagain = () => Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
  const write = ((_fd: number, _buffer: Buffer, _offset: number, _length: number, _position: null, callback: (err: NodeJS.ErrnoException, written: number) => void) => {
    setImmediate(() => callback(eagain(), 0));
  }) as unknown as typeof fsWrite;
  const writeSync = (() => {
    throw eagain();
  }) as unknown as typeof fsWriteSync;
  // One line per 2,000-byte chunk: ten batches wait.
  const sink = createLogSink({ fd: file.fd, batchBytes: 1000, flushMs: 600_000, write, writeSync });
  for (let n = 0; n < 10; n++) sink.write(line(n, 600));
  await new Promise((r) => setImmediate(r));
  const started = performance.now();
  sink.flushSync();
  const elapsed = performance.now() - started;
  t.ok(elapsed >= 900 && elapsed < 5000, `one deadline for the whole flush (${Math.round(elapsed)} ms)`);
  t.strictSame(sink.dropped, { lines: 0, batches: 10 });
  t.equal(file.read(), '');
});

t.test('a partial write and EAGAIN (a full non-blocking pipe) are retried, keeping the order', async (t) => {
  const file = logFile(t);
  let calls = 0;
  // A real file never answers EAGAIN or writes part of a buffer; a non-blocking pipe does both.
  const write = ((fd: number, buffer: Buffer, offset: number, length: number, position: null, callback: (err: NodeJS.ErrnoException | null, written: number) => void) => {
    calls++;
    if (calls === 1) return fsWrite(fd, buffer, offset, Math.min(length, 7), position, callback);
    if (calls === 2) return setImmediate(() => callback(Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' }), 0));
    return fsWrite(fd, buffer, offset, length, position, callback);
  }) as unknown as typeof fsWrite;
  const sink = createLogSink({ fd: file.fd, batchBytes: 10, flushMs: 600_000, write });
  sink.write(line(1, 30));
  sink.write(line(2));
  await eventually(() => file.read() === line(1, 30) + line(2), 5000);
  t.equal(file.read(), line(1, 30) + line(2));
  t.ok(calls >= 4, `write was called again after the partial write and after EAGAIN (${calls} calls)`);
  t.strictSame(sink.dropped, { lines: 0, batches: 0 });
});

t.test('a descriptor that fails is reported once on stderr; the lost batches are counted and logging goes on', async (t) => {
  const file = logFile(t);
  const stderr = captureStderr(t);
  file.close(); // writes to it now fail with EBADF, as a closed stdout would
  const sink = createLogSink({ fd: file.fd, batchBytes: 10, flushMs: 600_000 });
  sink.write(line(1));
  await eventually(() => sink.dropped.batches === 1);
  sink.write(line(2));
  await eventually(() => sink.dropped.batches === 2);
  t.strictSame(stderr, [`hms-tool-router: writing logs to fd ${file.fd} failed (EBADF); lines are being lost\n`]);
  t.equal(sink.write(line(3)), true, 'the sink still takes lines');
});

t.test('a synchronous flush that fails is counted, not thrown', async (t) => {
  const file = logFile(t);
  const writeSync = (() => {
    throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
  }) as unknown as typeof fsWriteSync;
  captureStderr(t);
  const sink = createLogSink({ fd: file.fd, flushMs: 600_000, writeSync } satisfies LogSinkOptions);
  sink.write(line(1));
  sink.flushSync();
  t.strictSame(sink.dropped, { lines: 0, batches: 1 });
});

/** Runs `body` as an ES module in a real Node.js process (from the built dist/), returning its stdout lines parsed. */
async function childLogLines(t: Test, body: string[]): Promise<Array<{ n: number; msg: string }>> {
  requireBuiltCli();
  const started = performance.now();
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', ["import { createLogger } from './dist/logging.js';", 'const logger = createLogger({ pretty: false });', ...body].join('\n')], { cwd: ROOT, timeout: 20_000, maxBuffer: 16 * 1024 * 1024 });
  t.ok(performance.now() - started < 20_000);
  // Every line whole: JSON.parse throws on a torn one.
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as { n: number; msg: string });
}

t.test('a real process that logs and exits at once still writes its lines (the exit hook)', async (t) => {
  const lines = await childLogLines(t, ["for (let n = 0; n < 3; n++) logger.info({ n }, 'before exit');", 'process.exit(0);']);
  t.strictSame(lines.map((l) => [l.n, l.msg]), [
    [0, 'before exit'],
    [1, 'before exit'],
    [2, 'before exit'],
  ]);
});

t.test('a process that exits while a batch is being written writes no line twice and none torn', async (t) => {
  // ~150 KB: the first 64 KiB batch is being written when the process exits; the rest is
  // written by the exit hook. The batch in flight is the kernel's to finish.
  const lines = await childLogLines(t, ["for (let n = 0; n < 1000; n++) logger.info({ n, pad: 'x'.repeat(100) }, 'before exit');", 'process.exit(0);']);
  const numbers = lines.map((l) => l.n);
  t.equal(new Set(numbers).size, numbers.length, 'no line twice');
  t.ok(numbers.includes(999), 'the lines after the batch in flight are written');
});

t.test('logger.flush(done), as a graceful shutdown calls it before exiting, writes every line', async (t) => {
  const lines = await childLogLines(t, ["for (let n = 0; n < 1000; n++) logger.info({ n, pad: 'x'.repeat(100) }, 'before exit');", 'logger.flush(() => process.exit(0));']);
  t.strictSame(
    lines.map((l) => l.n),
    Array.from({ length: 1000 }, (_, n) => n),
  );
});
