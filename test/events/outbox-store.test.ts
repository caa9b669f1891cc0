// The outbox store on real SQLite files: which deliveries are due (per target, oldest first, a
// call's later event behind its earlier one, in-flight ones skipped, never more than asked),
// claims and outcomes, and a store made before the pending indexes opened as it is.

import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openOutboxStore, type NewDelivery, type OutboxStore } from '../../src/events/outbox-store.js';

const T0 = Date.UTC(2025, 11, 13, 12);

function delivery(target: string, callId: string | undefined): NewDelivery {
  const request = { targetId: `POST http://127.0.0.1:9/${target}`, targetUrl: `http://127.0.0.1:9/${target}`, path: `/${target}`, method: 'POST', headers: {}, body: Buffer.from('{}') };
  return { callId, event: 'status-update', request };
}

function tempPath(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'hms-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'outbox.db');
}

function openStore(t: Test): OutboxStore {
  const store = openOutboxStore(tempPath(t));
  t.teardown(() => store.close());
  return store;
}

const A = 'POST http://127.0.0.1:9/a';
const B = 'POST http://127.0.0.1:9/b';

t.test('due: per target, oldest first; a call waits behind its earlier pending event, even one backing off', async (t) => {
  const store = openStore(t);
  store.insert([delivery('a', 'c1'), delivery('b', 'c1'), delivery('a', 'c1'), delivery('a', 'c2'), delivery('a', undefined), delivery('a', undefined)], T0);
  const [a1, b1, a1Later, a2, aNoCall, aNoCallLater] = store.list({}).map((r) => r.seq) as number[];
  t.strictSame(store.pendingTargets(), [A, B]);
  t.strictSame(store.due(A, T0, 10, []), [a1, a2, aNoCall], "a call's later event waits; so do later events without a call id");
  t.strictSame(store.due(B, T0, 10, []), [b1], 'another target is not held up');
  t.strictSame(store.due(A, T0, 2, []), [a1, a2], 'never more than asked');
  t.strictSame(store.due(A, T0, 10, [a1!, aNoCall!]), [a2], 'in flight: skipped, and still in front of their calls');

  store.settle([{ seq: a1!, status: 'pending', error: 'HTTP 503', nextAt: T0 + 1000 }], T0);
  t.strictSame(store.due(A, T0, 10, []), [a2, aNoCall], 'backing off: not due, and its call waits behind it');
  t.strictSame(store.due(A, T0 + 1000, 10, []), [a1, a2, aNoCall], 'due again once its time comes');

  store.settle(
    [
      { seq: a1!, status: 'delivered' },
      { seq: aNoCall!, status: 'dead', error: 'HTTP 400' },
      { seq: b1!, status: 'delivered' },
    ],
    T0,
  );
  t.strictSame(store.due(A, T0, 10, []), [a1Later, a2, aNoCallLater], 'delivered and dead ones no longer hold their calls up');
  t.strictSame(store.pendingTargets(), [A], 'a target with nothing pending is not listed');
});

t.test('claim counts an attempt only for deliveries still pending; get reads one whole; has says whether a status occurs', async (t) => {
  const store = openStore(t);
  store.insert([delivery('a', 'c1'), delivery('a', 'c2')], T0);
  const [s1, s2] = store.list({}).map((r) => r.seq) as [number, number];
  t.strictSame([store.has('pending'), store.has('delivered'), store.has('dead')], [true, false, false]);
  store.settle([{ seq: s2, status: 'delivered' }], T0 + 1);
  t.strictSame([store.has('pending'), store.has('delivered'), store.has('dead')], [true, true, false]);
  t.strictSame(
    store.claim([s1, s2], T0 + 2).map((r) => [r.seq, r.attempts, r.updatedAt]),
    [[s1, 1, T0 + 2]],
  );
  t.strictSame(
    [store.get(s1)?.attempts, store.get(s2)?.attempts, store.get(s2)?.status, store.get(9999)],
    [1, 0, 'delivered', undefined],
  );
});

t.test('a store made before the pending indexes opens as it is: rows kept, indexes replaced', async (t) => {
  const path = tempPath(t);
  const old = new Database(path);
  old.pragma('journal_mode = WAL');
  old.exec(`
CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, call_id TEXT, event TEXT NOT NULL,
  target_id TEXT NOT NULL, target_url TEXT NOT NULL, path TEXT NOT NULL, method TEXT NOT NULL,
  headers TEXT NOT NULL, body BLOB NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX deliveries_due ON deliveries (status, next_at);
CREATE INDEX deliveries_order ON deliveries (target_id, call_id, status, seq);
INSERT INTO deliveries (id, call_id, event, target_id, target_url, path, method, headers, body, status, attempts, next_at, created_at, updated_at)
VALUES ('d-1', 'c1', 'status-update', '${A}', 'http://127.0.0.1:9/a', '/a', 'POST', '{}', x'7b7d', 'pending', 2, ${T0}, ${T0}, ${T0});`);
  old.close();

  const store = openOutboxStore(path);
  t.teardown(() => store.close());
  t.strictSame(
    store.list({}).map((r) => [r.id, r.status, r.attempts]),
    [['d-1', 'pending', 2]],
  );
  t.strictSame(store.due(A, T0, 10, []), [1]);
  const check = new Database(path, { readonly: true });
  t.teardown(() => check.close());
  t.strictSame(
    check
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' AND sql IS NOT NULL ORDER BY name`)
      .pluck()
      .all(),
    ['deliveries_due', 'deliveries_pending', 'deliveries_pending_order'],
  );
});
