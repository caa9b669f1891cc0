// Counters and histograms that the hot path updates with one Map lookup, shown through
// prom-client's registry at scrape time. prom-client's own inc/observe hash the label object on
// every call: with several updates per webhook that cost more than the rest of the metrics.

import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string>;

interface MetricDefinition {
  name: string;
  help: string;
  labelNames: readonly string[];
}

/** What prom-client's registry asks of a metric: a name, a help text and its values when scraped. */
interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** The series of one metric, one per label combination, created on first use. */
function createSeries<T>(labelNames: readonly string[], fresh: () => T) {
  const series = new Map<string, { labels: Labels; data: T }>();
  return {
    series,
    /** `values` in labelNames order. */
    get(values: readonly string[]): T {
      const key = values.length === 1 ? values[0]! : values.join('\u0000');
      let entry = series.get(key);
      if (entry === undefined) {
        const labels: Labels = {};
        labelNames.forEach((name, i) => (labels[name] = values[i]!));
        series.set(key, (entry = { labels, data: fresh() }));
      }
      return entry.data;
    },
  };
}

function register(registry: Registry, definition: MetricDefinition, type: 'counter' | 'histogram', values: () => ExportedValue[], reset: () => void): void {
  const { name, help } = definition;
  const metric = { name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }), reset };
  registry.registerMetric(metric as unknown as Metric);
}

export interface CounterSeries {
  inc(values: readonly string[], by?: number): void;
}

export function registerCounter(registry: Registry, definition: MetricDefinition): CounterSeries {
  const { series, get } = createSeries(definition.labelNames, () => ({ value: 0 }));
  const exported = () => [...series.values()].map(({ labels, data }) => ({ labels, value: data.value }));
  register(registry, definition, 'counter', exported, () => series.clear());
  return {
    inc(values, by = 1) {
      get(values).value += by;
    },
  };
}

export interface HistogramSeries {
  observe(values: readonly string[], value: number): void;
}

export function registerHistogram(registry: Registry, definition: MetricDefinition & { buckets: readonly number[] }): HistogramSeries {
  const { buckets } = definition;
  const { series, get } = createSeries(definition.labelNames, () => ({ counts: new Float64Array(buckets.length), sum: 0, count: 0 }));
  const exported = () => {
    const out: ExportedValue[] = [];
    for (const { labels, data } of series.values()) {
      let cumulative = 0;
      buckets.forEach((le, i) => {
        cumulative += data.counts[i]!;
        out.push({ labels: { le, ...labels }, value: cumulative, metricName: `${definition.name}_bucket` });
      });
      out.push({ labels: { le: '+Inf', ...labels }, value: data.count, metricName: `${definition.name}_bucket` });
      out.push({ labels, value: data.sum, metricName: `${definition.name}_sum` });
      out.push({ labels, value: data.count, metricName: `${definition.name}_count` });
    }
    return out;
  };
  register(registry, definition, 'histogram', exported, () => series.clear());
  return {
    observe(values, value) {
      const data = get(values);
      data.sum += value;
      data.count++;
      // Per bucket, not cumulative: the running total is added up at scrape time.
      for (let i = 0; i < buckets.length; i++) {
        if (value <= buckets[i]!) {
          data.counts[i]!++;
          break;
        }
      }
    },
  };
}
