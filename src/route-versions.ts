// The routes in force and the ones calls still use: each accepted routes.yaml becomes a version
// (config, route table, dispatcher). A call stays on the version of its first event for
// reload.pin_calls, so its behaviour never changes mid-conversation.

import type { Config } from './config/schema.js';
import type { RouteTable } from './routing.js';
import { createExpiringMap } from './state/expiring-map.js';

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
  /** The version the call is pinned to, while its pin lasts. */
  pinnedFor(callId: string | undefined): RoutesVersion<D> | undefined;
  /** Pins a call (at its first event) to a version for that version's reload.pin_calls. */
  pin(callId: string | undefined, version: RoutesVersion<D>): void;
  /** Makes `config` the version in force for new calls and returns it. */
  apply(config: Config): RoutesVersion<D>;
  /** Every version still in use: the current one and those calls are pinned to. */
  inUse(): Set<RoutesVersion<D>>;
}

/** At most this many calls are pinned at once; the least recently seen go first. */
const MAX_PINNED_CALLS = 100_000;

export function createRouteVersions<D>(initial: Config, build: (config: Config, number: number) => RoutesVersion<D>, now: () => number = Date.now): RouteVersions<D> {
  let current = build(initial, 1);
  // Every webhook looks its call up here. A pin lasts pin_calls from the call's first event;
  // later events do not extend it.
  const pins = createExpiringMap<RoutesVersion<D>>(MAX_PINNED_CALLS, now);
  let inUseCache: { at: number; versions: Set<RoutesVersion<D>> } | undefined;
  return {
    current: () => current,
    pinnedFor(callId) {
      return callId === undefined ? undefined : pins.get(callId);
    },
    pin(callId, version) {
      const { pin_calls: pinMs } = version.config.reload;
      // A pin of 0 lasts no time at all (for the map, a TTL of 0 would mean "until evicted").
      if (callId !== undefined && pinMs > 0) pins.set(callId, version, pinMs);
    },
    apply(config) {
      current = build(config, current.number + 1);
      inUseCache = undefined;
      return current;
    },
    inUse() {
      // Walks every pin: remembered for a second, since requests to unknown assistants ask too.
      const at = now();
      if (inUseCache && at - inUseCache.at < 1000) return inUseCache.versions;
      const versions = new Set([current]);
      for (const version of pins.values()) versions.add(version);
      inUseCache = { at, versions };
      return versions;
    },
  };
}
