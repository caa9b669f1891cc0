// The routes.yaml schema: the single source of truth for what the file may contain, its
// defaults, and the TypeScript types the rest of the gateway uses.

import { z } from 'zod';
import { createArgumentChecker } from '../arguments.js';
import { parseDuration, parseSize } from './units.js';

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 5000;
/** Relative to the working directory, like every relative store path. */
export const DEFAULT_STORE_PATH = './data/hms-tool-router.db';

// Text first: most durations are written "3s", and a failed try costs an issue object, 10,000
// times over in a large table.
const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like 500ms, 3s, 1m, 2h, 7d or an integer of milliseconds, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });

/** A time limit: zero would fail every request, so it must be at least 1ms. */
const positiveDuration = duration.refine((ms) => ms > 0, { message: 'must be more than 0' });

const size = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size like 512kb, 1mb or an integer of bytes, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return bytes;
  });

const httpUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an absolute http:// or https:// URL' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'expected an absolute http:// or https:// URL' });
  else if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'credentials in the URL are not sent; use headers: { authorization: "..." } instead' });
  else if (url.search !== '' || url.hash !== '') ctx.addIssue({ code: 'custom', message: "an upstream URL cannot carry a query or fragment; put them in each target's path" });
});

/** A target URL may hold {placeholders} in its path, never in its scheme, host or port. */
const targetUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^/?#{}]+([/?#].*)?$/i.test(value), { message: 'expected an absolute http:// or https:// URL, with {placeholders} only after the host' })
  .refine((value) => !/^https?:\/\/[^/?#]*@/i.test(value), { message: 'credentials in the URL are not sent; use headers: { authorization: "..." } instead' });

const secret = z.string().min(1, { message: 'a secret must not be empty' });
const secrets = z.array(secret).min(1, { message: 'a secrets list must not be empty; remove the key or add a secret' });
const method = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], { message: 'expected one of GET, POST, PUT, PATCH, DELETE' });
const headers = z.record(z.string(), z.string());

/** Fields every target shares: where it goes and how it is called. */
const targetFields = {
  upstream: z.string().optional(),
  path: z.string().optional(),
  url: targetUrl.optional(),
  method: method.optional(),
  headers: headers.optional(),
  timeout: positiveDuration.optional(),
  secret: secret.optional(),
};

function checkDestination(target: { upstream?: string | undefined; url?: string | undefined; path?: string | undefined }, ctx: z.RefinementCtx, optional = false): void {
  if (target.upstream !== undefined && target.url !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'a target takes either upstream (with an optional path) or url, not both', path: ['url'] });
  } else if (target.upstream === undefined && target.url === undefined && !optional) {
    ctx.addIssue({ code: 'custom', message: 'a target needs upstream (with an optional path) or url' });
  }
  if (target.path !== undefined && target.upstream === undefined) {
    ctx.addIssue({ code: 'custom', message: 'path goes with upstream; with url, put the whole address in url', path: ['path'] });
  }
}

export const FALLBACK_REASONS = ['timeout', 'unavailable', 'error', 'invalid_arguments', 'rate_limited'] as const;
export type FallbackReason = (typeof FALLBACK_REASONS)[number];

const sentences = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
/** One sentence, a list (rotated per call), or a map of reason -> sentence(s). */
export const fallbackSchema = z.union([sentences, z.strictObject(Object.fromEntries(FALLBACK_REASONS.map((r) => [r, sentences.optional()])) as Record<FallbackReason, z.ZodOptional<typeof sentences>>)], {
  message: `expected a sentence, a list of sentences, or a map with the keys ${FALLBACK_REASONS.join(', ')}`,
});

export const breakerSchema = z.strictObject({
  failures: z.int().min(1).optional(),
  slow: positiveDuration.optional(),
  slow_ratio: z.number().gt(0).max(1).optional(),
  window: z.int().min(1).optional(),
  open_for: positiveDuration.optional(),
});

/**
 * Compiles `parameters` as the gateway will at run time (ajv loads with the first one: most files
 * have none), so a broken JSON Schema is a config error.
 */
const compileParameters = createArgumentChecker();

