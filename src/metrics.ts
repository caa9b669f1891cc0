// The gateway's Prometheus metrics (prom-client), one registry per app: counters and histograms
// the hot path feeds (metric-series.ts), and gauges read at scrape time (breakers, outbox).
// Label values are bounded.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { BreakerState } from './breaker.js';
import { registerCounter, registerHistogram } from './metric-series.js';

export type WebhookOutcome = 'ok' | 'rejected' | 'error';
export type ToolCallOutcome = 'ok' | 'replayed' | 'error' | 'timeout' | 'unavailable' | 'invalid_arguments' | 'rate_limited';

/** What the rest of the gateway reports; modules in the middle see only this, not prom-client. */
export interface GatewayMetrics {
  webhook(event: string, status: number): void;
  headroom(event: string, ms: number): void;
  toolCall(tool: string, upstream: string, outcome: ToolCallOutcome): void;
  upstreamDuration(upstream: string, ms: number): void;
  fallback(tool: string, reason: string): void;
  configVersion(version: number): void;
  reloadFailed(): void;
}

export interface MetricSources {
  breakerStates: () => Iterable<readonly [string, BreakerState]>;
  /** Undefined while the outbox store is not open. */
  outboxCounts: () => { pending: number; dead: number } | undefined;
}

/** Events the platform documents; anything else is counted as `other` so labels stay bounded. */
const KNOWN_EVENTS = new Set(['tool-calls', 'assistant-request', 'status-update', 'end-of-call-report']);
export const eventLabel = (event: string | undefined): string => (event !== undefined && KNOWN_EVENTS.has(event) ? event : 'other');

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
const PREFIX = 'hms_router_';

export function createMetrics(sources: MetricSources): GatewayMetrics & { registry: Registry } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const webhooks = registerCounter(registry, { name: `${PREFIX}webhooks_total`, help: 'Webhooks answered, by event and outcome (ok 2xx, rejected 4xx, error 5xx).', labelNames: ['event', 'outcome'] });
  const toolCalls = registerCounter(registry, { name: `${PREFIX}tool_calls_total`, help: 'Tool calls answered, by tool, upstream and outcome.', labelNames: ['tool', 'upstream', 'outcome'] });
  const upstreamDuration = registerHistogram(registry, {
    name: `${PREFIX}upstream_duration_seconds`,
    help: 'Duration of each upstream attempt, by upstream name (or origin for url: targets).',
    labelNames: ['upstream'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const headroom = registerHistogram(registry, {
    name: `${PREFIX}deadline_headroom_seconds`,
    help: 'Time left before the deadline when the reply was written, by event.',
    labelNames: ['event'],
    buckets: [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 6, 8, 10],
  });
  const fallbacks = registerCounter(registry, { name: `${PREFIX}fallbacks_total`, help: 'Fallback sentences answered instead of a result, by tool and reason.', labelNames: ['tool', 'reason'] });
  const configVersion = new Gauge({ name: `${PREFIX}config_version`, help: 'Version of routes.yaml in force: 1 at start, +1 per reload that changed it.', registers: [registry] });
  const reloadFailures = new Counter({ name: `${PREFIX}config_reload_failures_total`, help: 'Reloads refused because routes.yaml was invalid or unreadable.', registers: [registry] });
  new Gauge({
    name: `${PREFIX}breaker_state`,
    help: 'Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.',
    labelNames: ['upstream'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [upstream, state] of sources.breakerStates()) this.set({ upstream }, BREAKER_VALUE[state]);
    },
  });
  // Both outbox gauges come from one count of the store per scrape (it is a query).
  let counted: { at: number; counts: ReturnType<MetricSources['outboxCounts']> } | undefined;
  const outboxCounts = () => {
    const at = Date.now();
    if (counted === undefined || at - counted.at > 1000) counted = { at, counts: sources.outboxCounts() };
    return counted.counts;
  };
  const outboxGauges: [string, string, 'pending' | 'dead'][] = [
    ['outbox_pending', 'Event deliveries (and async tool calls) waiting in the durable outbox.', 'pending'],
    ['dead_letters', 'Deliveries that gave up; see `hms-tool-router events list --status dead`.', 'dead'],
  ];
  for (const [name, help, field] of outboxGauges) {
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      registers: [registry],
      collect() {
        const counts = outboxCounts();
        if (counts) this.set(counts[field]);
      },
    });
  }
  reloadFailures.inc(0);

  return {
    registry,
    webhook: (event, status) => webhooks.inc([eventLabel(event), status >= 500 ? 'error' : status >= 400 ? 'rejected' : 'ok']),
    headroom: (event, ms) => headroom.observe([eventLabel(event)], ms / 1000),
    toolCall: (tool, upstream, outcome) => toolCalls.inc([tool, upstream, outcome]),
    upstreamDuration: (upstream, ms) => upstreamDuration.observe([upstream], ms / 1000),
    fallback: (tool, reason) => fallbacks.inc([tool, reason]),
    configVersion: (version) => configVersion.set(version),
    reloadFailed: () => reloadFailures.inc(),
  };
}
