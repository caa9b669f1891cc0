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
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
CREATE INDEX IF NOT EXISTS deliveries_order ON deliveries (target_id, call_id, status, seq);
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

export interface OutboxStore {
  readonly path: string;
  /** Commits all deliveries in one transaction (group commit); throws if the disk refuses. */
  insert(deliveries: NewDelivery[], now: number): string[];
  /**
   * Due pending deliveries, oldest first, that no earlier pending delivery of the same call and
   * target is waiting in front of, and that are not already being sent.
   */
  due(now: number, limit: number, exclude: ReadonlySet<string>): DeliveryRow[];
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
  const dueRows = db.prepare(
    `SELECT * FROM deliveries d
     WHERE d.status = 'pending' AND d.next_at <= ?
       AND NOT EXISTS (
         SELECT 1 FROM deliveries e
         WHERE e.status = 'pending' AND e.target_id = d.target_id AND e.call_id IS d.call_id AND e.seq < d.seq)
     ORDER BY d.seq LIMIT ?`,
  );
  const bumpAttempt = db.prepare(`UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING attempts`);
  const setDelivered = db.prepare(`UPDATE deliveries SET status = 'delivered', last_error = NULL, updated_at = ? WHERE id = ?`);
  const setRetry = db.prepare(`UPDATE deliveries SET last_error = ?, next_at = ?, updated_at = ? WHERE id = ?`);
  const setDead = db.prepare(`UPDATE deliveries SET status = 'dead', last_error = ?, updated_at = ? WHERE id = ?`);
  const retryOne = db.prepare(`UPDATE deliveries SET status = 'pending', next_at = ?, updated_at = ? WHERE id = ? AND status != 'delivered'`);
  const retryDead = db.prepare(`UPDATE deliveries SET status = 'pending', next_at = ?, updated_at = ? WHERE status = 'dead'`);
  const purgeRows = db.prepare(`DELETE FROM deliveries WHERE status = ? AND updated_at < ?`);
  const countRows = db.prepare(`SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status`);

  return {
    path,
    insert: (deliveries, now) => insertMany(deliveries, now),
    due(now, limit, exclude) {
      // Ask for more than needed: rows being sent right now are skipped here, not in SQL.
      const rows = dueRows.all(now, limit + exclude.size) as RawRow[];
      return rows.filter((r) => !exclude.has(r.id)).slice(0, limit).map(fromRaw);
    },
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
    counts() {
      const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
      for (const row of countRows.all() as { status: DeliveryStatus; n: number }[]) counts[row.status] = row.n;
      return counts;
    },
    close: () => db.close(),
  };
}
