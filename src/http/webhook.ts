// The webhook endpoints, POST /webhook and POST /webhook/:assistant. Checks run in a fixed order
// (404, 413, 415, 401, 400, 429); the raw body lives only here, is verified, then parsed. Each
// request answers from the routes version its call is pinned to.

import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatched, Inbound } from '../dispatch.js';
import { callIdOf, parseEnvelope, phoneNumberOf } from '../envelope.js';
import { GatewayError, RateLimited } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { replayKey } from '../replay-cache.js';
import type { RouteVersions, RoutesVersion } from '../route-versions.js';
import type { RouteTable, Scope } from '../routing.js';
import { verifySignature } from '../signature.js';
import { NO_ATTRIBUTES, UNRECORDED, type Tracer } from '../trace-context.js';
import { rateBucket, type RateLimitCheck } from './rate-limit.js';

export type Dispatch = (inbound: Inbound) => Promise<Dispatched>;

export interface WebhookPluginOptions {
  versions: RouteVersions<Dispatch>;
  now: () => number;
  metrics: GatewayMetrics;
  tracer: Tracer;
  rateLimit: RateLimitCheck;
}

const unknownAssistant = (request: FastifyRequest) =>
  new GatewayError('GW_ERR_UNKNOWN_ASSISTANT', `No assistant "${(request.params as { assistant?: string }).assistant}" in routes.yaml. Check the name in the webhook URL.`);

const jsonMediaType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The endpoint's scope in a routes version: the named assistant's, or the account's. */
type ScopeOf = (table: RouteTable, request: FastifyRequest) => Scope | undefined;

/** What one request carries from hook to hook. */
export interface InFlight {
  /** The routes in force when it arrived, or (for an assistant a reload removed) an older version that has it. */
  version: RoutesVersion<Dispatch>;
  /** The endpoint's scope in that version. */
  scope: Scope;
  /** True when the assistant exists only in an older version: only its calls in progress may go on. */
  removed: boolean;
  event?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the webhook endpoints' onRequest hook (src/http/webhook.ts). */
    webhookInFlight: InFlight | null;
  }
}

