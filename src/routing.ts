// The route table, compiled once per config, and the pure lookups on it: which scope (assistant
// or account) a webhook belongs to, and which target answers a tool call or an event. A scope's
// tools are compiled when first looked up, so 10,000 tools cost no time at start or reload.

import { createArgumentChecker } from './arguments.js';
import { normalizePhoneNumber, type AssistantRequestTarget, type Config, type EventTarget, type Events, type ToolTarget } from './config/schema.js';
import { fallbackSet } from './fallbacks.js';
import { createTargetCompiler, type CompiledTarget } from './target.js';
import { createToolPolicyCompiler, type ToolPolicy } from './tool-policy.js';

export type ListEvent = 'status-update' | 'end-of-call-report';

export interface AssistantRequestRoute {
  target: CompiledTarget | undefined;
  static: Record<string, unknown> | undefined;
}

export interface ToolRoute {
  readonly target: CompiledTarget;
  readonly policy: ToolPolicy;
}

export type RouteLevel = 'assistant' | 'account' | 'fallback';

/** A route with the level it was written at: built once, so a lookup allocates nothing. */
export type LeveledRoute = ToolRoute & { readonly level: RouteLevel };

/** Everything a webhook needs once its scope is known: secrets, tools, events. */
export interface Scope {
  /** The routes.yaml assistant name; undefined for the account scope. */
  readonly assistant: string | undefined;
  readonly secrets: readonly string[];
  readonly tools: ReadonlyMap<string, LeveledRoute>;
  readonly assistantRequest: AssistantRequestRoute | undefined;
  readonly listEvents: Readonly<Record<ListEvent, readonly CompiledTarget[]>>;
}

export interface RouteTable {
  readonly account: Scope;
  readonly assistants: ReadonlyMap<string, Scope>;
  readonly fallback: CompiledTarget | undefined;
  /** Every target origin, so connection pools can be made up front. */
  readonly origins: ReadonlySet<string>;
  /** Every target by id: the outbox finds a stored delivery's target (and its secret) here. */
  readonly targets: ReadonlyMap<string, CompiledTarget>;
  scopeForPhoneNumber(number: string | null | undefined): Scope | undefined;
  lookupTool(scope: Scope, tool: string): LeveledRoute | undefined;
}

const EVENT_DEFAULTS = { path: '', body: 'message' } as const;

export function buildRouteTable(config: Config): RouteTable {
  const origins = new Set<string>();
  const targets = new Map<string, CompiledTarget>();
  const targetCompiler = createTargetCompiler(config.upstreams);
  // ajv loads with the first schema it compiles (arguments.ts): most tables have none.
  const compilePolicy = createToolPolicyCompiler(fallbackSet(config.defaults.fallback), createArgumentChecker());
  /**
   * Where two targets share an id, `targets` keeps the one later in the file's order (the
   * account, then each assistant, a scope's events before its tools, the fallback last), whichever
   * was compiled first: tools compile on first use, events at once.
   */
  const ranks = new Map<string, number>();
  const compile = (spec: ToolTarget | EventTarget | AssistantRequestTarget, defaults: { path: string; body: 'arguments' | 'message' }, rank: number) => {
    const target = targetCompiler.compile(spec, defaults);
    origins.add(target.origin);
    if ((ranks.get(target.id) ?? -1) <= rank) {
      targets.set(target.id, target);
      ranks.set(target.id, rank);
    }
    return target;
  };
  /** The tool routes of one scope, compiled on first use; their origins are known at once. */
  const lazyTools = (tools: Record<string, ToolTarget>, level: RouteLevel, rank: number) => {
    for (const name in tools) origins.add(targetCompiler.originOf(tools[name]!));
    let routes: Map<string, LeveledRoute> | undefined;
    return () => {
      if (routes) return routes;
      routes = new Map();
      for (const name in tools) {
        const spec = tools[name]!;
        routes.set(name, { target: compile(spec, { path: `/${name}`, body: 'arguments' }, rank), policy: compilePolicy(spec), level });
      }
      return routes;
    };
  };
  const compileEvents = (events: Events, rank: number) => {
    const ar = events['assistant-request'];
    const assistantRequest: AssistantRequestRoute | undefined = ar
      ? { target: ar.upstream !== undefined || ar.url !== undefined ? compile(ar, EVENT_DEFAULTS, rank) : undefined, static: ar.static }
      : undefined;
    const list = (name: ListEvent) => (events[name] ?? []).map((spec) => compile(spec, EVENT_DEFAULTS, rank));
    return { assistantRequest, listEvents: { 'status-update': list('status-update'), 'end-of-call-report': list('end-of-call-report') } };
  };

  const accountEvents = compileEvents(config.events, 0);
  const accountTools = lazyTools(config.tools, 'account', 1);
  const account: Scope = {
    assistant: undefined,
    secrets: config.account?.secrets ?? [],
    get tools() {
      return accountTools();
    },
    ...accountEvents,
  };

  const assistants = new Map<string, Scope>();
  const byPhone = new Map<string, Scope>();
  let nextRank = 2;
  for (const [name, spec] of Object.entries(config.assistants)) {
    const own = compileEvents(spec.events ?? {}, nextRank++);
    const events = spec.events ?? {};
    const tools = lazyTools(spec.tools ?? {}, 'assistant', nextRank++);
    const scope: Scope = {
      assistant: name,
      secrets: spec.secrets ?? account.secrets,
      get tools() {
        return tools();
      },
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

  let allCompiled = false;
  const fallback = config.fallback ? compile(config.fallback, EVENT_DEFAULTS, nextRank) : undefined;
  const fallbackRoute: LeveledRoute | undefined = fallback ? { target: fallback, policy: compilePolicy(undefined), level: 'fallback' } : undefined;

  return {
    account,
    assistants,
    fallback,
    origins,
    get targets() {
      // Every target, tools included: the outbox may look up a stored delivery of any of them.
      if (!allCompiled) {
        void account.tools;
        for (const scope of assistants.values()) void scope.tools;
        allCompiled = true;
      }
      return targets;
    },
    scopeForPhoneNumber(number) {
      if (typeof number !== 'string') return undefined;
      return byPhone.get(normalizePhoneNumber(number));
    },
    lookupTool(scope, tool) {
      return scope.tools.get(tool) ?? (scope.assistant !== undefined ? account.tools.get(tool) : undefined) ?? fallbackRoute;
    },
  };
}
