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

t.test('characters outside ASCII arrive intact, across many small batches', async (t) => {
  const file = logFile(t);
  const sink = createLogSink({ fd: file.fd, batchBytes: 50, flushMs: 600_000 });
  const lines = Array.from({ length: 40 }, (_, n) => `${JSON.stringify({ n, said: 'Grüße, 50 € 📞 日本' })}\n`);
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

t.test('past the buffer limit new lines are dropped and counted; logging goes on once there is room', async (t) => {
  const file = logFile(t);
  const stderr = captureStderr(t);
  const sink = createLogSink({ fd: file.fd, batchBytes: 10_000, maxBufferedBytes: 250, flushMs: 600_000 });
  const kept = [line(1, 80), line(2, 80)];
  for (const l of kept) t.equal(sink.write(l), true);
  t.equal(sink.write(line(3, 80)), false, 'the third line would pass 250 bytes');
  t.equal(sink.write(line(5, 80)), false);
  t.strictSame(sink.dropped, { lines: 2, batches: 0 });
  t.strictSame(stderr, [`hms-tool-router: 250 bytes of log lines are waiting for fd ${file.fd} to take them; new lines are being dropped\n`], 'said once');
  sink.flushSync();
  t.equal(sink.write(line(4)), true);
  sink.flushSync();
  t.equal(file.read(), kept.join('') + line(4));
});

t.test('flushSync writes what is buffered and the batch in flight, before it returns', async (t) => {
  const file = logFile(t);
  // The asynchronous write is held back, as a slow disk or pipe would: the batch stays in flight.
  const held: Array<() => void> = [];
  const write = ((_fd: number, _buffer: Buffer, _offset: number, length: number, _position: null, callback: (err: null, written: number) => void) =>
    held.push(() => callback(null, length))) as unknown as typeof fsWrite;
  const sink = createLogSink({ fd: file.fd, batchBytes: 10, flushMs: 600_000, write });
  sink.write(line(1));
  t.equal(held.length, 1, 'the first line filled a batch and its write started');
  sink.write(line(2));
  sink.flushSync();
  t.equal(file.read(), line(1) + line(2));
  // The held write reporting back later changes nothing, and later lines still go out.
  for (const release of held.splice(0)) release();
  sink.write(line(3));
  t.equal(held.length, 1, 'the next batch started: nothing was left marked in flight');
  for (const release of held.splice(0)) release();
  sink.flushSync();
  t.equal(file.read(), line(1) + line(2));
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

t.test('a real process that logs and exits at once still writes its lines (exit flush)', async (t) => {
  requireBuiltCli();
  const script = [
    "import { createLogger } from './dist/logging.js';",
    "const logger = createLogger({ pretty: false });",
    "for (let n = 0; n < 3; n++) logger.info({ n }, 'before exit');",
    'process.exit(0);',
  ].join('\n');
  const started = performance.now();
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 20_000 });
  t.ok(performance.now() - started < 20_000);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { n: number; msg: string });
  t.strictSame(lines.map((l) => [l.n, l.msg]), [
    [0, 'before exit'],
    [1, 'before exit'],
    [2, 'before exit'],
  ]);
});
