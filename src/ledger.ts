// The per-call ledger: a tool call identical to an earlier one in the same phone call (same call
// id, tool and arguments) gets the earlier success replayed, or joins the one still in flight,
// instead of running the backend again. Failures are forgotten, so they can be tried again.

import { createHash } from 'node:crypto';
import type { KeyValueStore } from './state/memory-store.js';

/**
 * What a finished call left behind. Only `result` is remembered; `answer` is what a failed call
 * answered (a fallback, an error), passed to calls that joined it and then forgotten.
 */
export type LedgerOutcome = { result: unknown } | { error: string } | { answer: { result: unknown } | { error: string } } | undefined;

export interface Ledger {
  /** The remembered result, or the promise of an identical call still running. */
  find(key: string): { replay: { result: unknown } } | { join: Promise<LedgerOutcome> } | undefined;
  /** Tracks a call: while it runs it can be joined; a result is then kept for `ttlMs`. */
  track(key: string, outcome: Promise<LedgerOutcome>): void;
}

/** JSON with object keys sorted at every level, so {a,b} and {b,a} are the same arguments. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The stable key of a call: also sent to the backend as `idempotency-key`. */
export function ledgerKey(callId: string, tool: string, args: Record<string, unknown>): string {
  return createHash('sha256').update(`${callId}\u0000${tool}\u0000${canonicalJson(args)}`).digest('hex');
}

export function createLedger(store: KeyValueStore<{ result: unknown }>, ttlMs: number): Ledger {
  const inFlight = new Map<string, Promise<LedgerOutcome>>();
  return {
    find(key) {
      const remembered = store.get(key);
      if (remembered) return { replay: remembered };
      const running = inFlight.get(key);
      return running ? { join: running } : undefined;
    },
    track(key, outcome) {
      inFlight.set(key, outcome);
      void outcome.then(
        (done) => {
          inFlight.delete(key);
          if (done && 'result' in done) store.set(key, { result: done.result }, ttlMs);
        },
        () => inFlight.delete(key),
      );
    },
  };
}
