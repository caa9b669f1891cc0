// `npm run bench:stores`: what a write costs the in-memory stores (src/state/expiring-map.ts)
// when they are empty and when they are full, at the sizes the gateway uses (fallback turns
// 10,000; replay cache, ledger and counters 50,000; call pins 100,000). A busy gateway's stores
// are full, and every write then evicts: that must cost about what a write to an empty one does.
// In-process, bounded loops, no network.

import { createExpiringMap } from '../dist/state/expiring-map.js';

const WRITES = 200_000;
const TTL_MS = 600_000;

function usPerWrite(map, from) {
  const started = performance.now();
  for (let i = 0; i < WRITES; i++) map.set(`call-${from + i}`, i, TTL_MS);
  return ((performance.now() - started) * 1000) / WRITES;
}

const rows = [];
for (const max of [10_000, 50_000, 100_000]) {
  // Warm the code up once, so neither measurement includes compilation.
  usPerWrite(createExpiringMap(max), 0);
  const empty = createExpiringMap(WRITES * 2);
  const emptyUs = usPerWrite(empty, 0);
  const full = createExpiringMap(max);
  for (let i = 0; i < max; i++) full.set(`call-${i}`, i, TTL_MS);
  const fullUs = usPerWrite(full, max);
  rows.push(`| ${max.toLocaleString('en')} | ${emptyUs.toFixed(2)} | ${fullUs.toFixed(2)} | ${(fullUs / emptyUs).toFixed(2)}× | ${full.size.toLocaleString('en')} |`);
}
process.stdout.write(['| Store size | Write, not full (µs) | Write, full: evicts one (µs) | Full ÷ not full | Entries after |', '|--:|--:|--:|--:|--:|', ...rows, ''].join('\n'));
