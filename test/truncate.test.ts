// limitValue: values within limits.result are untouched; larger ones become a string of their JSON,
// cut on a UTF-8 boundary and ending in "…", that fits the limit once serialized.
import t, { type Test } from 'tap';
import { limitValue } from '../src/truncate.js';

const bytesOf = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** The checks every truncated value must pass; returns the truncated text. */
function assertTruncated(t: Test, original: unknown, limit: number): string {
  const serialized = JSON.stringify(original);
  const { value, truncatedFrom } = limitValue(original, limit);
  t.equal(truncatedFrom, Buffer.byteLength(serialized), 'truncatedFrom is the serialized size in bytes');
  t.type(value, 'string');
  const text = value as string;
  t.ok(text.endsWith('…'), 'ends in …');
  t.ok(bytesOf(text) <= limit, `serialized ${bytesOf(text)} bytes <= ${limit}`);
  t.ok(serialized.startsWith(text.slice(0, -1)), 'a prefix of the serialized text');
  t.notOk(text.includes('\uFFFD'), 'no replacement character');
  t.notOk(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text), 'no lone surrogate');
  // Embedded in a reply, the whole document still parses and gives the value back.
  const reply = JSON.stringify({ results: [{ tool_call_id: 'c1', result: text }] });
  t.strictSame(JSON.parse(reply), { results: [{ tool_call_id: 'c1', result: text }] });
  return text;
}

t.test('under or at the limit: the same value, untouched', async (t) => {
  const object = { forecast: 'Sunny', temperature: 21, days: [1, 2, 3] };
  const under = limitValue(object, 1000);
  t.equal(under.value, object, 'the same object, not a copy');
  t.equal(under.truncatedFrom, undefined);
  const exact = limitValue(object, bytesOf(object));
  t.equal(exact.value, object, 'exactly at the limit is within it');
  t.equal(exact.truncatedFrom, undefined);
  t.strictSame(limitValue('short', 16), { value: 'short', truncatedFrom: undefined });
  t.strictSame(limitValue(42, 2), { value: 42, truncatedFrom: undefined });
  t.strictSame(limitValue(null, 4), { value: null, truncatedFrom: undefined });
  t.strictSame(limitValue('中中中中', 14), { value: '中中中中', truncatedFrom: undefined }, '"中中中中" is 14 bytes');
});

t.test('over the limit: a string of the serialized JSON, cut, ending in …', async (t) => {
  const object = { forecast: 'Sunny with a chance of rain later in the afternoon', temperature: 21 };
  const text = assertTruncated(t, object, 40);
  // The quotes of the JSON are escaped once it is sent as a string.
  t.equal(text, '{"forecast":"Sunny with a chance…');
  t.equal(bytesOf(text), 40);
  t.strictSame(limitValue('x'.repeat(100), 20), { value: '"xxxxxxxxxxxxx…', truncatedFrom: 102 });
  t.equal(bytesOf('"xxxxxxxxxxxxx…'), 20);
  t.strictSame(limitValue([1, 2, 3, 4, 5, 6, 7, 8, 9], 12), { value: '[1,2,3,…', truncatedFrom: 19 });
});

t.test('the default 16 KiB limit on a big result', async (t) => {
  const big = { items: Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `item ${i}` })) };
  const text = assertTruncated(t, big, 16 * 1024);
  t.ok(bytesOf(text) > 0.9 * 16 * 1024, 'keeps most of the room');
});

