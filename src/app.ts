// Builds the gateway as a fastify instance from a validated config, without listening: the
// route table, connection pools, forwarder, event delivery and HTTP plugins, wired together.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Config } from './config/schema.js';
import { createDispatcher } from './dispatch.js';
import { errorBody } from './errors.js';
import { createBestEffortDelivery, type EventDelivery } from './events/delivery.js';
import { createForwarder } from './forward.js';
import { installErrorHandling } from './http/error-handler.js';
import { healthPlugin } from './http/health.js';
import { webhookPlugin } from './http/webhook.js';
import { buildRouteTable } from './routing.js';
import { createHealthRegistry } from './upstream-health.js';
import { createUpstreamPools } from './upstream-pools.js';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** Milliseconds since the epoch; tests pass a fixed clock for signatures. */
  now?: () => number;
  /** Replaces best-effort event delivery (the durable outbox plugs in here). */
  delivery?: EventDelivery;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const logger = options.logger ?? pino({ level: 'info' });
  const now = options.now ?? Date.now;

  const table = buildRouteTable(config);
  const pools = createUpstreamPools(table.origins);
  const forward = createForwarder(pools.dispatcherFor, now);
  const delivery = options.delivery ?? createBestEffortDelivery({ forward, now, logger });
  const health = createHealthRegistry(config, now);
  const dispatch = createDispatcher({ config, table, forward, now, logger, delivery, health });

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // The webhook plugin logs one line per webhook itself, with the call's fields and no payload.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.limits.body,
    // Idle keep-alive sockets close at once on shutdown; requests in flight still finish.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // A URL fastify cannot even route (a broken percent-escape) still gets the gateway's shape.
    frameworkErrors: (error, request, reply) => {
      request.log.info({ status: 400, error: 'GW_ERR_BAD_REQUEST', reason: error.message }, 'request rejected');
      void (reply as FastifyReply).code(400).send(errorBody('GW_ERR_BAD_REQUEST', 'The request URL could not be read. POST webhooks to /webhook or /webhook/<assistant>.'));
    },
  });
  installErrorHandling(app);
  await app.register(healthPlugin);
  await app.register(webhookPlugin, { config, table, dispatch, now });

  // Once shutdown starts, replies to requests still in flight close their keep-alive socket, so
  // close() does not wait for idle clients to hang up.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onClose', async () => {
    await delivery.close();
    await pools.close();
  });

  if (config.security.allow_unsigned) {
    logger.warn('security.allow_unsigned is on: unsigned webhooks are accepted. Use this for local development only.');
  }
  return app;
}