export const webhookPlugin: FastifyPluginAsync<WebhookPluginOptions> = async (app, opts) => {
  const { versions, now, metrics, tracer, rateLimit } = opts;
  // A property every request is built with (fastify keeps request objects one shape): a WeakMap
  // entry per request cost a hash insert and ephemeron work in every garbage collection.
  app.decorateRequest('webhookInFlight', null);

  // Every body arrives as raw bytes, whatever its content type, so the signature is checked over
  // exactly what was sent and a wrong content type still gets the order of checks above.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('onResponse', (request, reply, done) => {
    metrics.webhook(request.webhookInFlight?.event ?? header(request, 'x-webhook-event') ?? 'other', reply.statusCode);
    done();
  });

  const handle = (scopeOf: ScopeOf, accountEndpoint: boolean) => ({
    // Read at start: fastify fixes a route's body limit when the route is registered.
    bodyLimit: versions.current().config.limits.body,
    // A callback hook: an async one costs a promise on every request.
    onRequest: (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
      // A request finishes on the routes it started with, whatever a reload does meanwhile.
      const current = versions.current();
      const scope = scopeOf(current.table, request);
      if (scope) {
        request.webhookInFlight = { version: current, scope, removed: false };
        return done();
      }
      // A reload may have removed the assistant while calls of it are still in progress.
      for (const version of versions.inUse()) {
        const older = scopeOf(version.table, request);
        if (older) {
          request.webhookInFlight = { version, scope: older, removed: true };
          return done();
        }
      }
      done(unknownAssistant(request));
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      // The deadline counts from when the request arrived, not from when its body was read.
      const receivedAt = now() - reply.elapsedTime;
      const state = request.webhookInFlight!;
      const { version: started, scope: endpointScope } = state;
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const contentType = header(request, 'content-type');
      if (contentType === undefined || !jsonMediaType.test(contentType)) {
        throw new GatewayError('GW_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json${contentType ? `, got ${contentType.split(';')[0]}` : ', and none was sent'}.`);
      }
      const { security } = started.config;
      const verdict = verifySignature({
        signature: header(request, 'x-webhook-signature'),
        timestamp: header(request, 'x-webhook-timestamp'),
        body: raw,
        secrets: endpointScope.secrets,
        toleranceMs: security.timestamp_tolerance,
        allowUnsigned: security.allow_unsigned,
        nowMs: receivedAt,
      });
      if (!verdict.ok) {
        request.log.warn({ assistant: endpointScope.assistant, error: verdict.code, reason: verdict.reason }, 'webhook signature rejected');
        throw new GatewayError(verdict.code);
      }
      const envelope = parseEnvelope(raw, header(request, 'x-webhook-event'));
      const event = envelope.message.type;
      state.event = event;

      // A call keeps the routes of its first event (if they know this endpoint; versions are never
      // mixed); a new call of an assistant that a reload removed is refused.
      const callId = callIdOf(envelope);
      const pinned = versions.pinnedFor(callId);
      const pinnedScope = pinned && pinned !== started ? scopeOf(pinned.table, request) : undefined;
      const version = pinnedScope ? pinned! : started;
      if (!pinned && state.removed) throw unknownAssistant(request);
      if (!pinned) versions.pin(callId, version);
      const endpoint = pinnedScope ?? endpointScope;
      // On POST /webhook the assistant may be picked by phone number.
      const scope = (accountEndpoint ? version.table.scopeForPhoneNumber(phoneNumberOf(envelope)) : undefined) ?? endpoint;

      const { rate } = version.config.limits;
      const overLimit = rate === undefined ? undefined : () => rateLimit(request, rate, rateBucket(scope.assistant));

      const incoming = { traceparent: header(request, 'traceparent'), tracestate: header(request, 'tracestate') };
      const span = tracer.recording ? tracer.startWebhook(incoming, `webhook ${event}`, { 'hms.event': event, 'hms.assistant': scope.assistant }) : tracer.startWebhook(incoming, UNRECORDED, NO_ATTRIBUTES);
      const replay = verdict.signed ? replayKey(scope.assistant ?? '', verdict.digest) : undefined;
      let result: Dispatched;
      try {
        result = await version.dispatch({ scope, envelope, raw, receivedAt, replayKey: replay, span, overLimit });
      } catch (err) {
        span.end({ error: (err as Error).message });
        if (err instanceof RateLimited) {
          request.log.warn({ assistant: scope.assistant, event, retry_after_s: err.retryAfterS }, 'webhook rate limited');
          void reply.header('retry-after', String(err.retryAfterS));
        }
        throw err;
      }
      const finishedAt = now();
      const headroomMs = result.deadlineAt !== undefined ? result.deadlineAt - finishedAt : undefined;
      // Already JSON (made once for the reply and the replay cache): sent as is, not serialised
      // again, and before the bookkeeping below, which the platform need not wait for.
      void reply.type('application/json; charset=utf-8').send(result.json);
      if (headroomMs !== undefined) metrics.headroom(event, headroomMs);
      if (span.recording) span.setAttributes({ 'hms.call_id': result.ctx.logId, 'hms.routes_version': version.number });
      span.end({ status: 200 });
      request.log.info(
        {
          call_id: result.ctx.logId,
          event,
          assistant: result.ctx.assistant,
          outcome: result.replayed ? 'replayed' : result.rateLimited ? 'rate_limited' : 'ok',
          ms: finishedAt - receivedAt,
          headroom_ms: headroomMs,
          routes_version: version.number,
          trace_id: span.traceparent.slice(3, 35),
          tools: result.tools,
          // The whole message (transcripts, summaries, arguments) only with logging.payloads: true;
          // undefined is left out of the line (a literal with a spread built the object slowly).
          payload: version.config.logging.payloads ? envelope.message : undefined,
        },
        'webhook answered',
      );
      return reply;
    },
  });

  app.post('/webhook', handle((table) => table.account, true));
  app.post<{ Params: { assistant: string } }>('/webhook/:assistant', handle((table, request) => table.assistants.get((request.params as { assistant: string }).assistant), false));
};
