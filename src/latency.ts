// Recent latency of an upstream: the p90 of its last 100 successful attempts, which decides
// whether a retry can still finish before the deadline.

export interface LatencyWindow {
  add(ms: number): void;
  /** The 90th percentile, or undefined with fewer than `minSamples` samples. */
  p90(): number | undefined;
}

export function createLatencyWindow(size = 100, minSamples = 10): LatencyWindow {
  const samples: number[] = [];
  let next = 0;
  return {
    add(ms) {
      if (samples.length < size) samples.push(ms);
      else samples[next] = ms;
      next = (next + 1) % size;
    },
    p90() {
      if (samples.length < minSamples) return undefined;
      const sorted = [...samples].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.9) - 1)];
    },
  };
}
