// `hms-tool-router send <event>`: builds a webhook shaped like the platform's (or reads one), signs
// it the way the platform does, POSTs it, and prints the reply with its status and timing.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { signedHeaders } from '../signature.js';

export const EVENTS = ['assistant-request', 'tool-calls', 'status-update', 'end-of-call-report'] as const;
export type EventName = (typeof EVENTS)[number];

export const DEFAULT_URL = 'http://127.0.0.1:8080/webhook';
/** The platform's demo numbers, as in its documentation. */
export const DEFAULT_FROM = '+31612345678';
export const DEFAULT_TO = '+31850835037';
/** The platform waits 10 s for a tool call; a reply later than this is a fault worth reporting. */
const REPLY_LIMIT_MS = 15_000;

const usage = `Usage: hms-tool-router send <event> [options]
       hms-tool-router send [<event>] --file payload.json [--url URL] [--secret S | --secret-env NAME]

Sends one webhook, signed the way the platform signs it, and prints the reply (stdout) with its
status and time (stderr). Exits 0 on a 2xx reply, 1 otherwise.
Events: ${EVENTS.join(', ')}

Options:
  --url URL           where to send it (env HMS_ROUTER_URL; default ${DEFAULT_URL})
  --secret S          sign with this secret
  --secret-env NAME   sign with the secret in environment variable NAME (e.g. HMS_WEBHOOK_SECRET)
                      with neither: env WEBHOOK_SECRET; with no secret at all it is sent unsigned
  --tool NAME         one tool call (tool-calls only); repeat for several
  --args JSON         arguments of the --tool before it, a JSON object (default {})
  --call-id ID        message.call.id (default call_<random>)
  --from NUMBER       the caller: message.customer.number (default ${DEFAULT_FROM})
  --to NUMBER         the number called: message.phone_number.number (default ${DEFAULT_TO});
                      the assistant that lists it under phone_numbers answers POST /webhook
  --file FILE         send this body byte for byte instead of building one
`;

export interface ToolCallSpec {
  name: string;
  args: Record<string, unknown>;
}

export interface EnvelopeInput {
  event: EventName;
  callId: string;
  from: string;
  to: string;
  tools: readonly ToolCallSpec[];
  now: Date;
  /** A fresh id with this prefix: random in use, fixed in tests. */
  newId: (prefix: string) => string;
}

/** A webhook body in the platform's snake_case shape, with the fields each event carries. */
export function buildEnvelope(input: EnvelopeInput): { message: Record<string, unknown> } {
  const status = { 'assistant-request': 'ringing', 'tool-calls': 'in-progress', 'status-update': 'in-progress', 'end-of-call-report': 'ended' }[input.event];
  const message: Record<string, unknown> = {
    type: input.event,
    timestamp: input.now.toISOString(),
    call: { id: input.callId, type: 'inbound_phone_call', status },
    phone_number: { number: input.to, name: 'HMS Sovereign Demo' },
    customer: { number: input.from },
  };
  if (input.event === 'tool-calls') {
    message.tool_call_list = input.tools.map((tool) => ({ id: input.newId('tool_'), type: 'function', function: { name: tool.name, arguments: tool.args } }));
  }
  if (input.event === 'end-of-call-report') {
    const durationSeconds = 84;
    Object.assign(message, {
      duration_seconds: durationSeconds,
      summary: 'The caller asked about an order and booked a follow-up appointment.',
      messages: [
        { role: 'assistant', content: 'Hello, how can I help you?' },
        { role: 'user', content: 'I would like to know where my order is.' },
      ],
      end_reason: 'user_hangup',
      started_at: new Date(input.now.getTime() - durationSeconds * 1000).toISOString(),
      ended_at: input.now.toISOString(),
    });
  }
  return { message };
}

class UsageError extends Error {}

interface SendPlan {
  url: URL;
  event: string;
  body: Buffer;
  callId: string | undefined;
  secret: { value: string; from: string } | undefined;
}

export async function runSend(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let plan: SendPlan | 'help';
  try {
    plan = await planFromArgs(argv, env);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message);
    throw err;
  }
  if (plan === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  return deliver(plan);
}

