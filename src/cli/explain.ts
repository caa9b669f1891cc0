// `hms-tool-router explain --tool NAME [--assistant A | --to NUMBER]`: which target a tool call
// would go to and why, with everything that decides how it is called and what the caller hears.

import { parseArgs } from 'node:util';
import { breakerSettings } from '../breaker.js';
import { ConfigError, formatDiagnostic, loadConfigFile } from '../config/load.js';
import { FALLBACK_REASONS, type Config, type EventTarget, type FallbackReason, type ToolTarget } from '../config/schema.js';
import { formatDuration } from '../config/units.js';
import { REPLY_RESERVE_MS } from '../dispatch.js';
import { builtInFallback, fallbackSet } from '../fallbacks.js';
import { buildRouteTable, type RouteLevel, type RouteTable, type Scope, type ToolRoute } from '../routing.js';
import { maskedAddress } from './check.js';

const usage = `Usage: hms-tool-router explain --tool NAME [--assistant NAME | --to NUMBER] [--routes FILE]

Shows which target a call of tool NAME goes to, and why: the level that matched (assistant,
account, fallback, or none), the request, its timeout, retries, hedge, fallback sentences and
circuit breaker. --assistant is the scope of POST /webhook/<NAME>; --to picks the assistant whose
phone_numbers list the number, as POST /webhook does; with neither, the account scope.
The routes file is --routes, else ROUTES_FILE, else ./routes.yaml. Exits 1 when nothing matches.
`;

interface Choice {
  scope: Scope;
  /** Why this scope: the endpoint or phone number that selects it. */
  why: string;
}

