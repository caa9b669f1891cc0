// Group commit on real SQLite files, on the writer thread and on this one: writes asked for
// together are one transaction (counted in the WAL file itself), a write that fails is refused
// alone, a transaction that fails refuses its whole group and keeps nothing, close waits; writes
// never wait for the thread to start, nor fail because it cannot.

import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openOutboxStore, type NewDelivery, type OutboxStore } from '../../src/events/outbox-store.js';
import { createGroupCommitter, createInThreadWriter, startWriterThread, type OutboxWriter, type WriteReply } from '../../src/events/outbox-writer.js';

const T0 = Date.UTC(2025, 11, 13, 12);

function delivery(callId: string): NewDelivery {
  const request = { targetId: 'POST http://127.0.0.1:9/calls', targetUrl: 'http://127.0.0.1:9/calls', path: '/calls', method: 'POST', headers: { 'x-call-id': callId }, body: Buffer.from(`{"call":"${callId}"}`) };
  return { callId, event: 'end-of-call-report', request };
}

/** Transactions committed in a WAL file: its frames that end a transaction (they carry the database size). */
function walCommits(dbPath: string): number {
  const wal = readFileSync(`${dbPath}-wal`);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

/**
 * A store file (this connection stays open, so the WAL is kept to be counted) and a writer: on
 * its thread (started and ready, so the writes go there) or on this one.
 */
async function setUp(t: Test, where: 'thread' | 'in-thread'): Promise<{ path: string; store: OutboxStore; writer: OutboxWriter }> {
  const dir = mkdtempSync(join(tmpdir(), 'hms-writer-'));
  const path = join(dir, 'outbox.db');
  const store = openOutboxStore(path);
  let writer: OutboxWriter = createInThreadWriter(store);
  if (where === 'thread') {
    const threaded = startWriterThread(store);
    await threaded.threadReady();
    writer = threaded;
  }
  t.teardown(async () => {
    await writer.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, store, writer };
}

const callIds = (store: OutboxStore) => store.list({}).map((r) => r.callId);

for (const where of ['thread', 'in-thread'] as const) {
  t.test(`${where}: 20 inserts asked for in one turn are one transaction, each caller gets its own ids`, async (t) => {
    const { path, store, writer } = await setUp(t, where);
    const before = walCommits(path);
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => writer.insert([delivery(`call-${i}`), delivery(`call-${i}`)], T0)));
    t.equal(walCommits(path) - before, 1, 'one commit');
    t.strictSame(
      ids.map((pair) => pair.length),
      Array.from({ length: 20 }, () => 2),
    );
    const rows = store.list({});
    t.strictSame(
      rows.map((r) => r.id),
      ids.flat(),
      'stored in the order asked, with the ids each caller heard',
    );
    t.strictSame(
      rows.map((r) => [r.callId, r.status, r.attempts, r.createdAt]),
      Array.from({ length: 40 }, (_, i) => [`call-${i >> 1}`, 'pending', 0, T0]),
    );
  });

  t.test(`${where}: a write that fails is refused alone; the rest of its group is committed`, async (t) => {
    const { path, store, writer } = await setUp(t, where);
    const before = walCommits(path);
    const bad = { ...delivery('bad'), event: null as unknown as string };
    const results = await Promise.allSettled([writer.insert([delivery('a')], T0), writer.insert([delivery('b'), bad], T0), writer.insert([delivery('c')], T0)]);
    t.strictSame(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    t.match((results[1] as PromiseRejectedResult).reason, { message: 'NOT NULL constraint failed: deliveries.event' });
    t.strictSame(callIds(store), ['a', 'c'], 'nothing of the refused write, not even its valid row');
    t.equal(walCommits(path) - before, 1, 'still one commit');
  });

  t.test(`${where}: a transaction that fails refuses every write of its group and keeps none; the next group commits`, async (t) => {
    const { path, store, writer } = await setUp(t, where);
    // Stands in for a disk that refuses the commit: an error that ends the whole transaction.
    const other = new Database(path);
    other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON deliveries WHEN NEW.call_id = 'boom' BEGIN SELECT RAISE(ROLLBACK, 'disk I/O error'); END`);
    other.close();
    const results = await Promise.allSettled([writer.insert([delivery('a')], T0), writer.insert([delivery('boom')], T0), writer.insert([delivery('c')], T0)]);
    t.strictSame(
      results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok')),
      ['disk I/O error', 'disk I/O error', 'disk I/O error'],
    );
    t.strictSame(callIds(store), [], 'nothing kept');
    await writer.insert([delivery('d')], T0);
    t.strictSame(callIds(store), ['d'], 'the writer goes on');
    t.equal(walCommits(path) > 0, true);
  });

  t.test(`${where}: claims count an attempt and return whole rows; outcomes are recorded; close waits for what was asked`, async (t) => {
    const { store, writer } = await setUp(t, where);
    await writer.insert([delivery('a'), delivery('b'), delivery('c')], T0);
    const [a, b, c] = store.list({}).map((r) => r.seq) as [number, number, number];
    await writer.settle([{ seq: c, status: 'dead', error: 'HTTP 400' }], T0 + 1);
    const claimed = await writer.claim([a, b, c], T0 + 2);
    t.strictSame(
      claimed.map((r) => [r.callId, r.attempts, r.updatedAt, r.headers, r.body.toString()]),
      [
        ['a', 1, T0 + 2, { 'x-call-id': 'a' }, '{"call":"a"}'],
        ['b', 1, T0 + 2, { 'x-call-id': 'b' }, '{"call":"b"}'],
      ],
      'the dead one is not claimed',
    );
    t.ok(Buffer.isBuffer(claimed[0]!.body), 'bodies are Buffers');
    const settled = writer.settle(
      [
        { seq: a, status: 'delivered' },
        { seq: b, status: 'pending', error: 'HTTP 503', nextAt: T0 + 1000 },
      ],
      T0 + 3,
    );
    await writer.close();
    await settled;
    t.strictSame(
      store.list({}).map((r) => [r.callId, r.status, r.attempts, r.lastError, r.nextAt, r.updatedAt]),
      [
        ['a', 'delivered', 1, null, T0, T0 + 3],
        ['b', 'pending', 1, 'HTTP 503', T0 + 1000, T0 + 3],
        ['c', 'dead', 0, 'HTTP 400', T0, T0 + 1],
      ],
    );
  });
}

t.test('batches that reach the committer while it is busy (as they do during an fsync) join one group; a later one is the next commit', async (t) => {
  const { path, store } = await setUp(t, 'in-thread');
  const replies: WriteReply[][] = [];
  const commit = createGroupCommitter(store, (r) => replies.push(r));
  const before = walCommits(path);
  commit([{ id: 1, write: { op: 'insert', deliveries: [delivery('a')], now: T0 } }]);
  commit([
    { id: 2, write: { op: 'insert', deliveries: [delivery('b')], now: T0 } },
    { id: 3, write: { op: 'settle', outcomes: [{ seq: 1, status: 'delivered' }], now: T0 } },
  ]);
  await new Promise((resolve) => setImmediate(resolve));
  commit([{ id: 4, write: { op: 'insert', deliveries: [delivery('c')], now: T0 } }]);
  await new Promise((resolve) => setImmediate(resolve));
  const ids = store.list({}).map((r) => r.id);
  t.strictSame(replies, [
    [
      { id: 1, ok: true, value: [ids[0]] },
      { id: 2, ok: true, value: [ids[1]] },
      { id: 3, ok: true, value: undefined },
    ],
    [{ id: 4, ok: true, value: [ids[2]] }],
  ]);
  t.equal(walCommits(path) - before, 2, 'two commits');
  t.strictSame(
    store.list({}).map((r) => [r.callId, r.status]),
    [
      ['a', 'delivered'],
      ['b', 'pending'],
      ['c', 'pending'],
    ],
  );
});

t.test('thread: a closed writer takes writes again', async (t) => {
  const { store, writer } = await setUp(t, 'thread');
  await writer.close();
  await writer.insert([delivery('after-close')], T0);
  t.strictSame(callIds(store), ['after-close']);
});

t.test('thread: writes do not wait for the thread to start, nor fail when it cannot: they are committed on this one meanwhile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-writer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = openOutboxStore(join(dir, 'outbox.db'));
  t.teardown(() => store.close());
  writeFileSync(join(dir, 'not-a-dir'), 'x');
  // The thread is told a path it cannot open; this thread's connection is fine.
  const writer = startWriterThread({ ...store, path: join(dir, 'not-a-dir', 'outbox.db') });
  t.teardown(() => writer.close());
  const died = writer.threadReady();
  await writer.insert([delivery('a')], T0);
  await t.rejects(died, { message: /^the outbox writer failed: .*not-a-dir/ });
  await Promise.all([writer.insert([delivery('b')], T0), writer.insert([delivery('c')], T0)]);
  t.strictSame(callIds(store), ['a', 'b', 'c'], 'committed while it started, and after it died');
});
