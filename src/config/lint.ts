// Likely mistakes in a routes.yaml that is valid: a tool with no fallback sentence, a timeout its
// deadline never lets run out, an upstream no target uses. Each finding names the key it is
// about; load.ts turns that into FILE:LINE:COL and reports it as a warning.

import { builtInFallback } from '../fallbacks.js';
import type { AssistantRequestTarget, Config, EventTarget, ToolTarget } from './schema.js';
import { formatDuration } from './units.js';

export interface LintFinding {
  /** The key in routes.yaml the finding is about, as a path of keys. */
  path: (string | number)[];
  message: string;
}

type Deadline = 'tool-calls' | 'assistant-request';
type Path = (string | number)[];

// Which deadlines cut a target's requests short; shared, since a large table has thousands.
const TOOL_CALLS: readonly Deadline[] = ['tool-calls'];
const ASSISTANT_REQUEST: readonly Deadline[] = ['assistant-request'];
const BOTH: readonly Deadline[] = ['tool-calls', 'assistant-request'];
const UNBOUNDED: readonly Deadline[] = [];

/** How the targets that use one upstream take its timeout. */
interface UpstreamUse {
  users: number;
  /** The first target that inherits the upstream's timeout and is cut by a deadline, and how many are. */
  firstCut: { path: Path; deadline: { name: Deadline; ms: number } } | undefined;
  cut: number;
}

export function lintConfig(config: Config): LintFinding[] {
  const fallbackFindings: LintFinding[] = [];
  const timeoutFindings: LintFinding[] = [];
  const where = (path: Path) => path.map(String).join('.');

  /** The shortest deadline that `timeoutMs` outlasts; ties go to the first listed. */
  const tooLong = (timeoutMs: number, deadlines: readonly Deadline[]) => {
    let shortest: Deadline | undefined;
    for (const name of deadlines) if (shortest === undefined || config.deadlines[name] < config.deadlines[shortest]) shortest = name;
    return shortest !== undefined && timeoutMs > config.deadlines[shortest] ? { name: shortest, ms: config.deadlines[shortest] } : undefined;
  };
  const uses = new Map<string, UpstreamUse>(Object.keys(config.upstreams).map((name) => [name, { users: 0, firstCut: undefined, cut: 0 }]));

  // Every target once, in file order: account tools, assistants' tools, events, the fallback. A
  // path is only built for a finding: 10,000 tools must not cost 10,000 paths.
  const visit = (spec: ToolTarget | EventTarget | AssistantRequestTarget, pathOf: () => Path, deadlines: readonly Deadline[]) => {
    if (spec.timeout !== undefined) {
      const deadline = tooLong(spec.timeout, deadlines);
      if (deadline) {
        const path = pathOf();
        const advice = deadline.name === 'tool-calls' && path[path.length - 2] === 'tools' ? 'lower it, or set on_deadline: continue if the backend should finish anyway' : 'lower it to fit the deadline';
        timeoutFindings.push({
          path: [...path, 'timeout'],
          message: `${where([...path, 'timeout'])} ${formatDuration(spec.timeout)} is longer than deadlines.${deadline.name} (${formatDuration(deadline.ms)}): the reply leaves at the deadline, so the rest is never waited for; ${advice}`,
        });
      }
    }
    const use = spec.upstream !== undefined ? uses.get(spec.upstream) : undefined;
    if (!use) return;
    use.users++;
    const upstreamTimeout = config.upstreams[spec.upstream!]!.timeout;
    // The upstream's timeout applies to the targets that set none of their own.
    if (upstreamTimeout === undefined || spec.timeout !== undefined) return;
    const deadline = tooLong(upstreamTimeout, deadlines);
    if (!deadline) return;
    use.cut++;
    use.firstCut ??= { path: pathOf(), deadline };
  };

  const tools = (entries: Record<string, ToolTarget>, prefix: Path) => {
    for (const name in entries) {
      const tool = entries[name]!;
      const pathOf = () => [...prefix, name];
      // An async tool answers at once and its backend's failures are never heard: nothing to say.
      if (tool.fallback === undefined && config.defaults.fallback === undefined && tool.async !== true) {
        const path = pathOf();
        fallbackFindings.push({
          path,
          message: `${where(path)} has no fallback: when its backend fails or is too slow the caller hears the built-in "${builtInFallback('timeout', name)}"; add fallback: "…" to it, or defaults.fallback for every tool`,
        });
      }
      // Async tools are delivered from the outbox and on_deadline: continue runs past the deadline.
      visit(tool, pathOf, tool.async !== true && tool.on_deadline !== 'continue' ? TOOL_CALLS : UNBOUNDED);
    }
  };
  const events = (entries: Config['events'], prefix: Path) => {
    const ar = entries['assistant-request'];
    // A static-only assistant-request makes no request, so its timeout means nothing.
    if (ar && (ar.upstream !== undefined || ar.url !== undefined)) visit(ar, () => [...prefix, 'assistant-request'], ASSISTANT_REQUEST);
    for (const event of ['status-update', 'end-of-call-report'] as const) {
      (entries[event] ?? []).forEach((target, i) => visit(target, () => [...prefix, event, i], UNBOUNDED));
    }
  };

  tools(config.tools, ['tools']);
  for (const name in config.assistants) tools(config.assistants[name]!.tools ?? {}, ['assistants', name, 'tools']);
  events(config.events, ['events']);
  for (const name in config.assistants) events(config.assistants[name]!.events ?? {}, ['assistants', name, 'events']);
  // The catch-all answers unrouted tool calls, and assistant-request when the account routes none.
  if (config.fallback) visit(config.fallback, () => ['fallback'], config.events['assistant-request'] === undefined ? BOTH : TOOL_CALLS);

  const upstreamFindings: LintFinding[] = [];
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    const use = uses.get(name)!;
    if (use.users === 0) {
      upstreamFindings.push({ path: ['upstreams', name], message: `upstreams.${name} is not used by any tool, event or fallback; remove it, or point a target at it with upstream: ${name}` });
      continue;
    }
    if (!use.firstCut) continue;
    const { path, deadline } = use.firstCut;
    const others = use.cut - 1;
    upstreamFindings.push({
      path: ['upstreams', name, 'timeout'],
      message: `upstreams.${name}.timeout ${formatDuration(upstream.timeout!)} is longer than deadlines.${deadline.name} (${formatDuration(deadline.ms)}) of ${where(path)}${others > 0 ? ` (and ${others} more)` : ''}, which takes this timeout: the reply leaves at the deadline, so the rest is never waited for; lower it, or give those targets a timeout of their own`,
    });
  }
  return [...fallbackFindings, ...timeoutFindings, ...upstreamFindings];
}