export async function runExplain(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: { routes: { type: 'string' }, tool: { type: 'string' }, assistant: { type: 'string' }, to: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${usage}`);
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (values.tool === undefined || values.tool === '') return fail(`explain needs --tool NAME\n\n${usage}`);
  if (values.assistant !== undefined && values.to !== undefined) return fail('give --assistant or --to, not both: --assistant is POST /webhook/<name>, --to is POST /webhook with that phone number');

  const file = values.routes ?? env.ROUTES_FILE ?? './routes.yaml';
  let config: Config;
  try {
    ({ config } = await loadConfigFile(file, env, { lint: false }));
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.diagnostics.map(formatDiagnostic).join('\n'));
    throw err;
  }
  const table = buildRouteTable(config);

  let choice: Choice;
  if (values.assistant !== undefined) {
    const scope = table.assistants.get(values.assistant);
    if (!scope) {
      const known = [...table.assistants.keys()];
      return fail(`no assistant "${values.assistant}" in ${file}; ${known.length > 0 ? `known assistants: ${known.join(', ')}` : 'it defines no assistants'}`);
    }
    choice = { scope, why: `assistant ${values.assistant} (POST /webhook/${values.assistant})` };
  } else if (values.to !== undefined) {
    const scope = table.scopeForPhoneNumber(values.to);
    choice = scope
      ? { scope, why: `assistant ${scope.assistant}: ${values.to} is in assistants.${scope.assistant}.phone_numbers (POST /webhook)` }
      : { scope: table.account, why: `account: no assistant lists ${values.to} under phone_numbers (POST /webhook)` };
  } else {
    choice = { scope: table.account, why: 'account (POST /webhook; --assistant or --to picks an assistant)' };
  }

  const tool = values.tool;
  const route = table.lookupTool(choice.scope, tool);
  const rows: [string, string][] = [
    ['tool', tool],
    ['scope', choice.why],
  ];
  if (!route) {
    rows.push(['level', `none: no ${tool} in ${searched(choice.scope)}, and no fallback: target; the caller hears the error "No route for tool ${tool}."`]);
    process.stdout.write(aligned(rows));
    return 1;
  }
  process.stdout.write(aligned([...rows, ...routeRows(config, table, choice.scope, tool, route)]));
  return 0;
}

/** Where a tool is looked for, in order, for this scope. */
function searched(scope: Scope): string {
  return scope.assistant !== undefined ? `assistants.${scope.assistant}.tools or tools` : 'tools';
}

function routeRows(config: Config, table: RouteTable, scope: Scope, tool: string, route: ToolRoute & { level: RouteLevel }): [string, string][] {
  const { target, policy } = route;
  const { path, spec } = specOf(config, scope, tool, route.level);
  const level = {
    assistant: `assistant: ${path}`,
    account: scope.assistant !== undefined ? `account: ${path} (assistant ${scope.assistant} has no ${tool} of its own)` : `account: ${path}`,
    fallback: `fallback: no ${tool} in ${searched(scope)}, so the catch-all fallback: target gets the whole webhook message`,
  }[route.level];
  const upstream = spec?.upstream;
  const deadline = config.deadlines['tool-calls'];

  const timeoutSource = spec?.timeout !== undefined ? `${path}.timeout` : upstream !== undefined && config.upstreams[upstream]?.timeout !== undefined ? `upstreams.${upstream}.timeout` : 'default';
  const perAttempt = `${formatDuration(target.timeoutMs)} per attempt (${timeoutSource})`;
  const cutAt = deadline - REPLY_RESERVE_MS;
  const timeout = policy.async
    ? `${perAttempt}; async, so it is delivered from the outbox after the reply and the deadline does not apply`
    : policy.continueAfterDeadline
      ? `${perAttempt}; on_deadline: continue lets it run past the ${formatDuration(deadline)} tool-calls deadline`
      : target.timeoutMs > cutAt
        ? `${perAttempt}, cut to ${formatDuration(cutAt)} by the ${formatDuration(deadline)} tool-calls deadline`
        : `${perAttempt}, all attempts within the ${formatDuration(deadline)} tool-calls deadline`;

  const rows: [string, string][] = [
    ['level', level],
    ['target', `${maskedAddress(target)}${target.body === 'message' ? ' (body: the whole webhook message)' : ' (body: the arguments)'}`],
    ['upstream', upstream ?? `none (a url: target; its breaker is keyed by ${target.origin})`],
    ['timeout', timeout],
    ['retries', policy.retries === 0 ? 'none' : `${policy.retries} (on 429, 502, 503, 504 or no connection, when one can still finish before the deadline)`],
    ['hedge', policy.hedgeMs === undefined ? 'off' : `${formatDuration(policy.hedgeMs)}: a second request when the first has not answered by then`],
    ['side effects', policy.sideEffects ? 'yes: sent with an idempotency-key; a repeat within the call is answered from the ledger' : 'no'],
    ['async', policy.async ? `yes: answers "${policy.asyncResponse}" at once and delivers the request through the outbox` : 'no'],
    [
      'on_deadline',
      policy.async
        ? 'does not apply: an async tool answers at once'
        : policy.continueAfterDeadline
          ? 'continue: the caller hears the timeout fallback; the request runs on and its result answers a repeat'
          : 'abort: the request is cancelled and the caller hears the timeout fallback',
    ],
  ];
  if (policy.checkArguments) rows.push(['parameters', `arguments are checked against ${path}.parameters before the call`]);
  rows.push(...fallbackRows(config, tool, path, spec));
  rows.push(['breaker', breakerText(config, target.label, upstream)]);
  return rows;
}

/** The routes.yaml entry a route came from, and its dotted path. */
function specOf(config: Config, scope: Scope, tool: string, level: RouteLevel): { path: string; spec: ToolTarget | EventTarget | undefined } {
  switch (level) {
    case 'assistant':
      return { path: `assistants.${scope.assistant}.tools.${tool}`, spec: config.assistants[scope.assistant!]?.tools?.[tool] };
    case 'account':
      return { path: `tools.${tool}`, spec: config.tools[tool] };
    case 'fallback':
      return { path: 'fallback', spec: config.fallback };
  }
}

function fallbackRows(config: Config, tool: string, path: string, spec: ToolTarget | EventTarget | undefined): [string, string][] {
  const own = fallbackSet(spec !== undefined && 'fallback' in spec ? spec.fallback : undefined);
  const defaults = fallbackSet(config.defaults.fallback);
  const width = Math.max(...FALLBACK_REASONS.map((r) => r.length));
  return FALLBACK_REASONS.map((reason: FallbackReason, i): [string, string] => {
    const sentences = own[reason] ?? defaults[reason];
    const from = own[reason] ? `${path}.fallback` : 'defaults.fallback';
    const text = sentences
      ? `${sentences.map((s) => JSON.stringify(s)).join(' / ')} (${from}${sentences.length > 1 ? ', rotated per call' : ''})`
      : `built-in, sent as error: ${JSON.stringify(builtInFallback(reason, tool))}`;
    return [i === 0 ? 'fallback' : '', `${reason.padEnd(width)}  ${text}`];
  });
}

function breakerText(config: Config, label: string, upstream: string | undefined): string {
  const own = upstream !== undefined ? config.upstreams[upstream]?.breaker : undefined;
  const settings = breakerSettings(own, config.defaults.breaker);
  const sources = [...(own ? [`upstreams.${upstream}.breaker`] : []), ...(config.defaults.breaker ? ['defaults.breaker'] : [])];
  const slow = settings.slowMs !== undefined ? ` or when more than ${Math.round(settings.slowRatio * 100)}% of the last ${settings.window} calls take over ${formatDuration(settings.slowMs)}` : '';
  return `${label}: opens after ${settings.failures} failures in a row${slow}; stays open ${formatDuration(settings.openForMs)}, then lets one call through to probe (${sources.length > 0 ? sources.join(' over ') : 'built-in settings'}; shared by every call to ${label})`;
}

/** Label, value rows with the values aligned; an empty label continues the row above. */
function aligned(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n') + '\n';
}

function fail(message: string): number {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  return 1;
}
