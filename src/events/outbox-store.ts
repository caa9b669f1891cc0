// The durable outbox on SQLite (WAL, synchronous FULL): one row per (event, target) delivery,
// committed before the platform is answered. Only this file knows SQL; the delivery worker and
// the `events` CLI both use it.

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

/** What is stored for one delivery: enough to rebuild the request at every attempt. */
export interface StoredRequest {
  /** Identifies the target in the current route table (secret and headers are never stored). */
  targetId: string;
  /** The target URL, for listings; never used to send. */
  targetUrl: string;
  path: string;
  method: string;
  /** Request headers that are not configuration (x-call-id, x-tool-name, idempotency-key…). */
  headers: Record<string, string>;
  body: Buffer;
}

export interface NewDelivery {
  callId: string | undefined;
  event: string;
  request: StoredRequest;
}

export interface DeliveryRow extends StoredRequest {
  id: string;
  seq: number;
  callId: string | null;
  event: string;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  nextAt: number;
  createdAt: number;
  updatedAt: number;
}

/** The record `events list --json` prints: stable snake_case keys. */
export interface DeliveryRecord {
  delivery_id: string;
  call_id: string | null;
  event: string;
  target: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

interface RawRow {
  id: string;
  seq: number;
  call_id: string | null;
  event: string;
  target_id: string;
  target_url: string;
  path: string;
  method: string;
  headers: string;
  body: Buffer;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  next_at: number;
  created_at: number;
  updated_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS deliveries (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  id         TEXT NOT NULL UNIQUE,
  call_id    TEXT,
  event      TEXT NOT NULL,
  target_id  TEXT NOT NULL,
  target_url TEXT NOT NULL,
  path       TEXT NOT NULL,
  method     TEXT NOT NULL,
  headers    TEXT NOT NULL,
  body       BLOB NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  next_at    INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- Counts per status, purges and retry of dead ones.
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
-- Partial: only what is still to deliver, so the poll reads due work in order without a sort
-- and a delivered row leaves these indexes instead of being rewritten in them.
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (target_id, seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_pending_order ON deliveries (target_id, call_id, seq) WHERE status = 'pending';
-- Superseded by deliveries_pending_order (stores created before it).
DROP INDEX IF EXISTS deliveries_order;
`;

function fromRaw(row: RawRow): DeliveryRow {
  return {
    id: row.id,
    seq: row.seq,
    callId: row.call_id,
    event: row.event,
    targetId: row.target_id,
    targetUrl: row.target_url,
    path: row.path,
    method: row.method,
    headers: JSON.parse(row.headers) as Record<string, string>,
    body: row.body,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
    nextAt: row.next_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toRecord(row: DeliveryRow): DeliveryRecord {
  return {
    delivery_id: row.id,
    call_id: row.callId,
    event: row.event,
    // Query values can hold tokens substituted from the environment: keys only.
    target: row.targetUrl.replace(/=([^&#]*)/g, '=…'),
    status: row.status,
    attempts: row.attempts,
    last_error: row.lastError,
    created_at: new Date(row.createdAt).toISOString(),
    updated_at: new Date(row.updatedAt).toISOString(),
  };
}

/** How an attempt ended, to be recorded (settle). */
export type Outcome =
  | { seq: number; status: 'delivered' }
  | { seq: number; status: 'pending'; error: string; nextAt: number }
  | { seq: number; status: 'dead'; error: string };

export type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

export interface OutboxStore {
  readonly path: string;
  /** Commits all deliveries in one transaction; throws if the disk refuses. */
  insert(deliveries: NewDelivery[], now: number): string[];
  /** The targets that have pending deliveries. */
  pendingTargets(): string[];
  /**
   * Up to `limit` due pending deliveries of one target (their seq), oldest first, that no earlier
   * pending delivery of the same call is waiting in front of, and that are not being sent already
   * (`exclude`).
   */
  due(targetId: string, now: number, limit: number, exclude: readonly number[]): number[];
  /**
   * Counts an attempt for each delivery still pending, before it is sent (so a crash mid-send
   * still counts it), and returns them whole; one transaction.
   */
  claim(seqs: readonly number[], now: number): DeliveryRow[];
  get(seq: number): DeliveryRow | undefined;
  /** Records how attempts ended; one transaction. */
  settle(outcomes: readonly Outcome[], now: number): void;
  /**
   * Group commit: runs every write in one transaction, so they share one commit (one fsync).
   * Each runs in its own savepoint: one that throws is undone alone and gets its error back.
   * Throws, and nothing is kept, when the commit fails or an error ended the whole transaction.
   */
  group<T>(writes: readonly (() => T)[]): Settled<T>[];
  /** Counts an attempt before it is sent, so a crash mid-send still counts it. */
  startAttempt(id: string, now: number): number;
  markDelivered(id: string, now: number): void;
  markRetry(id: string, error: string, nextAt: number, now: number): void;
  markDead(id: string, error: string, now: number): void;
  list(filter: { status?: DeliveryStatus | undefined; callId?: string | undefined }): DeliveryRow[];
  /** Makes a dead (or pending) delivery due now, keeping its id and attempt count. */
  retry(id: string, now: number): boolean;
  retryAllDead(now: number): number;
  purge(filter: { status: DeliveryStatus; olderThan: number }): number;
  /** Whether any delivery has this status (one index probe, whatever the size of the table). */
  has(status: DeliveryStatus): boolean;
  counts(): Record<DeliveryStatus, number>;
  close(): void;
}

export function openOutboxStore(path: string): OutboxStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL: a commit is on disk before the platform hears 200, even across power loss.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);

  const insertRow = db.prepare(
    `INSERT INTO deliveries (id, call_id, event, target_id, target_url, path, method, headers, body, status, attempts, next_at, created_at, updated_at)
     VALUES (@id, @call_id, @event, @target_id, @target_url, @path, @method, @headers, @body, 'pending', 0, @now, @now, @now)`,
  );
  const insertMany = db.transaction((rows: NewDelivery[], now: number) =>
    rows.map((d) => {
      const id = randomUUID();
      insertRow.run({
        id,
        call_id: d.callId ?? null,
        event: d.event,
        target_id: d.request.targetId,
        target_url: d.request.targetUrl,
        path: d.request.path,
        method: d.request.method,
        headers: JSON.stringify(d.request.headers),
        body: d.request.body,
        now,
      });
      return id;
    }),
  );
  // Both walk partial indexes and stop at their limit: the cost is the targets and rows looked
  // at, not the backlog. INDEXED BY makes a plan that would scan or sort fail loudly instead.
  const targetsPending = db.prepare(
    `WITH RECURSIVE t(id) AS (
       SELECT MIN(target_id) FROM deliveries INDEXED BY deliveries_pending WHERE status = 'pending'
       UNION ALL
       SELECT (SELECT MIN(target_id) FROM deliveries INDEXED BY deliveries_pending WHERE status = 'pending' AND target_id > t.id) FROM t WHERE t.id IS NOT NULL)
     SELECT id FROM t WHERE id IS NOT NULL`,
  );
  const dueRows = db.prepare(
    `SELECT d.seq FROM deliveries d INDEXED BY deliveries_pending
     WHERE d.status = 'pending' AND d.target_id = ? AND d.next_at <= ?
       AND d.seq NOT IN (SELECT value FROM json_each(?))
       AND NOT EXISTS (
         SELECT 1 FROM deliveries e INDEXED BY deliveries_pending_order
         WHERE e.status = 'pending' AND e.target_id = d.target_id AND e.call_id IS d.call_id AND e.seq < d.seq)
     ORDER BY d.seq LIMIT ?`,
  );
  const getRow = db.prepare(`SELECT * FROM deliveries WHERE seq = ?`);
  const claimRow = db.prepare(`UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE seq = ? AND status = 'pending' RETURNING *`);
  const settleDelivered = db.prepare(`UPDATE deliveries SET status = 'delivered', last_error = NULL, updated_at = ? WHERE seq = ?`);
  const settleRetry = db.prepare(`UPDATE deliveries SET last_error = ?, next_at = ?, updated_at = ? WHERE seq = ?`);
  const settleDead = db.prepare(`UPDATE deliveries SET status = 'dead', last_error = ?, updated_at = ? WHERE seq = ?`);
  const claimMany = db.transaction((seqs: readonly number[], now: number) => {
    const rows: DeliveryRow[] = [];
    for (const seq of seqs) {
      const row = claimRow.get(now, seq) as RawRow | undefined;
      if (row) rows.push(fromRaw(row));
    }
    return rows;
  });
  const settleMany = db.transaction((outcomes: readonly Outcome[], now: number) => {
    for (const o of outcomes) {
      if (o.status === 'delivered') settleDelivered.run(now, o.seq);
      else if (o.status === 'pending') settleRetry.run(o.error, o.nextAt, now, o.seq);
      else settleDead.run(o.error, now, o.seq);
    }
  });
  // Nested in the group's transaction, this is a savepoint.
  const inSavepoint = db.transaction((write: () => unknown) => write());
  const groupMany = db.transaction(<T>(writes: readonly (() => T)[]) =>
    writes.map((write): Settled<T> => {
      try {
        return { ok: true, value: inSavepoint(write) as T };
      } catch (err) {
        // SQLite ends the whole transaction on some errors (disk full, I/O): then nothing of the
        // group can be kept, and later writes must not run on their own outside it.
        if (!db.inTransaction) throw err;
        return { ok: false, error: err as Error };
      }
    }),
  );
  const bumpAttempt = db.prepare(`UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING attempts`);
  const setDelivered = db.prepare(`UPDATE deliveries SET status = 'delivered', last_error = NULL, updated_at = ? WHERE id = ?`);
  const setRetry = db.prepare(`UPDATE deliveries SET last_error = ?, next_at = ?, updated_at = ? WHERE id = ?`);
  const setDead = db.prepare(`UPDATE deliveries SET status = 'dead', last_error = ?, updated_at = ? WHERE id = ?`);
  const retryOne = db.prepare(`UPDATE deliveries SET status = 'pending', next_at = ?, updated_at = ? WHERE id = ? AND status != 'delivered'`);
  const retryDead = db.prepare(`UPDATE deliveries SET status = 'pending', next_at = ?, updated_at = ? WHERE status = 'dead'`);
  const purgeRows = db.prepare(`DELETE FROM deliveries WHERE status = ? AND updated_at < ?`);
  const anyWithStatus = db.prepare(`SELECT EXISTS (SELECT 1 FROM deliveries WHERE status = ?)`).pluck();
  const countRows = db.prepare(`SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status`);

  return {
    path,
    insert: (deliveries, now) => insertMany(deliveries, now),
    pendingTargets: () => targetsPending.pluck().all() as string[],
    due: (targetId, now, limit, exclude) => dueRows.pluck().all(targetId, now, JSON.stringify(exclude), limit) as number[],
    claim: (seqs, now) => claimMany(seqs, now),
    get(seq) {
      const row = getRow.get(seq) as RawRow | undefined;
      return row && fromRaw(row);
    },
    settle: (outcomes, now) => settleMany(outcomes, now),
    group: <T>(writes: readonly (() => T)[]) => groupMany(writes) as Settled<T>[],
    startAttempt(id, now) {
      return (bumpAttempt.get(now, id) as { attempts: number }).attempts;
    },
    markDelivered: (id, now) => void setDelivered.run(now, id),
    markRetry: (id, error, nextAt, now) => void setRetry.run(error, nextAt, now, id),
    markDead: (id, error, now) => void setDead.run(error, now, id),
    list({ status, callId }) {
      const where: string[] = [];
      const args: string[] = [];
      if (status) {
        where.push('status = ?');
        args.push(status);
      }
      if (callId) {
        where.push('call_id = ?');
        args.push(callId);
      }
      const sql = `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`;
      return (db.prepare(sql).all(...args) as RawRow[]).map(fromRaw);
    },
    retry: (id, now) => retryOne.run(now, now, id).changes > 0,
    retryAllDead: (now) => retryDead.run(now, now).changes,
    purge: ({ status, olderThan }) => purgeRows.run(status, olderThan).changes,
    has: (status) => anyWithStatus.get(status) === 1,
    counts() {
      const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
      for (const row of countRows.all() as { status: DeliveryStatus; n: number }[]) counts[row.status] = row.n;
      return counts;
    },
    close: () => db.close(),
  };
}
