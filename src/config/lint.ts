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

/** A target together with where it stands in the file and which deadlines bound its calls. */
interface PlacedTarget {
  spec: ToolTarget | EventTarget | AssistantRequestTarget;
  path: Path;
  /** Deadlines that cut its requests short; empty for events delivered from the outbox. */
  deadlines: Deadline[];
}

export function lintConfig(config: Config): LintFinding[] {
  const findings: LintFinding[] = [];
  const targets = placedTargets(config);
  const where = (path: Path) => path.map(String).join('.');

  for (const [path, name, tool] of toolEntries(config)) {
    // An async tool answers at once and its backend's failures are never heard: nothing to say.
    if (tool.fallback !== undefined || config.defaults.fallback !== undefined || tool.async === true) continue;
    findings.push({
      path,
      message: `${where(path)} has no fallback: when its backend fails or is too slow the caller hears the built-in "${builtInFallback('timeout', name)}"; add fallback: "…" to it, or defaults.fallback for every tool`,
    });
  }

  const tooLong = (timeoutMs: number, deadlines: Deadline[]) => {
    const shortest = deadlines.map((name) => ({ name, ms: config.deadlines[name] })).sort((a, b) => a.ms - b.ms)[0];
    return shortest !== undefined && timeoutMs > shortest.ms ? shortest : undefined;
  };
  for (const { spec, path, deadlines } of targets) {
    if (spec.timeout === undefined) continue;
    const deadline = tooLong(spec.timeout, deadlines);
    if (!deadline) continue;
    const advice = deadline.name === 'tool-calls' && path[path.length - 2] === 'tools' ? 'lower it, or set on_deadline: continue if the backend should finish anyway' : 'lower it to fit the deadline';
    findings.push({
      path: [...path, 'timeout'],
      message: `${where([...path, 'timeout'])} ${formatDuration(spec.timeout)} is longer than deadlines.${deadline.name} (${formatDuration(deadline.ms)}): the reply leaves at the deadline, so the rest is never waited for; ${advice}`,
    });
  }

  for (const [name, upstream] of Object.entries(config.upstreams)) {
    const users = targets.filter((target) => target.spec.upstream === name);
    if (users.length === 0) {
      findings.push({ path: ['upstreams', name], message: `upstreams.${name} is not used by any tool, event or fallback; remove it, or point a target at it with upstream: ${name}` });
      continue;
    }
    if (upstream.timeout === undefined) continue;
    // The upstream's timeout applies to the targets that set none of their own.
    const inheriting = users.filter((target) => target.spec.timeout === undefined);
    const cut = inheriting.map((target) => ({ target, deadline: tooLong(upstream.timeout!, target.deadlines) })).find((entry) => entry.deadline !== undefined);
    if (!cut) continue;
    const others = inheriting.filter((target) => tooLong(upstream.timeout!, target.deadlines) !== undefined).length - 1;
    findings.push({
      path: ['upstreams', name, 'timeout'],
      message: `upstreams.${name}.timeout ${formatDuration(upstream.timeout)} is longer than deadlines.${cut.deadline!.name} (${formatDuration(cut.deadline!.ms)}) of ${where(cut.target.path)}${others > 0 ? ` (and ${others} more)` : ''}, which takes this timeout: the reply leaves at the deadline, so the rest is never waited for; lower it, or give those targets a timeout of their own`,
    });
  }
  return findings;
}

/** Every tool of the account and of each assistant, with its path in the file. */
function toolEntries(config: Config): [Path, string, ToolTarget][] {
  const entries: [Path, string, ToolTarget][] = Object.entries(config.tools).map(([name, tool]) => [['tools', name], name, tool]);
  for (const [assistant, spec] of Object.entries(config.assistants)) {
    for (const [name, tool] of Object.entries(spec.tools ?? {})) entries.push([['assistants', assistant, 'tools', name], name, tool]);
  }
  return entries;
}

function placedTargets(config: Config): PlacedTarget[] {
  const placed: PlacedTarget[] = [];
  for (const [path, , tool] of toolEntries(config)) {
    // Async tools are delivered from the outbox and on_deadline: continue runs past the deadline.
    const bounded = tool.async !== true && tool.on_deadline !== 'continue';
    placed.push({ spec: tool, path, deadlines: bounded ? ['tool-calls'] : [] });
  }
  const eventTargets = (events: Config['events'], path: Path) => {
    const ar = events['assistant-request'];
    // A static-only assistant-request makes no request, so its timeout means nothing.
    if (ar && (ar.upstream !== undefined || ar.url !== undefined)) placed.push({ spec: ar, path: [...path, 'assistant-request'], deadlines: ['assistant-request'] });
    for (const event of ['status-update', 'end-of-call-report'] as const) {
      (events[event] ?? []).forEach((target, i) => placed.push({ spec: target, path: [...path, event, i], deadlines: [] }));
    }
  };
  eventTargets(config.events, ['events']);
  for (const [name, assistant] of Object.entries(config.assistants)) eventTargets(assistant.events ?? {}, ['assistants', name, 'events']);
  if (config.fallback) {
    // The catch-all answers unrouted tool calls, and assistant-request when the account routes none.
    const deadlines: Deadline[] = config.events['assistant-request'] === undefined ? ['tool-calls', 'assistant-request'] : ['tool-calls'];
    placed.push({ spec: config.fallback, path: ['fallback'], deadlines });
  }
  return placed;
}
