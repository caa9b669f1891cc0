// `hms-tool-router check [FILE]`: validate a routes file without starting; print its routes on
// success, every problem as FILE:LINE:COL on failure, and likely mistakes as warnings (exit 0).

import { ConfigError, formatDiagnostic, loadConfigFile } from '../config/load.js';
import { formatDuration } from '../config/units.js';
import { buildRouteTable, type Scope } from '../routing.js';
import type { CompiledTarget } from '../target.js';
import type { ToolPolicy } from '../tool-policy.js';

export async function runCheck(argv: string[]): Promise<number> {
  const positional = argv.filter((a) => !a.startsWith('-'));
  if (positional.length > 1 || argv.some((a) => a.startsWith('-'))) {
    process.stderr.write('Usage: hms-tool-router check [FILE]\n');
    return 1;
  }
  const file = positional[0] ?? process.env.ROUTES_FILE ?? './routes.yaml';
  try {
    const { config, warnings } = await loadConfigFile(file);
    for (const w of warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
    process.stdout.write(`${file}: OK\n\n${routeTableText(buildRouteTable(config))}`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.diagnostics.map(formatDiagnostic).join('\n')}\n`);
      return 1;
    }
    throw err;
  }
}

/** Method and URL as written, placeholders kept; query values can hold tokens substituted from the environment, so only their keys show. */
export function maskedAddress(target: CompiledTarget): string {
  return `${target.method} ${target.origin}${target.pathTemplate.replace(/=([^&#]*)/g, '=…')}`;
}

function describe(target: CompiledTarget, policy?: ToolPolicy): string {
  const via = target.label === target.origin ? '' : ` (upstream ${target.label})`;
  return `${maskedAddress(target)}${via}, timeout ${formatDuration(target.timeoutMs)}${policy ? toolNotes(policy) : ''}`;
}

function toolNotes(policy: ToolPolicy): string {
  const notes: string[] = [];
  if (Object.keys(policy.fallbacks).length > 0) notes.push('with fallback');
  if (policy.retries > 0) notes.push(`retries ${policy.retries}`);
  if (policy.hedgeMs !== undefined) notes.push(`hedge ${formatDuration(policy.hedgeMs)}`);
  if (policy.sideEffects) notes.push('side effects');
  if (policy.async) notes.push('async');
  if (policy.continueAfterDeadline) notes.push('continues after the deadline');
  if (policy.checkArguments) notes.push('checks parameters');
  return notes.map((n) => `, ${n}`).join('');
}

/** One line per route: scope, tool or event, target. */
export function routeTableText(table: ReturnType<typeof buildRouteTable>): string {
  const rows: [string, string, string][] = [];
  const scopeRows = (name: string, scope: Scope, inherited?: Scope) => {
    for (const [tool, route] of scope.tools) rows.push([name, tool, describe(route.target, route.policy)]);
    const ar = scope.assistantRequest;
    if (ar && ar !== inherited?.assistantRequest) rows.push([name, 'assistant-request', ar.target ? `${describe(ar.target)}${ar.static ? ', static on failure' : ''}` : 'static reply']);
    for (const event of ['status-update', 'end-of-call-report'] as const) {
      if (scope.listEvents[event] === inherited?.listEvents[event]) continue;
      for (const target of scope.listEvents[event]) rows.push([name, event, describe(target)]);
    }
  };
  scopeRows('account', table.account);
  for (const [name, scope] of table.assistants) scopeRows(name, scope, table.account);
  if (table.fallback) rows.push(['fallback', '*', describe(table.fallback)]);
  if (rows.length === 0) return 'No routes: every tool call answers "no route".\n';
  const header: [string, string, string] = ['SCOPE', 'TOOL / EVENT', 'TARGET'];
  const widths = [0, 1].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => `${r[0].padEnd(widths[0]!)}  ${r[1].padEnd(widths[1]!)}  ${r[2]}`).join('\n') + '\n';
}