t.test('multi-byte characters are never split, at any limit', async (t) => {
  // é is 2 bytes, 中 is 3, 😀 is 4 (a surrogate pair in JS): every limit hits every cut point.
  for (const original of ['é'.repeat(40), '中'.repeat(40), '😀'.repeat(40), 'aé中😀'.repeat(20), 'naïve café 中文 👍🏽 done']) {
    const serialized = JSON.stringify(original);
    const problems: string[] = [];
    for (let limit = 5; limit < bytesOf(original); limit++) {
      const { value, truncatedFrom } = limitValue(original, limit);
      const text = value as string;
      const prefix = text.slice(0, -1);
      const nextChar = [...serialized.slice(prefix.length)][0]!;
      const fits = bytesOf(text) <= limit;
      const intact = !text.includes('\uFFFD') && serialized.startsWith(prefix) && Buffer.from(text).toString() === text;
      // Plain text has no quotes to escape but the first: the cut keeps all that fits.
      const maximal = bytesOf(prefix + nextChar + '…') > limit;
      if (!fits || !intact || !maximal || !text.endsWith('…') || truncatedFrom !== Buffer.byteLength(serialized)) problems.push(`limit ${limit}: ${JSON.stringify(text)}`);
    }
    t.strictSame(problems, [], `${original.slice(0, 8)}…`);
  }
  assertTruncated(t, '😀'.repeat(40), 17);
  t.strictSame(limitValue('😀😀😀😀', 16), { value: '"😀😀…', truncatedFrom: 18 });
  t.strictSame(limitValue('😀😀😀😀', 14), { value: '"😀…', truncatedFrom: 18 });
  t.strictSame(limitValue('中中中中', 13), { value: '"中中…', truncatedFrom: 14 });
  t.strictSame(limitValue('中中中中', 12), { value: '"中…', truncatedFrom: 14 });
  t.strictSame(limitValue('ééééé', 9), { value: '"é…', truncatedFrom: 12 });
});

t.test('escapes in the serialized text still fit once re-escaped', async (t) => {
  assertTruncated(t, { quote: '"'.repeat(50) }, 30);
  assertTruncated(t, '\\'.repeat(50), 30);
  assertTruncated(t, '\u0001\u0002\n\t'.repeat(20), 30);
  assertTruncated(t, { a: '\u2028\u2029'.repeat(20) }, 30);
  assertTruncated(t, { lone: '\uD800'.repeat(20) }, 30);
});

t.test('very small limits', async (t) => {
  t.strictSame(limitValue({ a: 1 }, 6), { value: '{…', truncatedFrom: 7 });
  t.strictSame(limitValue({ a: 1 }, 5), { value: '…', truncatedFrom: 7 }, '"…" is 5 bytes: the smallest truncation');
  t.strictSame(limitValue('中中', 7), { value: '"…', truncatedFrom: 8 }, 'room for the escaped quote, not for a 3-byte character');
  t.strictSame(limitValue('中中', 6), { value: '…', truncatedFrom: 8 });
  // Below 5 bytes nothing ending in … fits: the empty string is the least that can be sent.
  for (const limit of [0, 1, 4]) t.strictSame(limitValue({ a: 1 }, limit), { value: '', truncatedFrom: 7 }, `limit ${limit}`);
});

t.test('undefined serializes as null', async (t) => {
  t.strictSame(limitValue(undefined, 100), { value: undefined, truncatedFrom: undefined });
  t.strictSame(limitValue(undefined, 2), { value: '', truncatedFrom: 4 });
});

t.test('escapes are budgeted: a result full of quotes keeps as much as fits, not a sliver', async (t) => {
  const { value } = limitValue({ quote: '"'.repeat(500) }, 300);
  const size = Buffer.byteLength(JSON.stringify(value));
  t.ok(size <= 300 && size >= 295, `fills the limit: ${size} bytes`);
});

t.test('a very large value is cut quickly: the search never looks past the limit', async (t) => {
  const big = { rows: Array.from({ length: 200_000 }, (_, i) => ({ id: i, text: 'row "quoted" text' })) };
  const started = performance.now();
  const { value, truncatedFrom } = limitValue(big, 16 * 1024);
  const ms = performance.now() - started;
  t.ok(Buffer.byteLength(JSON.stringify(value)) <= 16 * 1024);
  t.ok((truncatedFrom ?? 0) > 8_000_000);
  t.ok(ms < 1500, `cut in ${Math.round(ms)} ms`);
});