async function planFromArgs(argv: string[], env: NodeJS.ProcessEnv): Promise<SendPlan | 'help'> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: {
        url: { type: 'string' },
        secret: { type: 'string' },
        'secret-env': { type: 'string' },
        tool: { type: 'string', multiple: true },
        args: { type: 'string', multiple: true },
        'call-id': { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        file: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError(`send takes one event, got ${positionals.join(' ')}\n\n${usage}`);
  const named = positionals[0];
  if (named !== undefined && values.file === undefined && !isEvent(named)) {
    throw new UsageError(`unknown event "${named}": use one of ${EVENTS.join(', ')}`);
  }

  const url = parseUrl(values.url ?? env.HMS_ROUTER_URL ?? DEFAULT_URL, values.url !== undefined ? '--url' : env.HMS_ROUTER_URL !== undefined ? 'HMS_ROUTER_URL' : 'the default URL');
  const secret = pickSecret(values.secret, values['secret-env'], env);
  const tools = pairTools(tokens);

  if (values.file !== undefined) {
    const extra = ['tool', 'args', 'call-id', 'from', 'to'].filter((name) => values[name as keyof typeof values] !== undefined);
    if (extra.length > 0) throw new UsageError(`--file sends the file as it is: ${extra.map((n) => `--${n}`).join(', ')} cannot be combined with it`);
    return { url, secret, ...(await planFromFile(values.file, named)) };
  }

  if (named === undefined) throw new UsageError(`which event? use one of ${EVENTS.join(', ')}\n\n${usage}`);
  const event = named as EventName;
  if (event === 'tool-calls' && tools.length === 0) throw new UsageError('tool-calls needs at least one --tool NAME (with --args JSON for its arguments)');
  if (event !== 'tool-calls' && tools.length > 0) throw new UsageError(`--tool is for tool-calls; a ${event} carries no tool calls`);
  const callId = values['call-id'] ?? `call_${randomBytes(8).toString('hex')}`;
  const envelope = buildEnvelope({
    event,
    callId,
    from: values.from ?? DEFAULT_FROM,
    to: values.to ?? DEFAULT_TO,
    tools,
    now: new Date(),
    newId: (prefix) => `${prefix}${randomBytes(6).toString('hex')}`,
  });
  return { url, secret, event, callId, body: Buffer.from(JSON.stringify(envelope)) };
}

function isEvent(name: string): name is EventName {
  return (EVENTS as readonly string[]).includes(name);
}

function parseUrl(text: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${source} "${text}" is not a URL; give an absolute http:// or https:// URL, like ${DEFAULT_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${source} "${text}" is not an http:// or https:// URL`);
  return url;
}

function pickSecret(flag: string | undefined, envName: string | undefined, env: NodeJS.ProcessEnv): SendPlan['secret'] {
  if (flag !== undefined && envName !== undefined) throw new UsageError('give --secret or --secret-env, not both');
  if (flag !== undefined) {
    if (flag === '') throw new UsageError('--secret is empty; give the webhook_secret set on the platform');
    return { value: flag, from: '--secret' };
  }
  if (envName !== undefined) {
    const value = env[envName];
    if (value === undefined || value === '') throw new UsageError(`environment variable ${envName} (named by --secret-env) is not set; export it, or pass --secret`);
    return { value, from: envName };
  }
  const fallback = env.WEBHOOK_SECRET;
  return fallback !== undefined && fallback !== '' ? { value: fallback, from: 'WEBHOOK_SECRET' } : undefined;
}

/** --tool and --args in the order given: each --args belongs to the --tool just before it. */
function pairTools(tokens: readonly { kind: string; name?: string; value?: string | undefined }[]): ToolCallSpec[] {
  const calls: { name: string; args: Record<string, unknown> | undefined }[] = [];
  for (const token of tokens) {
    if (token.kind !== 'option' || (token.name !== 'tool' && token.name !== 'args')) continue;
    const value = token.value ?? '';
    if (token.name === 'tool') {
      if (value === '') throw new UsageError('--tool needs a tool name');
      calls.push({ name: value, args: undefined });
      continue;
    }
    const last = calls[calls.length - 1];
    if (!last) throw new UsageError('--args comes after the --tool it belongs to: --tool NAME --args JSON');
    if (last.args !== undefined) throw new UsageError(`--tool ${last.name} has two --args; give one JSON object per tool`);
    last.args = parseToolArgs(last.name, value);
  }
  return calls.map((call) => ({ name: call.name, args: call.args ?? {} }));
}

function parseToolArgs(tool: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--args for ${tool} is not valid JSON (${(err as Error).message}); quote it for the shell, like --args '{"order_id":"A-1001"}'`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`--args for ${tool} must be a JSON object, like '{"order_id":"A-1001"}'; the platform sends arguments as an object`);
  }
  return value as Record<string, unknown>;
}

async function planFromFile(file: string, named: string | undefined): Promise<Pick<SendPlan, 'event' | 'body' | 'callId'>> {
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new UsageError(`cannot read --file ${file}: ${reason}`);
  }
  let message: Record<string, unknown> | undefined;
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    const inner = typeof value === 'object' && value !== null ? (value as { message?: unknown }).message : undefined;
    if (typeof inner === 'object' && inner !== null) message = inner as Record<string, unknown>;
  } catch {
    // Sent as it is: a broken body is a fair thing to test a gateway with.
  }
  const type = typeof message?.type === 'string' ? message.type : undefined;
  const event = named ?? type;
  if (event === undefined) throw new UsageError(`--file ${file} has no message.type to take the event from; name the event: send <event> --file ${file}`);
  if (named !== undefined && type !== undefined && named !== type) {
    throw new UsageError(`--file ${file} is a ${type} (message.type) but the event given is ${named}; the gateway would refuse the mismatch. Leave the event out to use ${type}`);
  }
  const call = message?.call;
  const callId = typeof call === 'object' && call !== null && typeof (call as { id?: unknown }).id === 'string' ? (call as { id: string }).id : undefined;
  return { event, body, callId };
}

async function deliver(plan: SendPlan): Promise<number> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    // What the platform sends (its docs misspell the header as User-Assistant); nothing may rely on it.
    'user-agent': 'HMS-Sovereign/1.0',
    'x-webhook-event': plan.event,
  };
  const about = [`event ${plan.event}`, ...(plan.callId !== undefined ? [`call ${plan.callId}`] : [])];
  if (plan.secret) {
    Object.assign(headers, signedHeaders(plan.secret.value, plan.body, Date.now()));
    process.stderr.write(`POST ${plan.url.href} (${about.join(', ')}, signed with ${plan.secret.from})\n`);
  } else {
    // The platform sends its timestamp with or without a secret; only the signature is left out.
    headers['x-webhook-timestamp'] = String(Math.floor(Date.now() / 1000));
    process.stderr.write(
      `POST ${plan.url.href} (${about.join(', ')}) UNSIGNED: no --secret, --secret-env NAME or WEBHOOK_SECRET; the gateway accepts it only with security.allow_unsigned: true\n`,
    );
  }

  const agent = new Agent({ headersTimeout: REPLY_LIMIT_MS, bodyTimeout: REPLY_LIMIT_MS, connectTimeout: REPLY_LIMIT_MS });
  const started = performance.now();
  try {
    const res = await request(plan.url, { method: 'POST', headers, body: plan.body, dispatcher: agent });
    const text = await res.body.text();
    const elapsedMs = Math.round(performance.now() - started);
    process.stderr.write(`HTTP ${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ''}`.trimEnd() + ` in ${elapsedMs} ms\n`);
    if (text !== '') process.stdout.write(`${prettyBody(text)}\n`);
    return res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1;
  } catch (err) {
    return fail(`cannot send to ${plan.url.href}: ${transportProblem(err as NodeJS.ErrnoException)}`);
  } finally {
    await agent.close().catch(() => undefined);
  }
}

/** The reply as indented JSON, or as it came when it is not JSON. */
function prettyBody(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function transportProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused; is the gateway running there? Start it with `hms-tool-router serve`, or pass --url';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found; check the host name in --url';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `no reply within ${REPLY_LIMIT_MS / 1000} s (the platform gives up on a tool call after 10 s)`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'the connection was closed before a reply came';
    default:
      return err.message;
  }
}

function fail(message: string): number {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  return 1;
}
