// Spoken fallbacks: the sentences a tool call answers with when there is no real result, per
// reason, from the tool's `fallback`, then `defaults.fallback`, then built-in English; lists are
// rotated per call so the caller does not hear the same sentence twice.

import { createExpiringMap } from './state/expiring-map.js';
import { FALLBACK_REASONS, type FallbackConfig, type FallbackReason } from './config/schema.js';

export type FallbackSet = Readonly<Partial<Record<FallbackReason, readonly string[]>>>;

/** A plain sentence or list covers the backend failures; the other reasons keep their own. */
const COVERED_BY_PLAIN: readonly FallbackReason[] = ['timeout', 'unavailable', 'error'];

export function fallbackSet(config: FallbackConfig | undefined): FallbackSet {
  if (config === undefined) return {};
  if (typeof config === 'string' || Array.isArray(config)) {
    const list = typeof config === 'string' ? [config] : config;
    return Object.fromEntries(COVERED_BY_PLAIN.map((reason) => [reason, list]));
  }
  const set: Partial<Record<FallbackReason, readonly string[]>> = {};
  for (const reason of FALLBACK_REASONS) {
    const value = config[reason];
    if (value !== undefined) set[reason] = typeof value === 'string' ? [value] : value;
  }
  return set;
}

/** The tool's sentences per reason, else the defaults' for that reason. */
export function mergeFallbacks(tool: FallbackSet, defaults: FallbackSet): FallbackSet {
  const merged: Partial<Record<FallbackReason, readonly string[]>> = {};
  for (const reason of FALLBACK_REASONS) {
    const list = tool[reason] ?? defaults[reason];
    if (list !== undefined) merged[reason] = list;
  }
  return merged;
}

/** "book_appointment" -> "book appointment": how a caller would hear the tool's name. */
export function spokenName(name: string): string {
  return name.replace(/[_\-.]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').trim().toLowerCase() || 'tool';
}

/** Built-in sentences: short, speakable, never naming hosts, status codes or stack traces. */
export function builtInFallback(reason: FallbackReason, tool: string): string {
  const service = `The ${spokenName(tool)} service`;
  switch (reason) {
    case 'timeout':
      return `${service} did not answer in time.`;
    case 'unavailable':
      return `${service} is not reachable right now.`;
    case 'error':
      return `${service} could not handle this request.`;
    case 'invalid_arguments':
      return `Some details for ${spokenName(tool)} are missing or wrong.`;
    case 'rate_limited':
      return `${service} has been asked too often on this call; let's continue without it.`;
  }
}

export type FallbackEntry = { result: string } | { error: string };

/**
 * A configured sentence is sent as `result` (it is meant to be spoken); with none configured the
 * built-in one is sent as `error`. `builtIn` overrides the built-in text (argument problems name
 * the field).
 */
export function createFallbackPicker(options: { maxCalls?: number; ttlMs?: number } = {}) {
  // Per call and list: the index of the next sentence, so a list shared through defaults also
  // rotates across tools.
  const turns = createExpiringMap<number>(options.maxCalls ?? 10_000);
  const ttlMs = options.ttlMs ?? 30 * 60_000;
  return function pickFallback(set: FallbackSet, reason: FallbackReason, tool: string, callId: string | undefined, builtIn?: string): FallbackEntry {
    const list = set[reason];
    if (list === undefined || list.length === 0) return { error: builtIn ?? builtInFallback(reason, tool) };
    if (list.length === 1 || callId === undefined) return { result: list[0]! };
    const key = `${callId}\u0000${list.join('\u0001')}`;
    const turn = turns.get(key) ?? 0;
    turns.set(key, turn + 1, ttlMs);
    return { result: list[turn % list.length]! };
  };
}

export type FallbackPicker = ReturnType<typeof createFallbackPicker>;
