// The webhook endpoints, POST /webhook and POST /webhook/:assistant. Checks run in a fixed order
// (404, 413, 415, 401, 400); the raw body lives only here, is verified, then parsed.

import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import type { Dispatched, Inbound } from '../dispatch.js';
import { parseEnvelope } from '../envelope.js';
import { GatewayError } from '../errors.js';
import type { RouteTable, Scope } from '../routing.js';
import { replayKey } from '../replay-cache.js';
import { verifySignature } from '../signature.js';

export interface WebhookPluginOptions {
  config: Config;
  table: RouteTable;
  dispatch: (inbound: Inbound) => Promise<Dispatched>;
  now: () => number;
}

const jsonMediaType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export const webhookPlugin: FastifyPluginAsync<WebhookPluginOptions> = async (app, opts) => {
  const { config, table, dispatch, now } = opts;

  // Every body arrives as raw bytes, whatever its content type, so the signature is checked over
  // exactly what was sent and a wrong content type still gets the order of checks above.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const handle = (resolveScope: (request: FastifyRequest) => Scope | undefined, accountEndpoint: boolean) => ({
    bodyLimit: config.limits.body,
    onRequest: async (request: FastifyRequest) => {
      if (!resolveScope(request)) throw new GatewayError('GW_ERR_UNKNOWN_ASSISTANT', `No assistant "${(request.params as { assistant?: string }).assistant}" in routes.yaml. Check the name in the webhook URL.`);
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      // The deadline counts from when the request arrived, not from when its body was read.
      const receivedAt = now() - reply.elapsedTime;
      const scope = resolveScope(request)!;
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const contentType = header(request, 'content-type');
      if (contentType === undefined || !jsonMediaType.test(contentType)) {
        throw new GatewayError('GW_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json${contentType ? `, got ${contentType.split(';')[0]}` : ', and none was sent'}.`);
      }
      const verdict = verifySignature({
        signature: header(request, 'x-webhook-signature'),
        timestamp: header(request, 'x-webhook-timestamp'),
        body: raw,
        secrets: scope.secrets,
        toleranceMs: config.security.timestamp_tolerance,
        allowUnsigned: config.security.allow_unsigned,
        nowMs: receivedAt,
      });
      if (!verdict.ok) {
        request.log.warn({ assistant: scope.assistant, error: verdict.code, reason: verdict.reason }, 'webhook signature rejected');
        throw new GatewayError(verdict.code);
      }
      const envelope = parseEnvelope(raw, header(request, 'x-webhook-event'));
      const replay = verdict.signed ? replayKey(scope.assistant ?? '', header(request, 'x-webhook-timestamp') ?? '', raw) : undefined;
      const result = await dispatch({ scope, accountEndpoint, envelope, raw, receivedAt, replayKey: replay });
      const finishedAt = now();
      request.log.info(
        {
          call_id: result.ctx.logId,
          event: result.ctx.event,
          assistant: result.ctx.assistant,
          outcome: result.replayed ? 'replayed' : 'ok',
          ms: finishedAt - receivedAt,
          headroom_ms: result.deadlineAt !== undefined ? result.deadlineAt - finishedAt : undefined,
        },
        'webhook answered',
      );
      return result.body;
    },
  });

  app.post('/webhook', handle(() => table.account, true));
  app.post<{ Params: { assistant: string } }>('/webhook/:assistant', handle((request) => table.assistants.get((request.params as { assistant: string }).assistant), false));
};