export const toolTargetSchema = z
  .strictObject({
    ...targetFields,
    body: z.enum(['arguments', 'message'], { message: 'expected arguments or message' }).optional(),
    fallback: fallbackSchema.optional(),
    retries: z.int().min(0).max(10).optional(),
    idempotent: z.boolean().optional(),
    hedge: positiveDuration.optional(),
    side_effects: z.boolean().optional(),
    on_deadline: z.enum(['abort', 'continue'], { message: 'expected abort or continue' }).optional(),
    async: z.boolean().optional(),
    async_response: z.string().min(1).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((target, ctx) => {
    checkDestination(target, ctx);
    const repeatable = target.idempotent === true || target.method === 'GET';
    for (const key of ['retries', 'hedge'] as const) {
      if (target[key] !== undefined && !(key === 'retries' && target.retries === 0) && !repeatable) {
        ctx.addIssue({ code: 'custom', message: `${key} sends the request again: mark the tool idempotent: true if repeating it is safe (GET tools are)`, path: [key] });
      }
    }
    if (target.parameters !== undefined) {
      try {
        compileParameters(target.parameters);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a valid JSON Schema: ${(err as Error).message}`, path: ['parameters'] });
      }
    }
  });

/** Events carry no arguments, so an event target's address cannot have {placeholders}. */
function checkNoPlaceholders(target: { path?: string | undefined; url?: string | undefined }, ctx: z.RefinementCtx): void {
  for (const key of ['path', 'url'] as const) {
    if (/\{[^{}]+\}/.test(target[key] ?? '')) {
      ctx.addIssue({ code: 'custom', message: 'placeholders like {name} are for tool arguments; an event target needs a fixed address', path: [key] });
    }
  }
}

export const eventTargetSchema = z
  .strictObject({
    ...targetFields,
    body: z.literal('message', { message: 'event targets always receive the envelope; use body: message or leave it out' }).optional(),
  })
  .superRefine((target, ctx) => {
    checkDestination(target, ctx);
    checkNoPlaceholders(target, ctx);
  });

export const assistantRequestTargetSchema = z
  .strictObject({
    ...targetFields,
    body: z.literal('message', { message: 'event targets always receive the envelope; use body: message or leave it out' }).optional(),
    static: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((target, ctx) => {
    checkDestination(target, ctx, true);
    checkNoPlaceholders(target, ctx);
    if (target.upstream === undefined && target.url === undefined && target.static === undefined) {
      ctx.addIssue({ code: 'custom', message: 'assistant-request needs upstream, url or static' });
    }
  });

/** A list event accepts one target or a list of them; both become a list. */
const targetList = z.preprocess((value) => (value === undefined || value === null || Array.isArray(value) ? value : [value]), z.array(eventTargetSchema));

export const eventsSchema = z.strictObject({
  'assistant-request': assistantRequestTargetSchema.optional(),
  'status-update': targetList.optional(),
  'end-of-call-report': targetList.optional(),
});

export const upstreamSchema = z.strictObject({
  url: httpUrl,
  headers: headers.optional(),
  timeout: positiveDuration.optional(),
  breaker: breakerSchema.optional(),
});

/** At most `max` webhooks per `window`; the window is a duration. */
export const rateLimitSchema = z.strictObject({
  max: z.int().min(1),
  window: positiveDuration.default(1000),
});

const assistantName = z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'an assistant name is used in the URL /webhook/<name>: use letters, digits, _, - and . only' });

export const assistantSchema = z.strictObject({
  secrets: secrets.optional(),
  phone_numbers: z.array(z.string().min(1)).optional(),
  tools: z.record(z.string(), toolTargetSchema).optional(),
  events: eventsSchema.optional(),
});

export const configSchema = z
  .strictObject({
    version: z.literal(1, { message: 'version must be 1' }),
    account: z.strictObject({ secrets: secrets.optional() }).optional(),
    upstreams: z.record(z.string(), upstreamSchema).default({}),
    tools: z.record(z.string(), toolTargetSchema).default({}),
    assistants: z.record(assistantName, assistantSchema).default({}),
    events: eventsSchema.default({}),
    fallback: eventTargetSchema.optional(),
    deadlines: z
      .strictObject({
        'tool-calls': positiveDuration.default(9000),
        'assistant-request': positiveDuration.default(4000),
      })
      .default({ 'tool-calls': 9000, 'assistant-request': 4000 }),
    security: z
      .strictObject({
        timestamp_tolerance: duration.default(300_000),
        allow_unsigned: z.boolean().default(false),
      })
      .default({ timestamp_tolerance: 300_000, allow_unsigned: false }),
    limits: z
      .strictObject({
        body: size.default(1024 * 1024),
        result: size.default(16 * 1024),
        tool_calls_per_call: z.int().min(1).default(60),
        rate: z
          .strictObject({
            global: rateLimitSchema.optional(),
            per_assistant: rateLimitSchema.optional(),
          })
          .optional(),
      })
      .default({ body: 1024 * 1024, result: 16 * 1024, tool_calls_per_call: 60 }),
    defaults: z.strictObject({ fallback: fallbackSchema.optional(), breaker: breakerSchema.optional() }).default({}),
    idempotency: z.strictObject({ ttl: positiveDuration.default(30 * 60_000) }).default({ ttl: 30 * 60_000 }),
    store: z
      .strictObject({
        path: z.string().min(1).default(DEFAULT_STORE_PATH),
        retention: positiveDuration.default(7 * 86_400_000),
        redis: z
          .string()
          .regex(/^rediss?:\/\//, { message: 'expected a redis:// or rediss:// URL' })
          .optional(),
      })
      .default({ path: DEFAULT_STORE_PATH, retention: 7 * 86_400_000 }),
    delivery: z
      .strictObject({
        retry: z
          .strictObject({
            initial: positiveDuration.default(1000),
            max: positiveDuration.default(5 * 60_000),
            max_attempts: z.int().min(1).default(20),
            max_age: positiveDuration.default(86_400_000),
          })
          .default({ initial: 1000, max: 5 * 60_000, max_attempts: 20, max_age: 86_400_000 }),
        concurrency: z.int().min(1).default(4),
      })
      .default({ retry: { initial: 1000, max: 5 * 60_000, max_attempts: 20, max_age: 86_400_000 }, concurrency: 4 }),
    logging: z
      .strictObject({
        // Tool arguments and results, transcripts and summaries hold personal data: opt in.
        payloads: z.boolean().default(false),
      })
      .default({ payloads: false }),
    reload: z
      .strictObject({
        // A call keeps the routes it started with for this long after its first event.
        pin_calls: duration.default(15 * 60_000),
        watch: z.boolean().default(true),
      })
      .default({ pin_calls: 15 * 60_000, watch: true }),
  })
  // Cross-references run even when other values are invalid, so every problem shows at once;
  // the config may then be partly malformed, hence the defensive reads.
  .superRefine((config, ctx) => checkReferences(config as unknown, ctx), { when: () => true });

type Path = (string | number)[];

function entriesOf(value: unknown): [string, unknown][] {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : [];
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function checkReferences(config: unknown, ctx: z.RefinementCtx): void {
  const declared = new Set(entriesOf(field(config, 'upstreams')).map(([name]) => name));
  // Called for each of 10,000 tools in a large table: the path is made only for an issue.
  const checkUpstream = (target: unknown, prefix: Path, ...last: (string | number)[]) => {
    const upstream = field(target, 'upstream');
    if (typeof upstream === 'string' && !declared.has(upstream)) {
      const known = declared.size > 0 ? ` (declared: ${[...declared].join(', ')})` : '';
      ctx.addIssue({ code: 'custom', message: `upstream "${upstream}" is not declared under upstreams${known}`, path: [...prefix, ...last, 'upstream'] });
    }
  };
  const checkEvents = (events: unknown, path: Path) => {
    checkUpstream(field(events, 'assistant-request'), path, 'assistant-request');
    for (const name of ['status-update', 'end-of-call-report']) {
      const targets = field(events, name);
      if (Array.isArray(targets)) targets.forEach((target, i) => checkUpstream(target, path, name, i));
      else checkUpstream(targets, path, name);
    }
  };
  const checkTools = (tools: unknown, path: Path) => {
    if (typeof tools !== 'object' || tools === null || Array.isArray(tools)) return;
    for (const name in tools) checkUpstream((tools as Record<string, unknown>)[name], path, name);
  };
  checkTools(field(config, 'tools'), ['tools']);
  checkEvents(field(config, 'events'), ['events']);
  checkUpstream(field(config, 'fallback'), ['fallback']);

  // A secrets key that is present but invalid (say, empty) is reported on its own; "no secrets
  // anywhere" is only for configs that never mention one.
  let secretsGiven = field(field(config, 'account'), 'secrets') !== undefined;
  const phoneOwners = new Map<string, string>();
  for (const [name, assistant] of entriesOf(field(config, 'assistants'))) {
    if (field(assistant, 'secrets') !== undefined) secretsGiven = true;
    checkTools(field(assistant, 'tools'), ['assistants', name, 'tools']);
    checkEvents(field(assistant, 'events'), ['assistants', name, 'events']);
    const numbers = field(assistant, 'phone_numbers');
    if (!Array.isArray(numbers)) continue;
    numbers.forEach((number: unknown, i) => {
      if (typeof number !== 'string') return;
      const key = normalizePhoneNumber(number);
      const owner = phoneOwners.get(key);
      if (owner !== undefined) {
        ctx.addIssue({ code: 'custom', message: `phone number ${number} is already listed for assistant "${owner}"; a number can belong to one assistant only`, path: ['assistants', name, 'phone_numbers', i] });
      } else {
        phoneOwners.set(key, name);
      }
    });
  }
  if (!secretsGiven && field(field(config, 'security'), 'allow_unsigned') !== true) {
    ctx.addIssue({
      code: 'custom',
      message: 'no secrets configured: add account.secrets (or secrets on an assistant) with the webhook_secret set on the platform, or set security.allow_unsigned: true for local development only',
      path: ['account'],
    });
  }
}

/** Phone numbers match exactly, ignoring spaces. */
export function normalizePhoneNumber(number: string): string {
  return number.replace(/\s+/g, '');
}

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ToolTarget = z.output<typeof toolTargetSchema>;
export type EventTarget = z.output<typeof eventTargetSchema>;
export type AssistantRequestTarget = z.output<typeof assistantRequestTargetSchema>;
export type Events = z.output<typeof eventsSchema>;
export type Upstream = z.output<typeof upstreamSchema>;
export type Assistant = z.output<typeof assistantSchema>;
export type FallbackConfig = z.output<typeof fallbackSchema>;
export type BreakerConfig = z.output<typeof breakerSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
