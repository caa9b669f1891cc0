// The per-call ledger: a tool call identical to an earlier one in the same phone call (same call
// id, tool and arguments) gets the earlier success replayed, or joins the one still in flight,
// instead of running the backend again. Failures are forgotten, so they can be tried again.

import { createHash } from 'node:crypto';
import { inBackground, whenRead, type KeyValueStore, type MaybePromise } from './state/memory-store.js';

/**
 * What a finished call left behind. Only `result` is remembered; `answer` is what a failed call
 * answered (a fallback, an error), passed to calls that joined it and then forgotten.
 */
export type LedgerOutcome = { result: unknown } | { error: string } | { answer: { result: unknown } | { error: string } } | undefined;

export type LedgerClaim =
  | { replay: { result: unknown } }
  | { join: Promise<LedgerOutcome> }
  /** Nobody ran this call yet: run it and hand the outcome over. */
  | { run: (outcome: Promise<LedgerOutcome>) => void };

export interface Ledger {
  /** Decided at once with the in-memory store; after a round trip with Redis. */
  claim(key: string): MaybePromise<LedgerClaim>;
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

export function createLedger(store: KeyValueStore<{ result: unknown }>, ttlMs: number, onStoreError: (err: Error) => void = () => undefined): Ledger {
  const inFlight = new Map<string, Promise<LedgerOutcome>>();
  return {
    claim(key) {
      const running = inFlight.get(key);
      if (running) return { join: running };
      // Taken at once, before the store is asked, so an identical call arriving meanwhile joins.
      let settle!: (outcome: LedgerOutcome) => void;
      const outcome = new Promise<LedgerOutcome>((resolve) => (settle = resolve));
      inFlight.set(key, outcome);
      const decide = (remembered: { result: unknown } | undefined): LedgerClaim => {
        if (remembered) {
          inFlight.delete(key);
          settle(remembered);
          return { replay: remembered };
        }
        return {
          run(work) {
            work.then(
              (done) => {
                inFlight.delete(key);
                settle(done);
                if (done && 'result' in done) inBackground(() => store.set(key, { result: done.result }, ttlMs), onStoreError);
              },
              () => {
                inFlight.delete(key);
                settle(undefined);
              },
            );
          },
        };
      };
      return whenRead(store, key, decide, onStoreError);
    },
  };
}
