// A circuit breaker per upstream: opens after N consecutive failures, or when too many of the
// last calls were slow; stays open for a while, then lets exactly one probe through.
// Written here rather than taken from cockatiel: cockatiel's breaker strategies are told only
// "success" or "failure", never a call's latency, so the slow-call rule could not be expressed
// without racy shared state.

import type { BreakerConfig } from './config/schema.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  failures: number;
  /** Latency above which a call counts as slow; undefined turns the slow-call rule off. */
  slowMs: number | undefined;
  slowRatio: number;
  window: number;
  openForMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { failures: 5, slowMs: undefined, slowRatio: 0.5, window: 20, openForMs: 10_000 };

export function breakerSettings(own: BreakerConfig | undefined, defaults: BreakerConfig | undefined): BreakerSettings {
  const pick = <K extends keyof BreakerConfig>(key: K) => own?.[key] ?? defaults?.[key];
  return {
    failures: pick('failures') ?? DEFAULT_BREAKER.failures,
    slowMs: pick('slow') ?? DEFAULT_BREAKER.slowMs,
    slowRatio: pick('slow_ratio') ?? DEFAULT_BREAKER.slowRatio,
    window: pick('window') ?? DEFAULT_BREAKER.window,
    openForMs: pick('open_for') ?? DEFAULT_BREAKER.openForMs,
  };
}

/** What one call did, for the breaker: failed (transport, timeout, 5xx, unreadable) or answered. */
export interface CallRecord {
  failed: boolean;
  latencyMs: number;
}

export interface Breaker {
  /** Asks to make a call now: false while open, or while a half-open probe is out. */
  tryAcquire(): boolean;
  record(call: CallRecord): void;
  /** Gives back a permit whose call never happened or was abandoned (a hedging loser). */
  release(): void;
  state(): BreakerState;
}

export function createBreaker(settings: BreakerSettings, now: () => number): Breaker {
  let state: BreakerState = 'closed';
  let openedAt = 0;
  let probeOut = false;
  let consecutiveFailures = 0;
  const recent: boolean[] = []; // slow or not, most recent last

  const open = () => {
    state = 'open';
    openedAt = now();
    probeOut = false;
  };
  const close = () => {
    state = 'closed';
    probeOut = false;
    consecutiveFailures = 0;
    recent.length = 0;
  };

  return {
    tryAcquire() {
      if (state === 'open' && now() - openedAt >= settings.openForMs) state = 'half-open';
      if (state === 'closed') return true;
      if (state === 'half-open' && !probeOut) {
        probeOut = true;
        return true;
      }
      return false;
    },
    record({ failed, latencyMs }) {
      if (state === 'half-open') {
        // Only the probe decides: a call that began before the breaker opened (a long timeout
        // still running) is ignored.
        if (!probeOut || now() - latencyMs < openedAt) return;
        if (failed) open();
        else close();
        return;
      }
      if (state === 'open') return; // a call that started before the breaker opened
      consecutiveFailures = failed ? consecutiveFailures + 1 : 0;
      if (settings.slowMs !== undefined) {
        recent.push(latencyMs > settings.slowMs);
        if (recent.length > settings.window) recent.shift();
      }
      const slowTripped = recent.length >= settings.window && recent.filter(Boolean).length / recent.length > settings.slowRatio;
      if (consecutiveFailures >= settings.failures || slowTripped) open();
    },
    release() {
      if (state === 'half-open') probeOut = false;
    },
    state() {
      if (state === 'open' && now() - openedAt >= settings.openForMs) return 'half-open';
      return state;
    },
  };
}
