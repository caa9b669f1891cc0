// Tool arguments checked against the tool's `parameters` (JSON Schema, as in the platform's tool
// definition) with ajv, and the first problem said in plain words the assistant can speak.

import { createRequire } from 'node:module';
import type { ErrorObject } from 'ajv';

// ajv (CommonJS) is loaded when the first schema is compiled: a table without `parameters` starts without it.
const requireModule = createRequire(import.meta.url);

export type ArgumentCheck = (args: Record<string, unknown>) => string | undefined;

/** One ajv instance per config; every tool's schema is compiled once, at start. */
export function createArgumentChecker() {
  // addUsedSchema: false, so two tools whose schemas share an $id each keep their own check.
  let ajv: import('ajv').Ajv | undefined;
  return function compileArgumentCheck(schema: Record<string, unknown>): ArgumentCheck {
    ajv ??= new (requireModule('ajv') as typeof import('ajv')).Ajv({ allErrors: false, strict: false, coerceTypes: false, addUsedSchema: false });
    const validate = ajv.compile(schema);
    return (args) => {
      if (validate(args)) return undefined;
      return describeProblem(validate.errors?.[0], schema);
    };
  };
}

/** "order_id" or its description ("Date of the appointment") as a phrase: "the date of the appointment". */
function fieldPhrase(schema: Record<string, unknown>, path: string[]): string {
  let node: unknown = schema;
  for (const key of path) {
    const here = node as { properties?: Record<string, unknown>; items?: unknown } | undefined;
    // A list index walks into the list's item schema.
    node = /^\d+$/.test(key) && here?.items !== undefined ? here.items : here?.properties?.[key];
  }
  const description = (node as { description?: unknown } | undefined)?.description;
  const name = [...path].reverse().find((key) => !/^\d+$/.test(key)) ?? 'value';
  const words = typeof description === 'string' && description.length > 0 && description.length <= 60 ? description.replace(/[.!?]+$/, '') : name.replace(/[_\-.]+/g, ' ');
  const phrase = words.charAt(0).toLowerCase() + words.slice(1);
  return /^(the|a|an|your|my)\b/i.test(phrase) ? phrase : `the ${phrase}`;
}

const typeWords: Record<string, string> = {
  string: 'text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'yes or no',
  array: 'a list',
  object: 'a set of details',
  null: 'empty',
};

function describeProblem(error: ErrorObject | undefined, schema: Record<string, unknown>): string {
  if (!error) return 'Some details are missing or wrong.';
  const path = error.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      return `I still need ${fieldPhrase(schema, [...path, missing])}.`;
    }
    case 'type': {
      const expected = String((error.params as { type: string | string[] }).type).split(',')[0]!;
      return `${capitalise(fieldPhrase(schema, path))} should be ${typeWords[expected] ?? expected}.`;
    }
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.map(String);
      return `${capitalise(fieldPhrase(schema, path))} should be one of: ${allowed.join(', ')}.`;
    }
    case 'additionalProperties':
      return `I can't use "${(error.params as { additionalProperty: string }).additionalProperty}" here.`;
    default:
      return path.length > 0 ? `${capitalise(fieldPhrase(schema, path))} is not valid.` : 'Some details are missing or wrong.';
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
