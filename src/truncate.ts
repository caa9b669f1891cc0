// Keeps each tool result within limits.result: a value whose JSON is larger becomes a string of
// that JSON, cut on a character boundary and ending in "…", so the reply stays valid JSON.

const ELLIPSIS = '…';

/**
 * `maxJsonBytes`, when the caller knows one, bounds the value's JSON size: within the limit, the
 * value is not serialized just to be measured.
 */
export function limitValue(value: unknown, limitBytes: number, maxJsonBytes?: number): { value: unknown; truncatedFrom: number | undefined } {
  // A string of n UTF-16 units serializes to at most 6n + 2 bytes ("\u0000"): short ones need no check.
  const bound = typeof value === 'string' ? Math.min(value.length * 6 + 2, maxJsonBytes ?? Infinity) : maxJsonBytes;
  if (bound !== undefined && bound <= limitBytes) return { value, truncatedFrom: undefined };
  const serialized = JSON.stringify(value) ?? 'null';
  const size = Buffer.byteLength(serialized);
  if (size <= limitBytes) return { value, truncatedFrom: undefined };
  // The longest prefix whose JSON string (quotes and escapes included) still fits: escaping can
  // double a character's size, so the length is searched for rather than computed.
  const fits = (chars: number) => Buffer.byteLength(JSON.stringify(prefix(serialized, chars) + ELLIPSIS)) <= limitBytes;
  if (!fits(0)) return { value: '', truncatedFrom: size };
  // Every character costs at least one byte, so no prefix longer than the limit can fit: the
  // search stays within it, however large the value.
  let low = 0;
  let high = Math.min(serialized.length, limitBytes);
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid - 1;
  }
  return { value: prefix(serialized, low) + ELLIPSIS, truncatedFrom: size };
}

/** The first `chars` UTF-16 units, never ending inside a surrogate pair (so no character is split). */
function prefix(text: string, chars: number): string {
  const code = text.charCodeAt(chars - 1);
  return chars > 0 && code >= 0xd800 && code <= 0xdbff ? text.slice(0, chars - 1) : text.slice(0, chars);
}
