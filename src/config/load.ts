// Reads routes.yaml: YAML with source positions, ${NAME} substitution from the environment, then
// the zod schema. Every problem becomes a diagnostic that points at FILE:LINE:COL. A large file
// first tries the fast path (fast-load.ts), which only ever returns a clean success.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { parseConfigFast } from './fast-load.js';
import { lintConfig } from './lint.js';
import { configSchema, type Config } from './schema.js';
import { isOnlyReference, substitute } from './substitution.js';
import { OPAQUE_KEYS, SECRET_KEYS, toleranceMessage, weakSecretMessage } from './value-warnings.js';

// `yaml` is loaded only when a file takes the positioned path: a large file that passes the fast
// path starts without paying for it. (CommonJS, so it loads synchronously, from the same cache.)
const requireModule = createRequire(import.meta.url);
const yamlLibrary = () => requireModule('yaml') as typeof import('yaml');

/** Files from this size on try the fast path first; smaller ones parse in milliseconds anyway. */
export const FAST_PATH_MIN_BYTES = 64 * 1024;

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  message: string;
}

export class ConfigError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'ConfigError';
    this.diagnostics = diagnostics;
  }
}

export interface LoadedConfig {
  config: Config;
  warnings: Diagnostic[];
  file: string;
}

/** `FILE:LINE:COL message`, with `warning: ` before the message of a warning. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file;
  return `${where} ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

export interface ParseOptions {
  /**
   * Also warn about likely mistakes (lint.ts): on when a file is loaded (check, serve), off by
   * default for parseConfig, whose callers parse deliberately small fragments.
   */
  lint?: boolean;
  /**
   * `auto` (the default): the fast path for files of FAST_PATH_MIN_BYTES or more. `always` tries
   * it on any file and `never` skips it (tests compare the two). Either way, a file the fast path
   * declines is read by the positioned path, which gives every diagnostic.
   */
  fastPath?: 'auto' | 'always' | 'never';
}

export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env, options: ParseOptions = { lint: true }): Promise<LoadedConfig> {
  return parseConfig(await readRoutesFile(file), file, env, options);
}

/** The file's text; a file that cannot be read is a ConfigError like any other problem. */
export async function readRoutesFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found; check the path (or ROUTES_FILE)' : (err as Error).message;
    throw new ConfigError([{ file, line: 0, col: 0, severity: 'error', message: `cannot read routes file: ${reason}` }]);
  }
}

export function parseConfig(source: string, file: string, env: NodeJS.ProcessEnv = process.env, options: ParseOptions = {}): LoadedConfig {
  const mode = options.fastPath ?? 'auto';
  if (mode === 'always' || (mode === 'auto' && source.length >= FAST_PATH_MIN_BYTES)) {
    const fast = parseConfigFast(source, file, env, { lint: options.lint === true });
    if (fast) return fast;
  }
  return parseConfigPositioned(source, file, env, options);
}

/** The path every diagnostic comes from: the `yaml` document with source positions. */
function parseConfigPositioned(source: string, file: string, env: NodeJS.ProcessEnv, options: ParseOptions): LoadedConfig {
  const { LineCounter, parseDocument, visit, isScalar } = yamlLibrary();
  const lines = new LineCounter();
  const at = (offset: number | undefined) => {
    const pos = lines.linePos(offset ?? 0);
    return { line: pos.line, col: pos.col };
  };
  const error = (offset: number | undefined, message: string): Diagnostic => ({ file, ...at(offset), severity: 'error', message });

  const doc = parseDocument(source, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const yamlError = (e: (typeof doc.errors)[number]) => error(e.pos[0], yamlMessage(e.code, e.message, source.slice(e.pos[0], e.pos[1] + 80)));
  const firstSyntax = doc.errors.find((e) => e.code !== 'DUPLICATE_KEY');
  if (firstSyntax) {
    // Only the first syntax error: the ones after it are its echoes, and the tree is unreliable.
    throw new ConfigError(sortDiagnostics([...doc.errors.filter((e) => e.code === 'DUPLICATE_KEY'), firstSyntax].map(yamlError)));
  }
  // Duplicate keys leave a usable tree (the last one wins), so validation still runs and every
  // other problem is reported with them.
  const diagnostics: Diagnostic[] = doc.errors.map(yamlError);
  const unresolved = new Set<number>();
  // Walking every node of a large table costs a noticeable part of its load time: only when needed.
  if (source.includes('${')) visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const start = node.range?.[0] ?? 0;
      // Where a placeholder stands in the file: exact on one-line plain and quoted scalars.
      const offsetOf = (index: number) => (node.type === 'PLAIN' ? start + index : node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE' ? start + 1 + index : start);
      const original = node.value;
      let failed = false;
      const substituted = substitute(original, env, ({ index, message }) => {
        failed = true;
        diagnostics.push(error(offsetOf(index), message));
      });
      if (failed) {
        unresolved.add(start);
        return;
      }
      // An unquoted value that is only a placeholder takes the type its text has in YAML, so
      // `timeout: ${TIMEOUT:-3000}` is a number and `allow_unsigned: ${DEV:-false}` a boolean.
      node.value = node.type === 'PLAIN' && isOnlyReference(original) ? scalarFromText(substituted) : substituted;
    },
  });

  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) {
    throw new ConfigError([error(0, 'the file is empty; start it with version: 1')]);
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      for (const d of issueDiagnostics(doc, issue, error)) {
        if (!unresolved.has(offsetOf(d, lines))) diagnostics.push(d);
      }
    }
  }
  if (diagnostics.length > 0 || !parsed.success) {
    throw new ConfigError(sortDiagnostics(diagnostics));
  }

  const warnings: Diagnostic[] = weakSecretWarnings(doc, (offset, message) => ({ ...error(offset, message), severity: 'warning' }));
  const tolerance = doc.getIn(['security', 'timestamp_tolerance'], true) as YamlNode | undefined;
  const toleranceWarning = isScalar(tolerance) ? toleranceMessage(tolerance.value) : undefined;
  if (toleranceWarning !== undefined) warnings.push({ ...error(tolerance!.range?.[0], toleranceWarning), severity: 'warning' });
  if (options.lint === true) {
    const lint = lintConfig(parsed.data).map((finding): Diagnostic => ({ ...error(keyOffset(doc, finding.path), finding.message), severity: 'warning' }));
    warnings.push(...sortDiagnostics(lint));
  }
  return { config: parsed.data, warnings, file };
}

