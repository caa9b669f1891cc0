// The fast path for large routes files: js-yaml's parser events, made into plain data here, instead
// of the positioned `yaml` document, which takes seconds for 10,000 tools. It only ever returns a
// clean success; anything else (a problem, a warning, a construct the two YAML libraries might
// read differently) returns undefined, and the positioned path reads the file and says why.

import {
  CORE_SCHEMA,
  EVENT_ALIAS,
  EVENT_DOCUMENT,
  EVENT_MAPPING,
  EVENT_POP,
  EVENT_SCALAR,
  EVENT_SEQUENCE,
  NOT_RESOLVED,
  SCALAR_STYLE_PLAIN,
  boolCoreTag,
  floatCoreTag,
  getScalarValue,
  intCoreTag,
  load,
  nullCoreTag,
  parseEvents,
  type ScalarEvent,
} from 'js-yaml';
import { lintConfig } from './lint.js';
import type { LoadedConfig } from './load.js';
import { configSchema } from './schema.js';
import { isOnlyReference, substitute } from './substitution.js';
import { OPAQUE_KEYS, SECRET_KEYS, toleranceMessage, weakSecretMessage } from './value-warnings.js';

/** Declines the file: the positioned path reads it instead. */
class Decline extends Error {}

export function parseConfigFast(source: string, file: string, env: NodeJS.ProcessEnv, options: { lint: boolean }): LoadedConfig | undefined {
  let raw: unknown;
  try {
    raw = readPlainData(source, env);
  } catch {
    // js-yaml's exceptions (syntax errors; its docs ask to catch them all) and our declines alike.
    return undefined;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  if (toleranceMessage(valueAt(raw, ['security', 'timestamp_tolerance'])) !== undefined) return undefined;
  if (options.lint && lintConfig(parsed.data).length > 0) return undefined;
  return { config: parsed.data, warnings: [], file };
}

/** A collection being built, and what its scalars need to know about where they stand. */
type Frame =
  | { kind: 'document'; value: unknown }
  | { kind: 'sequence'; value: unknown[]; secrets: boolean; opaque: boolean }
  | { kind: 'mapping'; value: Record<string, unknown>; key: string | undefined; opaque: boolean };

/**
 * The file as plain data, references substituted in values (never in keys) as the positioned path
 * does them. Throws a Decline for whatever would be a diagnostic there (an unresolvable reference,
 * a weak secret, a duplicate key) and for what yaml might read differently from js-yaml's events:
 * tags, anchors, aliases, directives, more or less than one document, keys that are not plain
 * strings.
 */
function readPlainData(source: string, env: NodeJS.ProcessEnv): unknown {
  const events = parseEvents(source, {});
  const failed = () => {
    throw new Decline('reference');
  };
  const frames: Frame[] = [];
  let documents = 0;
  let root: unknown;

  /** Adds a finished value to the collection it is in. */
  const add = (value: unknown) => {
    const frame = frames[frames.length - 1]!;
    if (frame.kind === 'sequence') frame.value.push(value);
    else if (frame.kind === 'document') frame.value = value;
    else {
      frame.value[frame.key!] = value;
      frame.key = undefined;
    }
  };
  /** Whether a value here sits under `secrets` or `secret` of the config's own maps. */
  const isSecret = (frame: Frame) => (frame.kind === 'mapping' ? frame.key !== undefined && SECRET_KEYS.has(frame.key) && !frame.opaque : frame.kind === 'sequence' && frame.secrets);
  /** Whether a collection opened here is inside a static reply or headers. */
  const opensOpaque = (frame: Frame) => frame.kind !== 'document' && (frame.opaque || (frame.kind === 'mapping' && OPAQUE_KEYS.has(frame.key!)));

  for (const event of events) {
    if (event.type !== EVENT_POP && event.type !== EVENT_DOCUMENT && (event.type === EVENT_ALIAS || event.anchorStart !== -1 || event.tagStart !== -1)) throw new Decline('tag, anchor or alias');
    const frame = frames[frames.length - 1];
    const awaitingKey = frame?.kind === 'mapping' && frame.key === undefined;
    switch (event.type) {
      case EVENT_DOCUMENT:
        // %YAML 1.1 changes what plain scalars mean; a second document is an error for yaml.
        if (++documents > 1 || event.directives.length > 0) throw new Decline('directive or second document');
        frames.push({ kind: 'document', value: undefined });
        break;
      case EVENT_SCALAR: {
        if (awaitingKey) {
          const key = scalarKey(source, event);
          if (Object.hasOwn(frame.value, key)) throw new Decline('duplicate key');
          frame.key = key;
          break;
        }
        const value = scalarValue(source, event, env, failed);
        if (typeof value === 'string' && isSecret(frame!) && weakSecretMessage(value) !== undefined) throw new Decline('weak secret');
        add(value);
        break;
      }
      case EVENT_SEQUENCE:
        if (awaitingKey) throw new Decline('collection as a key');
        frames.push({ kind: 'sequence', value: [], secrets: frame!.kind === 'mapping' && isSecret(frame!), opaque: opensOpaque(frame!) });
        break;
      case EVENT_MAPPING:
        if (awaitingKey) throw new Decline('collection as a key');
        frames.push({ kind: 'mapping', value: {}, key: undefined, opaque: opensOpaque(frame!) });
        break;
      case EVENT_POP: {
        const done = frames.pop()!;
        if (done.kind === 'document') root = done.value;
        else add(done.value);
        break;
      }
    }
  }
  if (documents !== 1 || root === null || root === undefined) throw new Decline('not one document');
  return root;
}

const implicitTags = [nullCoreTag, boolCoreTag, intCoreTag, floatCoreTag];
/** Characters a plain scalar starts with when the core schema may read it as null, a boolean or a number. */
const implicitFirstChars = new Set(implicitTags.flatMap((tag) => tag.implicitFirstChars ?? []));

/** A plain scalar as the YAML 1.2 core schema reads it (as `yaml` does: the tests compare them). */
function plainScalar(text: string): unknown {
  const first = text.charAt(0);
  if (!implicitFirstChars.has(first)) return text;
  // Core nulls and booleans are at most 5 characters ("false"); numbers start with a digit, a
  // sign or a dot. So "fast_a" or "true_north" is text without asking the resolvers.
  if (text.length > 5 && !/[-+.0-9]/.test(first)) return text;
  for (const tag of implicitTags) {
    const value: unknown = tag.resolve(text, false, tag.tagName);
    if (value !== NOT_RESOLVED) return value;
  }
  return text;
}

/** A mapping key: only strings, as both libraries read them alike (yaml reads a null key as ""). */
function scalarKey(source: string, event: ScalarEvent): string {
  const text = getScalarValue(source, event);
  // yaml refuses an implicit key of over 1024 characters; `__proto__` would set a prototype here.
  if (text.length > 1000 || text === '__proto__') throw new Decline('key');
  if (event.style === SCALAR_STYLE_PLAIN && plainScalar(text) !== text) throw new Decline('key that is not a string');
  return text;
}

function scalarValue(source: string, event: ScalarEvent, env: NodeJS.ProcessEnv, failed: () => never): unknown {
  const text = getScalarValue(source, event);
  const plain = event.style === SCALAR_STYLE_PLAIN;
  if (!text.includes('${')) return plain ? plainScalar(text) : text;
  const substituted = substitute(text, env, failed);
  // An unquoted value that is only a reference takes the type its text has; any other stays text.
  return plain && isOnlyReference(text) ? typedText(substituted) : substituted;
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
