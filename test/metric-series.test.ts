import t from 'tap';
import { Registry } from 'prom-client';
import { registerCounter, registerHistogram } from '../src/metric-series.js';

t.test('counters and histograms scrape in prom-client\'s exposition format', async (t) => {
  const registry = new Registry();
  const calls = registerCounter(registry, { name: 'x_calls_total', help: 'Calls.', labelNames: ['tool', 'outcome'] });
  const duration = registerHistogram(registry, { name: 'x_duration_seconds', help: 'Duration.', labelNames: ['upstream'], buckets: [0.01, 0.1, 1] });
  t.equal(await registry.metrics(), '# HELP x_calls_total Calls.\n# TYPE x_calls_total counter\n\n# HELP x_duration_seconds Duration.\n# TYPE x_duration_seconds histogram\n', 'present with no series before any update');

  calls.inc(['lookup', 'ok']);
  calls.inc(['lookup', 'ok']);
  calls.inc(['book', 'timeout'], 3);
  duration.observe(['crm'], 0.005);
  duration.observe(['crm'], 0.1);
  duration.observe(['crm'], 4);
  t.equal(
    await registry.metrics(),
    [
      '# HELP x_calls_total Calls.',
      '# TYPE x_calls_total counter',
      'x_calls_total{tool="lookup",outcome="ok"} 2',
      'x_calls_total{tool="book",outcome="timeout"} 3',
      '',
      '# HELP x_duration_seconds Duration.',
      '# TYPE x_duration_seconds histogram',
      'x_duration_seconds_bucket{le="0.01",upstream="crm"} 1',
      'x_duration_seconds_bucket{le="0.1",upstream="crm"} 2',
      'x_duration_seconds_bucket{le="1",upstream="crm"} 2',
      'x_duration_seconds_bucket{le="+Inf",upstream="crm"} 3',
      'x_duration_seconds_sum{upstream="crm"} 4.105',
      'x_duration_seconds_count{upstream="crm"} 3',
      '',
    ].join('\n'),
  );

  registry.resetMetrics();
  t.equal(await registry.metrics(), '# HELP x_calls_total Calls.\n# TYPE x_calls_total counter\n\n# HELP x_duration_seconds Duration.\n# TYPE x_duration_seconds histogram\n', 'reset empties every series');
});

t.test('label values that only differ in where they split are separate series', async (t) => {
  const registry = new Registry();
  const calls = registerCounter(registry, { name: 'y_total', help: 'Y.', labelNames: ['a', 'b'] });
  calls.inc(['a b', 'c']);
  calls.inc(['a', 'b c']);
  t.equal(await registry.metrics(), '# HELP y_total Y.\n# TYPE y_total counter\ny_total{a="a b",b="c"} 1\ny_total{a="a",b="b c"} 1\n');
});
