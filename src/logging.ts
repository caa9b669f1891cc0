// The gateway's logger: pino JSON lines (pino-pretty on a terminal) in which secrets are redacted,
// phone numbers masked and call payloads left out unless logging.payloads is on, at any depth.

import { createRequire } from 'node:module';
import pino, { type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
import { createLogSink } from './log-sink.js';
import { maskPhoneNumbers } from './redact.js';

export const REDACTED = '[redacted]';
export const OMITTED_PAYLOAD = '[omitted: set logging.payloads: true]';
export const TOO_DEEP = '[omitted: nested too deep]';
export const CIRCULAR = '[Circular]';

/** A field whose key matches is logged as REDACTED, whatever its value and wherever it is. */
export const SENSITIVE_KEY = /secret|signature|authorization|token|password|passphrase|credential|api[-_]?key|cookie/i;

/**
 * Fields that carry what was said or exchanged on a call (personal data): logged as
 * OMITTED_PAYLOAD unless logging.payloads is true, so a reader sees that something was left out.
 */
export const PAYLOAD_KEYS: readonly string[] = [
  'arguments',
  'args',
  'result',
  'results',
  'transcript',
  'summary',
  'messages',
  'body',
  'payload',
  'artifact',
  'analysis',
  'recording_url',
  'stereo_recording_url',
];

/**
 * pino's own redaction runs last, after serializers: it still catches these headers if a child
 * logger brings req/res serializers of its own. Other places are left to the key scrub below,
 * which is cheaper than pino's redaction on every line and reaches any depth.
 */
export const REDACT_PATHS: readonly string[] = ['req', 'res'].flatMap((parent) =>
  ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-webhook-signature'].map((header) => `${parent}.headers["${header}"]`),
);

// Keys whose pino serializer expects the raw value (an Error, a request): scrubbed after it runs.
const SERIALIZED_KEYS: ReadonlySet<string> = new Set(['err', 'req', 'res']);

const MAX_REMEMBERED_KEYS = 10_000;

// Deeper than any real log line; keeps a pathological object from exhausting the stack.
const MAX_DEPTH = 32;

export interface LoggerOptions {
  level?: string;
  /** logging.payloads: log the PAYLOAD_KEYS fields (still masked and redacted). */
  payloads?: boolean;
  /** 'auto' (default): pretty when writing to stdout and stdout is a terminal. */
  pretty?: boolean | 'auto';
  /** Where lines go; stdout when absent. */
  destination?: DestinationStream;
}

/** Scrubs logged values, copy-on-write: a value with nothing to change comes back as itself. */
function createScrubber(payloadKeys: ReadonlySet<string>) {
  // What a key means is decided once per key name: log lines repeat the same few keys endlessly.
  const keyKinds = new Map<string, string | undefined>();
  const kindOf = (key: string): string | undefined => {
    if (keyKinds.has(key)) return keyKinds.get(key);
    const kind = SENSITIVE_KEY.test(key) ? REDACTED : payloadKeys.has(key) ? OMITTED_PAYLOAD : undefined;
    // Keys come from our own code and from logged payload objects: bounded, but not trusted to be few.
    if (keyKinds.size < MAX_REMEMBERED_KEYS) keyKinds.set(key, kind);
    return kind;
  };

  function scrubRecord(record: object, ancestors: object[], skip?: ReadonlySet<string>): object {
    let copy: Record<string, unknown> | undefined;
    for (const key in record) {
      const value = (record as Record<string, unknown>)[key];
      if (value === undefined || value === null || skip?.has(key)) continue;
      const scrubbed = kindOf(key) ?? scrubValue(value, ancestors);
      if (scrubbed !== value) {
        copy ??= { ...record };
        copy[key] = scrubbed;
      }
    }
    return copy ?? record;
  }

  // `ancestors` is the path from the logged object down to here: a cycle ends as CIRCULAR.
  function scrubValue(value: unknown, ancestors: object[]): unknown {
    if (typeof value === 'string') return maskPhoneNumbers(value);
    if (typeof value !== 'object' || value === null) return value;
    if (ancestors.includes(value)) return CIRCULAR;
    if (ancestors.length >= MAX_DEPTH) return TOO_DEEP;
    ancestors.push(value);
    const scrubbed = scrubObject(value, ancestors);
    ancestors.pop();
    return scrubbed;
  }

  function scrubObject(value: object, ancestors: object[]): unknown {
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      for (let index = 0; index < value.length; index++) {
        const item: unknown = value[index];
        const scrubbed = scrubValue(item, ancestors);
        if (scrubbed !== item) {
          copy ??= value.slice();
          copy[index] = scrubbed;
        }
      }
      return copy ?? value;
    }
    // What JSON.stringify would write for these, scrubbed; an Error would otherwise print as {}.
    if (value instanceof Error) return scrubValue(pino.stdSerializers.err(value), ancestors);
    const toJSON: unknown = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return scrubValue(toJSON.call(value), ancestors);
    return scrubRecord(value, ancestors);
  }

  return {
    /** A logged object's own fields; `skip` names fields a serializer scrubs after it runs. */
    record: (record: object, skip?: ReadonlySet<string>): object => scrubRecord(record, [record], skip),
    value: (value: unknown): unknown => scrubValue(value, []),
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const scrubber = createScrubber(new Set(options.payloads === true ? [] : PAYLOAD_KEYS));
  const scrubbedSerializer = (serialize: (value: never) => unknown) => (value: unknown) => scrubber.value(serialize(value as never));

  // stdout is written asynchronously, in batches (src/log-sink.ts): a write per line cost more than
  // the rest of the line's work, and a stalled log reader (a full pipe) would block every call.
  const stream = options.destination ?? createLogSink();
  const toTerminal = options.destination === undefined && process.stdout.isTTY === true;
  const pretty = options.pretty === true || ((options.pretty ?? 'auto') === 'auto' && toTerminal);

  const logger = pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      serializers: {
        err: scrubbedSerializer(pino.stdSerializers.err),
        req: scrubbedSerializer(pino.stdSerializers.req),
        res: scrubbedSerializer(pino.stdSerializers.res),
        // pino applies the message key's serializer to the final, interpolated message.
        msg: (message: unknown) => (typeof message === 'string' ? maskPhoneNumbers(message) : message),
      },
      formatters: {
        log: (object) => scrubber.record(object, SERIALIZED_KEYS) as Record<string, unknown>,
      },
    },
    pretty ? prettyStream(stream, toTerminal) : stream,
  );

  // pino passes child bindings (fastify's reqId, a call id bound once) through no formatter of
  // ours, so they are scrubbed here; every descendant inherits this method from its parent.
  const createChild = logger.child;
  Object.defineProperty(logger, 'child', {
    configurable: true,
    writable: true,
    value: function scrubbedChild(this: Logger, bindings: Bindings, childOptions?: ChildLoggerOptions) {
      return Reflect.apply(createChild, this, [scrubber.record(bindings, SERIALIZED_KEYS), childOptions]) as Logger;
    },
  });
  return logger;
}

/** Human lines, formatted synchronously in the write itself, so none is lost on a crash. */
function prettyStream(destination: DestinationStream, colorize: boolean): DestinationStream {
  // Loaded only for a terminal: a server writing JSON never pays its memory or start-up time.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const prettify = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  const flushable = destination as DestinationStream & { flush?: (done: (err?: Error) => void) => void };
  return {
    write: (line: string) => destination.write(prettify(line)),
    // pino's logger.flush(done) reaches the sink through this.
    flush: (done: (err?: Error) => void) => (flushable.flush ? flushable.flush(done) : done()),
  } as DestinationStream;
}
