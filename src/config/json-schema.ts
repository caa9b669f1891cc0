// The JSON Schema (draft 2020-12) of routes.yaml, generated from the zod schema in schema.ts, so
// editors (yaml-language-server) complete keys and flag mistakes. It describes the file as
// written: durations and sizes as text or numbers, ${NAME} placeholders in place of any value.

import { z } from 'zod';
import {
  assistantRequestTargetSchema,
  assistantSchema,
  breakerSchema,
  configSchema,
  eventsSchema,
  eventTargetSchema,
  fallbackSchema,
  toolTargetSchema,
  upstreamSchema,
} from './schema.js';

type JsonSchema = Record<string, unknown>;

// The same grammar as units.ts (test/cli/schema.test.ts checks that they agree).
export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$';
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([bB]|[kKmMgG][bB])?\\s*$';
/** Any text with a ${NAME} or ${NAME:-default}: load.ts substitutes it before validation. */
export const PLACEHOLDER_PATTERN = '\\$\\{[^}]*\\}';

const ref = (name: keyof typeof sharedDefs): JsonSchema => ({ $ref: `#/$defs/${name}` });

/** Written once under $defs and referred to wherever a value may take that form. */
const sharedDefs = {
  Placeholder: { type: 'string', pattern: PLACEHOLDER_PATTERN, description: 'An ${ENV_VAR} or ${ENV_VAR:-default} placeholder, substituted when the file is loaded.' },
  Duration: {
    description: 'A duration: 500ms, 3s, 1m, 2h, 7d, or an integer of milliseconds.',
    anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: DURATION_PATTERN }, { $ref: '#/$defs/Placeholder' }],
  },
  PositiveDuration: {
    description: 'A time limit of more than 0: 500ms, 3s, 1m, 2h, 7d, or an integer of milliseconds.',
    anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: DURATION_PATTERN }, { $ref: '#/$defs/Placeholder' }],
  },
  Size: {
    description: 'A size: 512kb, 1mb (1024-based), or an integer of bytes.',
    anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: SIZE_PATTERN }, { $ref: '#/$defs/Placeholder' }],
  },
} satisfies Record<string, JsonSchema>;

/** The schemas that appear in several places, named once under $defs. */
function namedParts() {
  const names = z.registry<{ id: string }>();
  names.add(toolTargetSchema, { id: 'ToolTarget' });
  names.add(eventTargetSchema, { id: 'EventTarget' });
  names.add(assistantRequestTargetSchema, { id: 'AssistantRequestTarget' });
  names.add(eventsSchema, { id: 'Events' });
  names.add(upstreamSchema, { id: 'Upstream' });
  names.add(assistantSchema, { id: 'Assistant' });
  names.add(fallbackSchema, { id: 'Fallback' });
  names.add(breakerSchema, { id: 'Breaker' });
  return names;
}

/** Replaces the contents of `json` in place: zod shares these objects between the places that use a schema. */
function replace(json: JsonSchema, next: JsonSchema): void {
  for (const key of Object.keys(json)) delete json[key];
  Object.assign(json, next);
}

/** `json` or a placeholder; the description and default stay on the outside, where editors show them. */
function orPlaceholder(json: JsonSchema): void {
  const { description, default: defaultValue, ...rest } = json;
  replace(json, {
    ...(description !== undefined ? { description } : {}),
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
    anyOf: [rest, ref('Placeholder')],
  });
}

const accepts = (schema: z.core.$ZodType, value: unknown) => z.safeParse(schema, value).success;

/**
 * A duration or size is a union of number and string piped into a transform that reads the
 * units; zod can only say "number or string". Which one it is comes from what it accepts (the
 * unit schemas are private to schema.ts, so there is nothing else to recognise them by).
 */
function unitSchema(schema: z.core.$ZodType): JsonSchema | undefined {
  if (accepts(schema, '3s')) return ref(accepts(schema, 0) ? 'Duration' : 'PositiveDuration');
  if (accepts(schema, '512kb')) return ref('Size');
  return undefined;
}

function refine(ctx: { zodSchema: z.core.$ZodTypes; jsonSchema: JsonSchema; path: (string | number)[] }): void {
  const { zodSchema, jsonSchema: json } = ctx;
  const def = zodSchema._zod.def;
  switch (def.type) {
    case 'pipe': {
      const inType = def.in._zod.def.type;
      const outType = def.out._zod.def.type;
      // z.preprocess wrapping a list: one target or a list of them (zod emits only the list).
      if (inType === 'transform' && outType === 'array' && json.type === 'array' && json.items !== undefined) {
        replace(json, { anyOf: [json.items as JsonSchema, { type: 'array', items: json.items }] });
        return;
      }
      if (outType === 'transform') {
        const unit = unitSchema(zodSchema);
        if (unit) replace(json, unit);
      }
      return;
    }
    case 'default':
      // zod leaves the default out when the inner schema transforms; for these it is a valid input too.
      if (!('default' in json)) json.default = def.defaultValue;
      return;
    case 'number':
    case 'boolean':
    case 'literal':
    case 'enum':
      orPlaceholder(json);
      return;
    case 'string':
      // Keys are never substituted, so a propertyNames pattern stays as it is.
      if (json.pattern !== undefined && ctx.path[ctx.path.length - 1] !== 'propertyNames') orPlaceholder(json);
      return;
    default:
      return;
  }
}

/** The JSON Schema of routes.yaml as a plain object, `$schema` first. */
export function routesJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(configSchema, {
    target: 'draft-2020-12',
    io: 'input',
    metadata: namedParts(),
    // Anything zod cannot express (none today) becomes {}: accepted, never a false error.
    unrepresentable: 'any',
    override: refine,
  }) as JsonSchema;
  const { $schema, $defs, ...rest } = generated;
  return { $schema, title: 'hms-tool-router routes.yaml', ...rest, $defs: { ...(($defs as JsonSchema | undefined) ?? {}), ...sharedDefs } };
}

/** What `hms-tool-router schema` prints and routes.schema.json holds. */
export function routesJsonSchemaText(): string {
  return `${JSON.stringify(routesJsonSchema(), null, 2)}\n`;
}
