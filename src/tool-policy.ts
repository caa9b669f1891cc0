// How one tool is called, compiled once per config from its routes.yaml entry: fallbacks,
// retries, hedging, side effects, deadline behaviour, async delivery, argument checks.

import type { ArgumentCheck } from './arguments.js';
import type { ToolTarget } from './config/schema.js';
import { fallbackSet, mergeFallbacks, type FallbackSet } from './fallbacks.js';

export interface ToolPolicy {
  readonly fallbacks: FallbackSet;
  readonly retries: number;
  /** Safe to send more than once: GET, or marked idempotent. */
  readonly repeatable: boolean;
  readonly hedgeMs: number | undefined;
  readonly sideEffects: boolean;
  readonly continueAfterDeadline: boolean;
  readonly async: boolean;
  readonly asyncResponse: string;
  readonly checkArguments: ArgumentCheck | undefined;
}

export type ToolPolicyCompiler = (spec: ToolTarget | undefined) => ToolPolicy;

/**
 * Compiles the tool policies of one config. The tools without a fallback of their own (in a
 * large table, nearly all) share one merged set of the defaults' sentences.
 */
export function createToolPolicyCompiler(defaults: FallbackSet, compileCheck: (schema: Record<string, unknown>) => ArgumentCheck): ToolPolicyCompiler {
  const inherited = mergeFallbacks({}, defaults);
  return (spec) => ({
    fallbacks: spec?.fallback === undefined ? inherited : mergeFallbacks(fallbackSet(spec.fallback), defaults),
    retries: spec?.retries ?? 0,
    repeatable: spec?.idempotent === true || spec?.method === 'GET',
    hedgeMs: spec?.hedge,
    sideEffects: spec?.side_effects === true,
    continueAfterDeadline: spec?.on_deadline === 'continue',
    async: spec?.async === true,
    asyncResponse: spec?.async_response ?? 'OK',
    checkArguments: spec?.parameters !== undefined ? compileCheck(spec.parameters) : undefined,
  });
}
