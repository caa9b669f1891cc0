// The route table, compiled once per config, and the pure lookups on it: which scope (assistant
// or account) a webhook belongs to, and which target answers a tool call or an event.

import { createArgumentChecker } from './arguments.js';
import { normalizePhoneNumber, type AssistantRequestTarget, type Config, type EventTarget, type Events, type ToolTarget } from './config/schema.js';
import { fallbackSet } from './fallbacks.js';
import { compileTarget, type CompiledTarget } from './target.js';
import { compileToolPolicy, type ToolPolicy } from './tool-policy.js';

export type ListEvent = 'status-update' | 'end-of-call-report';

export interface AssistantRequestRoute {
  target: CompiledTarget | undefined;
  static: Record<string, unknown> | undefined;
}

export interface ToolRoute {
  readonly target: CompiledTarget;
  readonly policy: ToolPolicy;
}

/** Everything a webhook needs once its scope is known: secrets, tools, events. */
export interface Scope {
  /** The routes.yaml assistant name; undefined for the account scope. */
  readonly assistant: string | undefined;
  readonly secrets: readonly string[];
  readonly tools: ReadonlyMap<string, ToolRoute>;
  readonly assistantRequest: AssistantRequestRoute | undefined;
  readonly listEvents: Readonly<Record<ListEvent, readonly CompiledTarget[]>>;
}

export type RouteLevel = 'assistant' | 'account' | 'fallback';

export interface RouteTable {
  readonly account: Scope;
  readonly assistants: ReadonlyMap<string, Scope>;
  readonly fallback: CompiledTarget | undefined;
  /** Every target origin, so connection pools can be made up front. */
  readonly origins: ReadonlySet<string>;
  /** Every target by id: the outbox finds a stored delivery's target (and its secret) here. */
  readonly targets: ReadonlyMap<string, CompiledTarget>;
  scopeForPhoneNumber(number: string | null | undefined): Scope | undefined;
  lookupTool(scope: Scope, tool: string): (ToolRoute & { level: RouteLevel }) | undefined;
}

export function buildRouteTable(config: Config): RouteTable {
  const origins = new Set<string>();
  const targets = new Map<string, CompiledTarget>();
  const defaultFallbacks = fallbackSet(config.defaults.fallback);
  const compileCheck = createArgumentChecker();
  const compile = (spec: ToolTarget | EventTarget | AssistantRequestTarget, defaults: { path: string; body: 'arguments' | 'message' }) => {
    const target = compileTarget(spec, config.upstreams, defaults);
    origins.add(target.origin);
    targets.set(target.id, target);
    return target;
  };
  const compileTools = (tools: Record<string, ToolTarget>) =>
    new Map(
      Object.entries(tools).map(([name, spec]) => [
        name,
        { target: compile(spec, { path: `/${name}`, body: 'arguments' }), policy: compileToolPolicy(spec, defaultFallbacks, compileCheck) },
      ]),
    );
  const compileEvents = (events: Events) => {
    const ar = events['assistant-request'];
    const assistantRequest: AssistantRequestRoute | undefined = ar
      ? { target: ar.upstream !== undefined || ar.url !== undefined ? compile(ar, { path: '', body: 'message' }) : undefined, static: ar.static }
      : undefined;
    const list = (name: ListEvent) => (events[name] ?? []).map((spec) => compile(spec, { path: '', body: 'message' }));
    return { assistantRequest, listEvents: { 'status-update': list('status-update'), 'end-of-call-report': list('end-of-call-report') } };
  };

  const accountEvents = compileEvents(config.events);
  const account: Scope = {
    assistant: undefined,
    secrets: config.account?.secrets ?? [],
    tools: compileTools(config.tools),
    ...accountEvents,
  };

  const assistants = new Map<string, Scope>();
  const byPhone = new Map<string, Scope>();
  for (const [name, spec] of Object.entries(config.assistants)) {
    const own = compileEvents(spec.events ?? {});
    const events = spec.events ?? {};
    const scope: Scope = {
      assistant: name,
      secrets: spec.secrets ?? account.secrets,
      tools: compileTools(spec.tools ?? {}),
      // An assistant's entry for an event replaces the account's targets for that event only.
      assistantRequest: events['assistant-request'] !== undefined ? own.assistantRequest : account.assistantRequest,
      listEvents: {
        'status-update': events['status-update'] !== undefined ? own.listEvents['status-update'] : account.listEvents['status-update'],
        'end-of-call-report': events['end-of-call-report'] !== undefined ? own.listEvents['end-of-call-report'] : account.listEvents['end-of-call-report'],
      },
    };
    assistants.set(name, scope);
    for (const number of spec.phone_numbers ?? []) byPhone.set(normalizePhoneNumber(number), scope);
  }

  const fallback = config.fallback ? compile(config.fallback, { path: '', body: 'message' }) : undefined;
  const fallbackRoute: ToolRoute | undefined = fallback ? { target: fallback, policy: compileToolPolicy(undefined, defaultFallbacks, compileCheck) } : undefined;

  return {
    account,
    assistants,
    fallback,
    origins,
    targets,
    scopeForPhoneNumber(number) {
      if (typeof number !== 'string') return undefined;
      return byPhone.get(normalizePhoneNumber(number));
    },
    lookupTool(scope, tool) {
      const own = scope.tools.get(tool);
      if (own) return { ...own, level: scope.assistant !== undefined ? 'assistant' : 'account' };
      if (scope.assistant !== undefined) {
        const shared = account.tools.get(tool);
        if (shared) return { ...shared, level: 'account' };
      }
      if (fallbackRoute) return { ...fallbackRoute, level: 'fallback' };
      return undefined;
    },
  };
}