/** Numbers and booleans as YAML reads them; any other text stays a string. */
function scalarFromText(text: string): unknown {
  try {
    const value: unknown = yamlLibrary().parse(text);
    return typeof value === 'number' || typeof value === 'boolean' ? value : text;
  } catch {
    return text;
  }
}

/** Secrets that anyone could guess: the demo default, or fewer than 16 characters. */
function weakSecretWarnings(doc: Document, warning: (offset: number | undefined, message: string) => Diagnostic): Diagnostic[] {
  const { visit, isPair, isScalar, isSeq } = yamlLibrary();
  const found: Diagnostic[] = [];
  visit(doc, {
    Pair(_key, pair, path) {
      if (!isScalar(pair.key) || !SECRET_KEYS.has(pair.key.value as string)) return;
      if (path.some((p) => isPair(p) && isScalar(p.key) && OPAQUE_KEYS.has(p.key.value as string))) return;
      const nodes = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const node of nodes) {
        if (!isScalar(node) || typeof node.value !== 'string') continue;
        const message = weakSecretMessage(node.value);
        if (message !== undefined) found.push(warning(node.range?.[0], message));
      }
    },
  });
  return found;
}

function offsetOf(d: Diagnostic, lines: LineCounter): number {
  const lineStart = lines.lineStarts[d.line - 1] ?? 0;
  return lineStart + d.col - 1;
}

function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => a.line - b.line || a.col - b.col);
}

function yamlMessage(code: string, message: string, text: string): string {
  if (code === 'DUPLICATE_KEY') {
    const key = /^\s*(?:"([^"]*)"|'([^']*)'|([^:\n]*?))\s*:/.exec(text);
    const name = key ? (key[1] ?? key[2] ?? key[3]) : undefined;
    return `duplicate key${name ? ` "${name}"` : ''}: it is already defined above in the same mapping`;
  }
  return `YAML syntax error: ${message.split('\n')[0]}`;
}

type PathSegment = PropertyKey;

/** The node a schema path points at, and whether every segment was found. */
function locate(doc: Document, path: readonly PathSegment[]): { node: YamlNode | undefined; keyNode: YamlNode | undefined; found: boolean } {
  const { isMap, isPair, isScalar, isSeq } = yamlLibrary();
  let node: unknown = doc.contents;
  let keyNode: YamlNode | undefined;
  let found = true;
  for (const segment of path) {
    if (isMap(node)) {
      // A single target written where a list is accepted: the list index has no node of its own.
      if (typeof segment === 'number') continue;
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) {
        found = false;
        break;
      }
      keyNode = pair.key as YamlNode;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      keyNode = undefined;
      node = node.items[segment];
    } else {
      found = false;
      break;
    }
  }
  return { node: (node ?? keyNode) as YamlNode | undefined, keyNode, found };
}

/** Where the key at the end of `path` is written; the nearest written ancestor's when an alias or merge key hides it. */
function keyOffset(doc: Document, path: readonly PathSegment[]): number | undefined {
  for (let length = path.length; length > 0; length--) {
    const { keyNode, found } = locate(doc, path.slice(0, length));
    if (found && keyNode?.range) return keyNode.range[0];
  }
  return undefined;
}

function dotted(path: readonly PathSegment[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${String(s)}`)).join('').replace(/^\./, '');
}

function issueDiagnostics(doc: Document, issue: z.core.$ZodIssue, error: (offset: number | undefined, message: string) => Diagnostic): Diagnostic[] {
  const where = locate(doc, issue.path);
  const prefix = issue.path.length > 0 ? `${dotted(issue.path)}: ` : '';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const keyLoc = locate(doc, [...issue.path, key]);
      return error(keyLoc.keyNode?.range?.[0] ?? where.node?.range?.[0], `${prefix}unknown key "${key}"; remove it or check its spelling`);
    });
  }
  if (issue.code === 'invalid_key') {
    return [error(where.keyNode?.range?.[0] ?? where.node?.range?.[0], `${prefix}${issue.issues[0]?.message ?? issue.message}`)];
  }
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value' || issue.code === 'invalid_union') && !where.found) {
    const key = issue.path[issue.path.length - 1];
    const parent = locate(doc, issue.path.slice(0, -1));
    return [error(parent.node?.range?.[0], `${prefix}missing required key "${String(key)}"`)];
  }
  return [error(where.node?.range?.[0], `${prefix}${issue.message}`)];
}
