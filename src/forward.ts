// One upstream HTTP request under a time limit, on an undici dispatcher. The only module that
// knows undici's errors: it translates every transport failure into a reason the caller can speak.

import type { Dispatcher } from 'undici';
import type { AbortSignalLike } from './abort-switch.js';

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
  /**
   * Headers that differ per attempt (x-deadline-ms, traceparent) as name, value, name, value…:
   * sent with request.headers, replacing any of the same name, without copying the request.
   */
  extraHeaders?: readonly string[] | undefined;
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
  // Not an async function awaiting the exchange: one promise per request, settled with the result.
  return function forwardRequest(request: UpstreamRequest, options: ForwardOptions): Promise<UpstreamResult> {
    const started = now();
    if (options.timeoutMs <= 0 || options.signal?.aborted || options.cancel?.aborted) {
      return Promise.resolve({ ok: false, reason: 'timeout', detail: 'no time left before the deadline', elapsedMs: 0 });
    }
    return new Promise((resolve) => {
      const { signal, cancel } = options;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const onOuterAbort = () => exchange.stop(new DeadlineExceeded('the deadline of the event ran out'));
      const headers = options.extraHeaders ? withExtraHeaders(request.headers, options.extraHeaders) : request.headers;
      const exchange = startExchange(dispatcherFor(request.origin), request, headers, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES, (err, response) => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onOuterAbort);
        cancel?.removeEventListener('abort', onOuterAbort);
        const elapsedMs = now() - started;
        if (response) resolve({ ok: true, status: response.status, contentType: response.contentType, retryAfter: response.retryAfter, body: response.body, elapsedMs });
        else resolve({ ok: false, ...describeFailure(err), elapsedMs });
      });
      // undici reports a request it refuses (an invalid header value) at once, inside dispatch():
      // then there is nothing left to time or to listen for.
      if (settled) return;
      timer = setTimeout(() => exchange.stop(new DeadlineExceeded(`no reply within ${options.timeoutMs}ms`)), options.timeoutMs);
      signal?.addEventListener('abort', onOuterAbort, { once: true });
      cancel?.addEventListener('abort', onOuterAbort, { once: true });
    });
  };
}

type Exchanged = Omit<UpstreamResponse, 'ok' | 'elapsedMs'>;

/**
 * One request on undici's handler API: the reply's status, the two headers the gateway reads and
 * the body, collected as they arrive. request() would wrap each reply in a Readable stream and an
 * AsyncResource, which cost more than the rest of the exchange on a small reply. `settle` is
 * called once: with the reply, or with why there is none (the reason given to stop() first).
 */
function startExchange(dispatcher: Dispatcher, request: UpstreamRequest, headers: UpstreamRequest['headers'] | string[], limit: number, settle: (err: unknown, response?: Exchanged) => void): { stop: (reason: Error) => void } {
  let abort: ((reason: Error) => void) | undefined;
  let stoppedBy: Error | undefined;
  let settled = false;
  let status = 0;
  let contentType: string | undefined;
  let retryAfter: string | undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  const finish = (err: unknown, response?: Exchanged) => {
    if (settled) return;
    settled = true;
    if (response) settle(undefined, response);
    else settle(stoppedBy ?? err);
  };
  const handler: Dispatcher.DispatchHandler = {
    onConnect(abortRequest) {
      if (stoppedBy) abortRequest(stoppedBy);
      else abort = abortRequest;
    },
    onHeaders(statusCode, rawHeaders) {
      // 1xx replies are interim: the real one follows.
      if (statusCode < 200) return true;
      status = statusCode;
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i]!;
        // Only two headers matter; their lengths rule out the rest without decoding a name.
        if (name.length !== 12 && name.length !== 11) continue;
        const lower = name.toString('latin1').toLowerCase();
        if (lower === 'content-type') contentType ??= rawHeaders[i + 1]!.toString('latin1');
        else if (lower === 'retry-after') retryAfter ??= rawHeaders[i + 1]!.toString('latin1');
      }
      return true;
    },
    onData(chunk) {
      size += chunk.length;
      if (size > limit) {
        stoppedBy ??= new ResponseTooLarge(`reply larger than ${limit} bytes`);
        abort?.(stoppedBy);
        return false;
      }
      chunks.push(chunk);
      return true;
    },
    onComplete() {
      finish(undefined, { status, contentType: contentType ?? '', retryAfter, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    },
    onError: finish,
  };
  dispatcher.dispatch(
    {
      origin: request.origin,
      path: request.path,
      method: request.method as Dispatcher.HttpMethod,
      headers,
      body: request.body ?? null,
      // Our own timer bounds the whole exchange; undici's per-phase timers must not fire first.
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    handler,
  );
  return {
    stop(reason) {
      if (stoppedBy || settled) return;
      stoppedBy = reason;
      // A request still queued for a connection is dropped when it gets one (onConnect); the
      // caller hears now, not then.
      if (abort) abort(reason);
      else finish(reason);
    },
  };
}

/**
 * The request's headers and the extra ones as undici's flat list, which it reads as it is (an
 * object it first turns into a list of keys). An extra header replaces one of the same name.
 */
function withExtraHeaders(headers: Readonly<Record<string, string>>, extra: readonly string[]): string[] {
  const flat: string[] = [];
  for (const name in headers) {
    let replaced = false;
    for (let i = 0; i < extra.length; i += 2) if (extra[i] === name) replaced = true;
    if (!replaced) flat.push(name, headers[name]!);
  }
  for (const value of extra) flat.push(value);
  return flat;
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
