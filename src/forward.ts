// One upstream HTTP request under a time limit, on an undici dispatcher. The only module that
// knows undici's errors: it translates every transport failure into a reason the caller can speak.

import type { Dispatcher } from 'undici';
import { AbortSwitch, type AbortSignalLike } from './abort-switch.js';

export interface UpstreamRequest {
  origin: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

export interface UpstreamResponse {
  ok: true;
  status: number;
  contentType: string;
  /** The Retry-After header, for 429 and 503 replies. */
  retryAfter: string | undefined;
  body: Buffer;
  elapsedMs: number;
}

/** timeout: the time limit ran out; unavailable: no connection, refused or reset; error: anything else. */
export type FailureReason = 'timeout' | 'unavailable' | 'error';

export interface UpstreamFailure {
  ok: false;
  reason: FailureReason;
  /** For logs only: never sent to the platform (it can name internal hosts). */
  detail: string;
  elapsedMs: number;
}

export type UpstreamResult = UpstreamResponse | UpstreamFailure;

export interface ForwardOptions {
  timeoutMs: number;
  /** Cancels the request from outside (the caller's own deadline); counted as a timeout. */
  signal?: AbortSignalLike | undefined;
  /** A second switch (a hedge cancels its slower twin); cheaper than merging with AbortSignal.any. */
  cancel?: AbortSignalLike | undefined;
  maxResponseBytes?: number;
}

/** Upstream replies above this are refused: a tool result is spoken, not downloaded. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

const unavailableCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_CONNECT_TIMEOUT',
]);

class DeadlineExceeded extends Error {}
class ResponseTooLarge extends Error {}

export type Clock = () => number;

export function createForwarder(dispatcherFor: (origin: string) => Dispatcher, now: Clock = Date.now) {
  return async function forwardRequest(request: UpstreamRequest, options: ForwardOptions): Promise<UpstreamResult> {
    const started = now();
    const elapsed = () => now() - started;
    if (options.timeoutMs <= 0 || options.signal?.aborted || options.cancel?.aborted) {
      return { ok: false, reason: 'timeout', detail: 'no time left before the deadline', elapsedMs: 0 };
    }
    const cancel = new AbortSwitch();
    const timer = setTimeout(() => cancel.abort(new DeadlineExceeded(`no reply within ${options.timeoutMs}ms`)), options.timeoutMs);
    const onOuterAbort = () => cancel.abort(new DeadlineExceeded('the deadline of the event ran out'));
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    options.cancel?.addEventListener('abort', onOuterAbort, { once: true });
    try {
      const response = await dispatcherFor(request.origin).request({
        origin: request.origin,
        path: request.path,
        method: request.method as Dispatcher.HttpMethod,
        headers: request.headers,
        body: request.body ?? null,
        signal: cancel,
        // Our own timer bounds the whole exchange; undici's per-phase timers must not fire first.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const body = await readBody(response.body, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
      return { ok: true, status: response.statusCode, contentType: firstHeader(response.headers['content-type']) ?? '', retryAfter: firstHeader(response.headers['retry-after']), body, elapsedMs: elapsed() };
    } catch (err) {
      const reason = cancel.aborted && cancel.reason instanceof DeadlineExceeded ? cancel.reason : err;
      return { ok: false, ...describeFailure(reason), elapsedMs: elapsed() };
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onOuterAbort);
      options.cancel?.removeEventListener('abort', onOuterAbort);
    }
  };
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The whole reply body, up to `limit` bytes; stream events rather than `for await`, which costs several times more per reply. */
function readBody(body: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.destroy();
        reject(new ResponseTooLarge(`reply larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    body.once('error', reject);
  });
}

function describeFailure(err: unknown): { reason: FailureReason; detail: string } {
  if (err instanceof DeadlineExceeded) return { reason: 'timeout', detail: err.message };
  if (err instanceof ResponseTooLarge) return { reason: 'error', detail: err.message };
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { reason: 'timeout', detail: code };
  if (code !== undefined && unavailableCodes.has(code)) return { reason: 'unavailable', detail: `${code}: ${e?.message ?? e?.cause?.message ?? ''}`.trim() };
  return { reason: 'error', detail: e?.message ?? String(err) };
}
