// Starts the real gateway on 127.0.0.1 port 0 from routes.yaml text (parsed like a file, env
// substitution included), captures its log records, and closes it at the test's teardown.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { request } from 'undici';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { DEFAULT_STORE_PATH } from '../../src/config/schema.js';
import { signatureHex } from '../../src/signature.js';

export interface Gateway {
  url: string;
  app: FastifyInstance;
  logs: Record<string, unknown>[];
}

export interface GatewayOptions {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export async function startGateway(t: Test, routesYaml: string, options: GatewayOptions = {}): Promise<Gateway> {
  const { config } = parseConfig(routesYaml, 'routes.yaml', options.env ?? {});
  // Each gateway gets its own outbox file, removed after the test, unless the test names a store path.
  if (config.store.path === DEFAULT_STORE_PATH) {
    const dir = mkdtempSync(join(tmpdir(), 'hms-outbox-'));
    config.store.path = join(dir, 'outbox.db');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  }
  const { logs, logger } = memoryLogger(config.logging.payloads);
  const app = await buildApp({ config, logger, ...(options.now ? { now: options.now } : {}) });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return { url: address, app, logs };
}

/** The production logger (redaction, masking, payloads off unless asked), writing parsed records into `logs`. */
export function memoryLogger(payloads = false, level = 'debug'): { logs: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logs, logger: createLogger({ level, payloads, pretty: false, destination: sink }) };
}

export const SECRET = 'test-secret';

export interface SendOptions {
  secret?: string | undefined;
  /** Unix seconds for X-Webhook-Timestamp; defaults to now. */
  timestamp?: string | number;
  prefix?: boolean;
  event?: string | null;
  headers?: Record<string, string>;
  contentType?: string | null;
}

export interface SentReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
  elapsedMs: number;
}

/** POSTs a body signed the platform's way (HMAC-SHA256 over `${timestamp}.${body}`). */
export async function send(url: string, body: unknown, options: SendOptions = {}): Promise<SentReply> {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {};
  if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
  const eventType = options.event === undefined ? eventOf(body) : options.event;
  if (eventType !== null && eventType !== undefined) headers['x-webhook-event'] = eventType;
  const secret = options.secret === undefined ? SECRET : options.secret;
  if (secret !== undefined && secret !== '') {
    const hex = signatureHex(secret, timestamp, raw);
    headers['x-webhook-timestamp'] = timestamp;
    headers['x-webhook-signature'] = options.prefix === false ? hex : `sha256=${hex}`;
  }
  Object.assign(headers, options.headers);
  const started = performance.now();
  const res = await request(url, { method: 'POST', headers, body: raw });
  const text = await res.body.text();
  const elapsedMs = performance.now() - started;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body: parsed, text, elapsedMs };
}

function eventOf(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && 'message' in body) {
    const type = (body as { message: { type?: unknown } }).message.type;
    return typeof type === 'string' ? type : undefined;
  }
  return undefined;
}

/** A tool-calls envelope with one entry per [name, arguments] pair, ids tc_1, tc_2, ... */
export function toolCalls(calls: [string, unknown][], extra: Record<string, unknown> = {}): { message: Record<string, unknown> } {
  return {
    message: {
      type: 'tool-calls',
      timestamp: '2025-12-13T12:00:00.000Z',
      call: { id: 'call-1', type: 'inbound_phone_call', status: 'in-progress' },
      phone_number: { number: '+31850835037', name: 'Demo' },
      customer: { number: '+31612345678' },
      tool_call_list: calls.map(([name, args], i) => ({ id: `tc_${i + 1}`, type: 'function', function: { name, arguments: args } })),
      ...extra,
    },
  };
}

/** An envelope of any event type with the usual call fields. */
export function envelope(type: string, extra: Record<string, unknown> = {}): { message: Record<string, unknown> } {
  return {
    message: {
      type,
      timestamp: '2025-12-13T12:00:00.000Z',
      call: { id: 'call-1', type: 'inbound_phone_call', status: 'in-progress' },
      phone_number: { number: '+31850835037', name: 'Demo' },
      customer: { number: '+31612345678' },
      ...extra,
    },
  };
}

/**
 * Resolves once `predicate` holds, polling every 10 ms; fails after `timeoutMs`. The default is
 * generous: under the test loader a gateway's outbox writer thread takes seconds to start on a busy
 * machine, and a wait that is met returns as soon as it is.
 */
export async function eventually(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Scrape {
  text: string;
  contentType: string;
  /** The sample's value, or undefined when no sample has exactly these labels. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

/** GET /metrics, read the way Prometheus reads it: one sample per line, labels matched exactly. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await request(`${url}/metrics`);
  const text = await res.body.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}=${v}`).sort();
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return {
    text,
    contentType: String(res.headers['content-type']),
    value: (name, labels = {}) =>
      samples.get(
        `${name}{${Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .sort()
          .join(',')}}`,
      ),
  };
}
