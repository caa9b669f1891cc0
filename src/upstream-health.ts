// What the gateway knows about each upstream's recent behaviour: its circuit breaker and its
// recent latency. Keyed by upstream name, or by origin for `url:` targets.

import { breakerSettings, createBreaker, type Breaker } from './breaker.js';
import type { Config } from './config/schema.js';
import { createLatencyWindow, type LatencyWindow } from './latency.js';

export interface UpstreamHealth {
  breaker: Breaker;
  latency: LatencyWindow;
}

export function createHealthRegistry(config: Config, now: () => number) {
  const byLabel = new Map<string, UpstreamHealth>();
  return {
    healthOf(label: string): UpstreamHealth {
      let health = byLabel.get(label);
      if (!health) {
        const settings = breakerSettings(config.upstreams[label]?.breaker, config.defaults.breaker);
        health = { breaker: createBreaker(settings, now), latency: createLatencyWindow() };
        byLabel.set(label, health);
      }
      return health;
    },
  };
}

export type HealthRegistry = ReturnType<typeof createHealthRegistry>;
