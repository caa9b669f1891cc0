// The routes in force and the ones calls still use: each accepted routes.yaml becomes a version
// (config, route table, dispatcher). A call stays on the version of its first event for
// reload.pin_calls, so its behaviour never changes mid-conversation.

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
  /** The version the call is pinned to, while its pin lasts. */
  pinnedFor(callId: string | undefined): RoutesVersion<D> | undefined;
  /** Pins a call (at its first event) to a version for that version's reload.pin_calls. */
  pin(callId: string | undefined, version: RoutesVersion<D>): void;
  /** Makes `config` the version in force for new calls and returns it. */
  apply(config: Config): RoutesVersion<D>;
  /** Every version still in use: the current one and those calls are pinned to. */
  inUse(): Set<RoutesVersion<D>>;
}

/** At most this many calls are pinned at once; the earliest pinned go first. */
const MAX_PINNED_CALLS = 100_000;

interface Pin<D> {
  version: RoutesVersion<D>;
  until: number;
}

export function createRouteVersions<D>(initial: Config, build: (config: Config, number: number) => RoutesVersion<D>, now: () => number = Date.now): RouteVersions<D> {
  let current = build(initial, 1);
  // Every webhook looks its call up here, so a plain Map in pinning order (a pin lasts pin_calls
  // from the call's first event; later events do not extend it), trimmed from the front.
  const pins = new Map<string, Pin<D>>();
  let inUseCache: { at: number; versions: Set<RoutesVersion<D>> } | undefined;
  const dropExpired = (at: number) => {
    for (const [callId, pin] of pins) {
      if (pin.until > at && pins.size <= MAX_PINNED_CALLS) break;
      pins.delete(callId);
    }
  };
  return {
    current: () => current,
    pinnedFor(callId) {
      if (callId === undefined) return undefined;
      const pin = pins.get(callId);
      return pin !== undefined && pin.until > now() ? pin.version : undefined;
    },
    pin(callId, version) {
      if (callId === undefined) return;
      const at = now();
      pins.delete(callId);
      pins.set(callId, { version, until: at + version.config.reload.pin_calls });
      if (pins.size > MAX_PINNED_CALLS) dropExpired(at);
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
      dropExpired(at);
      const versions = new Set([current]);
      for (const pin of pins.values()) if (pin.until > at) versions.add(pin.version);
      inUseCache = { at, versions };
      return versions;
    },
  };
}
