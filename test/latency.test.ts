// createLatencyWindow: no p90 under 10 samples, the nearest-rank p90 of known sets, and a window
// that keeps only the last 100 samples.
import t from 'tap';
import { createLatencyWindow } from '../src/latency.js';

const filled = (values: number[]) => {
  const w = createLatencyWindow();
  for (const v of values) w.add(v);
  return w;
};
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

t.test('undefined with fewer than 10 samples', async (t) => {
  const w = createLatencyWindow();
  t.equal(w.p90(), undefined);
  for (let i = 1; i <= 9; i++) {
    w.add(i * 10);
    t.equal(w.p90(), undefined, `${i} samples`);
  }
  w.add(100);
  t.equal(w.p90(), 90);
});

t.test('exact p90 for known sets, whatever the order of arrival', async (t) => {
  t.equal(filled(range(1, 10)).p90(), 9);
  t.equal(filled(range(1, 10).reverse()).p90(), 9);
  t.equal(filled([5, 5, 5, 5, 5, 5, 5, 5, 5, 5]).p90(), 5);
  t.equal(filled([1, 1, 1, 1, 1, 1, 1, 1, 1, 1000]).p90(), 1, 'one outlier in 10 stays above the p90');
  t.equal(filled([1, 1, 1, 1, 1, 1, 1, 1, 1000, 1000]).p90(), 1000);
  t.equal(filled(range(1, 11)).p90(), 10, '11 samples: rank ceil(9.9) = 10');
  t.equal(filled(range(1, 20)).p90(), 18);
  t.equal(filled(range(1, 100)).p90(), 90);
  t.equal(filled([30, 10, 20, 50, 40, 100, 90, 60, 80, 70, 0.5, 2.25]).p90(), 90);
});

t.test('numeric, not lexicographic, ordering', async (t) => {
  t.equal(filled([9, 80, 700, 1000, 2, 30, 400, 5000, 60, 1]).p90(), 1000);
});

t.test('the window keeps only the last 100 samples', async (t) => {
  t.equal(filled(range(1, 150)).p90(), 140, 'samples 51..150');
  // 100 slow samples, then 100 fast ones: the slow ones are all gone.
  t.equal(filled([...Array(100).fill(5000), ...Array(100).fill(7)]).p90(), 7);
  // 100 fast, then 11 slow: 11 of the last 100 are slow, above the 90th rank.
  t.equal(filled([...Array(100).fill(7), ...Array(11).fill(5000)]).p90(), 5000);
  t.equal(filled([...Array(100).fill(7), ...Array(10).fill(5000)]).p90(), 7);
});

t.test('custom size and minimum', async (t) => {
  const w = createLatencyWindow(5, 3);
  w.add(1);
  w.add(2);
  t.equal(w.p90(), undefined);
  w.add(3);
  t.equal(w.p90(), 3);
  for (const v of [100, 100, 100, 100, 100]) w.add(v);
  t.equal(w.p90(), 100);
});
