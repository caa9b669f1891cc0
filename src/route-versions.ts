// The routes in force and the ones calls still use: each accepted routes.yaml becomes a version
// (config, route table, dispatcher). A call stays on the version of its first event for
// reload.pin_calls, so its behaviour never changes mid-conversation.

import { LRUCache } from 'lru-cache';
import type { Config } from './config/schema.js';
import type { RouteTable } from './routing.js';

export interface RoutesVersion<D> {
  /** 1 at start, +1 for each reload that was applied. */
  readonly number: number;
  readonly config: Config;
  readonly table: RouteTable;
  /** What the version answers with: its dispatcher, built from its config. */
  readonly dispatch: D;
}

export interface RouteVersions<D> {
  current(): RoutesVersion<D>;
  /** The version a call is pinned to; the first event of a call pins it to `started`. */
  forCall(callId: string | undefined, started: RoutesVersion<D>): RoutesVersion<D>;
  /** Makes `config` the version in force for new calls and returns it. */
  apply(config: Config): RoutesVersion<D>;
  /** Every version still in use: the current one and those calls are pinned to. */
  inUse(): Set<RoutesVersion<D>>;
}

/** At most this many calls are pinned at once; the least recently started go first. */
const MAX_PINNED_CALLS = 100_000;

export function createRouteVersions<D>(initial: Config, build: (config: Config, number: number) => RoutesVersion<D>): RouteVersions<D> {
  let current = build(initial, 1);
  // A pin lasts pin_calls from the call's first event; later events do not extend it.
  const pins = new LRUCache<string, RoutesVersion<D>>({ max: MAX_PINNED_CALLS, ttlAutopurge: false, updateAgeOnGet: false });
  return {
    current: () => current,
    forCall(callId, started) {
      if (callId === undefined) return started;
      const pinned = pins.get(callId);
      if (pinned) return pinned;
      pins.set(callId, started, { ttl: started.config.reload.pin_calls });
      return started;
    },
    apply(config) {
      current = build(config, current.number + 1);
      return current;
    },
    inUse() {
      pins.purgeStale();
      return new Set([current, ...pins.values()]);
    },
  };
}
