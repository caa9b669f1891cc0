// Keeps each tool result within limits.result: a value whose JSON is larger becomes a string of
// that JSON, cut on a UTF-8 character boundary and ending in "…", so the reply stays valid JSON.

const ELLIPSIS = '…';
const ELLIPSIS_BYTES = Buffer.byteLength(ELLIPSIS);

export function limitValue(value: unknown, limitBytes: number): { value: unknown; truncatedFrom: number | undefined } {
  const serialized = JSON.stringify(value) ?? 'null';
  const size = Buffer.byteLength(serialized);
  if (size <= limitBytes) return { value, truncatedFrom: undefined };
  // The cut text is sent as a JSON string: budget for the escaping that adds.
  let budget = Math.max(0, limitBytes - ELLIPSIS_BYTES - 2);
  let cut = cutUtf8(serialized, budget);
  while (budget > 0 && Buffer.byteLength(JSON.stringify(cut + ELLIPSIS)) > limitBytes) {
    budget -= Math.max(1, Buffer.byteLength(JSON.stringify(cut + ELLIPSIS)) - limitBytes);
    cut = cutUtf8(serialized, budget);
  }
  return { value: cut + ELLIPSIS, truncatedFrom: size };
}

function cutUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
