// Turns whatever a backend answered into one tool-call result: the platform's four reply formats
// (object, simple, error, direct), plain text, or an empty body.

export type ToolReply =
  | { kind: 'result'; value: unknown }
  | { kind: 'error'; message: string }
  /** The backend failed (non-2xx, unreadable reply): the caller answers with a fallback. */
  | { kind: 'failed'; detail: string };

const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function normaliseToolReply(status: number, contentType: string, body: Buffer, toolCallId: string | number): ToolReply {
  if (status < 200 || status > 299) return { kind: 'failed', detail: `HTTP ${status}` };
  if (body.length === 0) return { kind: 'result', value: '' };
  if (!jsonType.test(contentType)) return { kind: 'result', value: body.toString('utf8') };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { kind: 'failed', detail: 'reply is not valid JSON' };
  }
  return interpretJson(value, toolCallId);
}

/** Reply precedence: a `results` array, then `result`, then `error`, else the whole value. */
export function interpretJson(value: unknown, toolCallId: string | number): ToolReply {
  if (!isPlainObject(value)) return { kind: 'result', value };
  if (Array.isArray(value.results)) {
    const entries = value.results as unknown[];
    const entry = entries.find((e) => isPlainObject(e) && e.tool_call_id === toolCallId) ?? (entries.length === 1 ? entries[0] : undefined);
    if (!isPlainObject(entry)) return { kind: 'failed', detail: `results has no entry for tool_call_id ${toolCallId}` };
    if ('result' in entry) return { kind: 'result', value: entry.result };
    if (hasError(entry)) return { kind: 'error', message: errorText(entry.error) };
    return { kind: 'failed', detail: 'results entry has neither result nor error' };
  }
  if ('result' in value) return { kind: 'result', value: value.result };
  if (hasError(value)) return { kind: 'error', message: errorText(value.error) };
  return { kind: 'result', value };
}

/** `"error": null` is how many APIs say "no error": only a real value counts. */
function hasError(value: Record<string, unknown>): boolean {
  return value.error !== undefined && value.error !== null;
}

function errorText(error: unknown): string {
  return typeof error === 'string' ? error : JSON.stringify(error);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
