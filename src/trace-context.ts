// W3C Trace Context: reads an incoming `traceparent`, starts a trace when none came in, and gives
// every upstream request its own span id, so one phone call can be followed across backends.

import { randomFillSync } from 'node:crypto';

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** One unit of work in a trace: the webhook, or one upstream request made for it. */
export interface TraceSpan {
  /** The `traceparent` header value that names this span as the parent. */
  readonly traceparent: string;
  /** Passed on unchanged, as the spec asks of a participant that adds nothing to it. */
  readonly tracestate: string | undefined;
  /**
   * False when spans are only propagated (no exporter): names and attributes are thrown away, so
   * the hot path need not build them (pass UNRECORDED and NO_ATTRIBUTES).
   */
  readonly recording: boolean;
  child(name: string, attributes: SpanAttributes): TraceSpan;
  setAttributes(attributes: SpanAttributes): void;
  end(result?: { status?: number; error?: string }): void;
}

/** The name and attributes given to a span that is not recorded. */
export const UNRECORDED = '';
export const NO_ATTRIBUTES: SpanAttributes = Object.freeze({});

export interface Tracer {
  /** As TraceSpan.recording, known before the webhook's span is started. */
  readonly recording: boolean;
  startWebhook(incoming: { traceparent?: string | undefined; tracestate?: string | undefined }, name: string, attributes: SpanAttributes): TraceSpan;
  close(): Promise<void>;
}

export interface ParsedTraceparent {
  traceId: string;
  parentId: string;
  flags: string;
}

// version 00 format; a higher version is read by its first four fields, as the spec says.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The parts of a valid `traceparent`, or undefined (then a new trace is started). */
export function parseTraceparent(value: string | undefined): ParsedTraceparent | undefined {
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, parentId, flags };
}

export function formatTraceparent(traceId: string, spanId: string, flags: string): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

/** Random hex ids cut from a pool filled 256 ids at a time: a call into the CSPRNG per id costs ~5 µs. */
export function createIdSource(): (bytes: number) => string {
  const pool = Buffer.alloc(4096);
  let offset = pool.length;
  return (bytes) => {
    if (offset + bytes > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    offset += bytes;
    return pool.toString('hex', offset - bytes, offset);
  };
}

/** Propagation only: ids are made and passed on, nothing is recorded or exported. */
export function createPropagatingTracer(): Tracer {
  const randomHex = createIdSource();
  const newTraceId = () => randomHex(16);
  const span = (traceId: string, flags: string, tracestate: string | undefined): TraceSpan => ({
    traceparent: formatTraceparent(traceId, randomHex(8), flags),
    tracestate,
    recording: false,
    child: () => span(traceId, flags, tracestate),
    setAttributes: () => undefined,
    end: () => undefined,
  });
  return {
    recording: false,
    startWebhook(incoming) {
      const parent = parseTraceparent(incoming.traceparent);
      // A trace we start is marked sampled, so backends that record traces keep theirs.
      return parent ? span(parent.traceId, parent.flags, incoming.tracestate) : span(newTraceId(), '01', undefined);
    },
    close: async () => undefined,
  };
}
