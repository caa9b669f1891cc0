// The fast path for large routes files: js-yaml (core schema) on plain data instead of the
// positioned `yaml` document, which takes seconds for 10,000 tools. It only ever returns a clean
// success; anything else (a problem, a warning, a construct the two YAML libraries might read
// differently) returns undefined, and the positioned path reads the file and says why.

import { CORE_SCHEMA, EVENT_ALIAS, EVENT_DOCUMENT, NOT_RESOLVED, constructFromEvents, defineScalarTag, load, parseEvents, type Event } from 'js-yaml';
import { lintConfig } from './lint.js';
import type { LoadedConfig } from './load.js';
import { configSchema } from './schema.js';
import { isOnlyReference, substitute } from './substitution.js';
import { OPAQUE_KEYS, SECRET_KEYS, toleranceMessage, weakSecretMessage } from './value-warnings.js';

/** An unquoted scalar that is only a ${...} reference: it takes the type of its substituted text. */
class UnquotedReference {
  constructor(readonly text: string) {}
}

// Only plain scalars are resolved implicitly, so this tag sees exactly the unquoted references;
// a quoted one stays a string. (As a key it makes js-yaml throw: such a file is declined.)
const schema = CORE_SCHEMA.withTags(
  defineScalarTag('tag:hms-tool-router:unquoted-reference', {
    implicit: true,
    implicitFirstChars: ['$'],
    resolve: (source) => (isOnlyReference(source) ? new UnquotedReference(source) : NOT_RESOLVED),
    identify: () => false,
  }),
);

/** Declines the file: the positioned path reads it instead. */
class Decline extends Error {}

export function parseConfigFast(source: string, file: string, env: NodeJS.ProcessEnv, options: { lint: boolean }): LoadedConfig | undefined {
  let raw: unknown;
  try {
    raw = resolveValues(readPlainYaml(source), env);
  } catch {
    // js-yaml's exceptions (syntax, duplicate keys, complex keys; its docs ask to catch them all)
    // and our own declines alike.
    return undefined;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  if (toleranceMessage(valueAt(raw, ['security', 'timestamp_tolerance'])) !== undefined) return undefined;
  if (options.lint && lintConfig(parsed.data).length > 0) return undefined;
  return { config: parsed.data, warnings: [], file };
}

/** The document as plain data, or a Decline when `yaml` might read it differently. */
function readPlainYaml(source: string): unknown {
  const events = parseEvents(source, {});
  // Tags, anchors and aliases are refused outright: yaml and js-yaml resolve some of them
  // differently, and a config has no need of them. Only a file that has one of their
  // indicators anywhere needs the events looked at.
  if (/[!&*]/.test(source)) {
    for (const event of events) {
      if (event.type === EVENT_ALIAS || ('tagStart' in event && event.tagStart >= 0) || ('anchorStart' in event && event.anchorStart >= 0)) throw new Decline('tag, anchor or alias');
    }
  }
  // Directives (%YAML 1.1 changes what plain scalars mean) and a second document: declined.
  const first = events[0] as Event | undefined;
  if (first?.type === EVENT_DOCUMENT && first.directives.length > 0) throw new Decline('directive');
  const documents = constructFromEvents(events, { source, schema, maxAliases: 0 });
  if (documents.length !== 1 || documents[0] === null || documents[0] === undefined) throw new Decline('not one document');
  return documents[0];
}

/**
 * Substitutes the references in every value (never in keys), as the positioned path does, and
 * declines on anything that would be a diagnostic there: a reference that cannot be resolved, a
 * weak secret, a key only one of the YAML libraries reads as null.
 */
function resolveValues(data: unknown, env: NodeJS.ProcessEnv): unknown {
  const fail = () => {
    throw new Decline('reference');
  };
  const resolve = (value: unknown, inOpaque: boolean, key: string | undefined): unknown => {
    if (typeof value === 'string') {
      const text = value.includes('${') ? substitute(value, env, fail) : value;
      if (!inOpaque && key !== undefined && SECRET_KEYS.has(key) && weakSecretMessage(text) !== undefined) throw new Decline('weak secret');
      return text;
    }
    if (value instanceof UnquotedReference) {
      const typed = typedText(substitute(value.text, env, fail));
      if (typeof typed === 'string' && !inOpaque && key !== undefined && SECRET_KEYS.has(key) && weakSecretMessage(typed) !== undefined) throw new Decline('weak secret');
      return typed;
    }
    if (Array.isArray(value)) {
      // The items of a `secrets` list are secrets too.
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        const resolved = resolve(item, inOpaque, key);
        if (resolved !== item) value[i] = resolved;
      }
      return value;
    }
    if (typeof value === 'object' && value !== null) {
      const map = value as Record<string, unknown>;
      const opaque = inOpaque || (key !== undefined && OPAQUE_KEYS.has(key));
      for (const name in map) {
        // yaml reads a null key (`~:` or `: x`) as "", js-yaml as "null"; and yaml refuses an
        // implicit key of over 1024 characters, which js-yaml takes.
        if (name === 'null' || name.length > 1000) throw new Decline('key');
        const item = map[name];
        const resolved = resolve(item, opaque, name);
        if (resolved !== item) map[name] = resolved;
      }
      return map;
    }
    return value;
  };
  return resolve(data, false, undefined);
}

/**
 * What YAML makes of a substituted unquoted reference: a number or boolean when its text is one,
 * else the text. Text that YAML could read as more than one scalar (a comment, a tag, a list
 * item, several lines) is declined: the positioned path decides it, as it always did.
 */
function typedText(text: string): unknown {
  if (text === '') return text;
  if (/[\n\r]|\s#/.test(text) || text !== text.trim() || /^(?:[!&*%?:,[\]{}#|>'"@`]|-(?:[\s-]|$))/.test(text)) throw new Decline('ambiguous reference');
  let value: unknown;
  try {
    value = load(text, { schema: CORE_SCHEMA });
  } catch {
    // Not one YAML value (say `a: b: c`): text, as for the positioned path.
    return text;
  }
  return typeof value === 'number' || typeof value === 'boolean' ? value : text;
}

function valueAt(data: unknown, path: readonly string[]): unknown {
  let value = data;
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}
