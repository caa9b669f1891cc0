// What the gateway knows about each upstream's recent behaviour: its circuit breaker and its
// recent latency. Keyed by upstream name, or by origin for `url:` targets; kept across reloads.

import { breakerSettings, createBreaker, type Breaker, type BreakerSettings, type BreakerState } from './breaker.js';
import type { Config } from './config/schema.js';
import { createLatencyWindow, type LatencyWindow } from './latency.js';

export interface UpstreamHealth {
  breaker: Breaker;
  latency: LatencyWindow;
}

export function createHealthRegistry(initial: Config, now: () => number) {
  let config = initial;
  const byLabel = new Map<string, UpstreamHealth & { settings: BreakerSettings }>();
  const settingsFor = (label: string) => breakerSettings(config.upstreams[label]?.breaker, config.defaults.breaker);
  return {
    healthOf(label: string): UpstreamHealth {
      let health = byLabel.get(label);
      if (!health) {
        const settings = settingsFor(label);
        health = { breaker: createBreaker(settings, now), latency: createLatencyWindow(), settings };
        byLabel.set(label, health);
      }
      return health;
    },
    /** After a reload: an upstream whose breaker settings changed starts afresh; the others keep their state. */
    reconfigure(next: Config): void {
      config = next;
      for (const [label, health] of byLabel) {
        if (JSON.stringify(health.settings) !== JSON.stringify(settingsFor(label))) byLabel.delete(label);
      }
    },
    states(): [string, BreakerState][] {
      return [...byLabel].map(([label, health]) => [label, health.breaker.state()]);
    },
  };
}

export type HealthRegistry = ReturnType<typeof createHealthRegistry>;
