// The platform's webhook envelope {"message": {"type", ...}}: parsing, the checks that answer 400,
// and the few fields the gateway reads (call id, phone number, tool calls).

import { GatewayError } from './errors.js';
import { isPlainObject } from './tool-reply.js';

export interface Envelope {
  message: Record<string, unknown> & { type: string };
}

export function parseEnvelope(raw: Buffer, eventHeader: string | undefined): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new GatewayError('GW_ERR_INVALID_JSON', `The body is not valid JSON (${(err as Error).message}).`);
  }
  if (!isPlainObject(value) || !isPlainObject(value.message)) {
    throw new GatewayError('GW_ERR_INVALID_ENVELOPE', 'The body must be a JSON object with a "message" object: {"message": {"type": "<event>", ...}}.');
  }
  const type = value.message.type;
  if (typeof type !== 'string' || type === '') {
    throw new GatewayError('GW_ERR_INVALID_ENVELOPE', 'message.type is missing; it must name the event, for example "tool-calls".');
  }
  if (eventHeader !== undefined && eventHeader !== type) {
    throw new GatewayError('GW_ERR_EVENT_MISMATCH', `X-Webhook-Event is "${eventHeader}" but message.type is "${type}"; they must be equal.`);
  }
  return value as unknown as Envelope;
}

export function callIdOf(envelope: Envelope): string | undefined {
  const call = envelope.message.call;
  if (!isPlainObject(call)) return undefined;
  return typeof call.id === 'string' || typeof call.id === 'number' ? String(call.id) : undefined;
}

export function phoneNumberOf(envelope: Envelope): string | undefined {
  const phone = envelope.message.phone_number;
  return isPlainObject(phone) && typeof phone.number === 'string' ? phone.number : undefined;
}

/** One entry of tool_call_list as the gateway understands it. */
export interface ToolCall {
  /** Echoed back exactly as received (the platform sends strings). */
  id: string | number;
  /** The entry exactly as received, for `body: message` forwarding. */
  entry: Record<string, unknown>;
  name: string | undefined;
  /** Parsed arguments, or the reason they could not be read. */
  args: { ok: true; value: Record<string, unknown> } | { ok: false; problem: string };
}

export function toolCallsOf(envelope: Envelope): ToolCall[] {
  const list = envelope.message.tool_call_list;
  if (!Array.isArray(list) || list.length === 0) {
    throw new GatewayError('GW_ERR_INVALID_TOOL_CALLS', 'message.tool_call_list must be a non-empty array of tool calls.');
  }
  return list.map((entry, index) => {
    if (!isPlainObject(entry) || (typeof entry.id !== 'string' && typeof entry.id !== 'number') || entry.id === '') {
      throw new GatewayError('GW_ERR_INVALID_TOOL_CALLS', `message.tool_call_list[${index}] has no id; every tool call needs one.`);
    }
    const fn = isPlainObject(entry.function) ? entry.function : undefined;
    const name = typeof fn?.name === 'string' && fn.name !== '' ? fn.name : undefined;
    return { id: entry.id, entry, name, args: readArguments(fn?.arguments) };
  });
}

function readArguments(value: unknown): ToolCall['args'] {
  if (value === undefined || value === null) return { ok: true, value: {} };
  if (isPlainObject(value)) return { ok: true, value };
  if (typeof value === 'string') {
    if (value.trim() === '') return { ok: true, value: {} };
    try {
      const parsed: unknown = JSON.parse(value);
      if (isPlainObject(parsed)) return { ok: true, value: parsed };
      return { ok: false, problem: 'the arguments string is JSON but not an object' };
    } catch {
      return { ok: false, problem: 'the arguments string is not valid JSON' };
    }
  }
  return { ok: false, problem: 'arguments must be an object or a JSON string' };
}
