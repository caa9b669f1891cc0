// Durations and sizes as written in routes.yaml: parseDuration, parseSize (every unit, integers,
// decimals, invalid input) and formatDuration (the largest whole unit, round-tripping).
import t from 'tap';
import { formatDuration, parseDuration, parseSize } from '../../src/config/units.js';

t.test('parseDuration: every unit', async (t) => {
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('3s'), 3000);
  t.equal(parseDuration('1m'), 60_000);
  t.equal(parseDuration('2h'), 7_200_000);
  t.equal(parseDuration('7d'), 604_800_000);
  t.equal(parseDuration('0ms'), 0);
  t.equal(parseDuration('0s'), 0);
});

t.test('parseDuration: an integer is milliseconds', async (t) => {
  t.equal(parseDuration(0), 0);
  t.equal(parseDuration(1), 1);
  t.equal(parseDuration(9000), 9000);
  t.equal(parseDuration(300_000), 300_000);
});

t.test('parseDuration: decimals, surrounding and inner spaces', async (t) => {
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration('0.5m'), 30_000);
  t.equal(parseDuration('2.5h'), 9_000_000);
  t.equal(parseDuration('0.25d'), 21_600_000);
  t.equal(parseDuration('0.1s'), 100);
  // Sub-millisecond results round to the nearest millisecond.
  t.equal(parseDuration('1.4ms'), 1);
  t.equal(parseDuration('1.6ms'), 2);
  t.equal(parseDuration(' 3s '), 3000);
  t.equal(parseDuration('3 s'), 3000);
});

t.test('parseDuration: invalid input is undefined', async (t) => {
  const invalid: unknown[] = [
    -1, -1000, 1.5, 0.1, Number.NaN, Number.POSITIVE_INFINITY,
    '-3s', '', ' ', 's', 'ms', '3sec', '3 seconds', '3S', '3MS', '1w', '1y', '.5s', '5.s', '1e3ms', '3s5ms', '3s ago', 'abc',
    null, undefined, true, false, {}, [], ['3s'],
  ];
  for (const value of invalid) t.equal(parseDuration(value), undefined, `parseDuration(${JSON.stringify(value) ?? String(value)})`);
});

t.test('parseSize: every unit, 1024-based, case-insensitive', async (t) => {
  t.equal(parseSize('10b'), 10);
  t.equal(parseSize('512kb'), 524_288);
  t.equal(parseSize('1mb'), 1_048_576);
  t.equal(parseSize('1gb'), 1_073_741_824);
  t.equal(parseSize('1MB'), 1_048_576);
  t.equal(parseSize('2Kb'), 2048);
  t.equal(parseSize('0b'), 0);
  t.equal(parseSize(' 1 mb '), 1_048_576);
});

t.test('parseSize: an integer is bytes', async (t) => {
  t.equal(parseSize(0), 0);
  t.equal(parseSize(1), 1);
  t.equal(parseSize(1_048_576), 1_048_576);
});

t.test('parseSize: decimals round down to whole bytes', async (t) => {
  t.equal(parseSize('1.5kb'), 1536);
  t.equal(parseSize('0.5mb'), 524_288);
  t.equal(parseSize('1.25gb'), 1_342_177_280);
  t.equal(parseSize('1.0001kb'), 1024);
  t.equal(parseSize('1.5b'), 1);
});

t.test('parseSize: invalid input is undefined', async (t) => {
  const invalid: unknown[] = [
    -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY,
    '-1kb', '', 'kb', '1k', '1m', '1g', '1tb', '1 megabyte', '1kib', '.5mb', '1e3b', '1kb1b', 'abc',
    null, undefined, true, {}, [],
  ];
  for (const value of invalid) t.equal(parseSize(value), undefined, `parseSize(${JSON.stringify(value) ?? String(value)})`);
});

t.test('formatDuration: the largest whole unit, else milliseconds', async (t) => {
  const cases: [number, string][] = [
    [0, '0ms'],
    [1, '1ms'],
    [500, '500ms'],
    [1000, '1s'],
    [1500, '1500ms'],
    [9000, '9s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [86_400_000, '1d'],
    [90_000_000, '25h'],
    [604_800_000, '7d'],
  ];
  for (const [ms, text] of cases) t.equal(formatDuration(ms), text, `formatDuration(${ms})`);
});

t.test('formatDuration output parses back to the same milliseconds', async (t) => {
  for (const ms of [0, 1, 999, 1000, 1001, 4000, 61_000, 3_600_000, 3_660_000, 86_400_000, 90_061_001]) {
    t.equal(parseDuration(formatDuration(ms)), ms, `round trip of ${ms}`);
  }
});

t.test('a string of digits is milliseconds or bytes, as a bare integer is', async (t) => {
  t.strictSame([parseDuration('3000'), parseDuration('0'), parseSize('2048'), parseSize(' 10 ')], [3000, 0, 2048, 10]);
});
