// Builds the gateway as a fastify instance from a validated config, without listening: the
// route table, connection pools, forwarder, durable outbox and HTTP plugins, wired together.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Config } from './config/schema.js';
import { createDispatcher } from './dispatch.js';
import { errorBody } from './errors.js';
import type { EventDelivery } from './events/delivery.js';
import { createOutbox } from './events/outbox.js';
import { openOutboxStore, type OutboxStore } from './events/outbox-store.js';
import { createForwarder } from './forward.js';
import { installErrorHandling } from './http/error-handler.js';
import { healthPlugin } from './http/health.js';
import { webhookPlugin } from './http/webhook.js';
import { buildRouteTable } from './routing.js';
import { createMemoryState } from './state/memory-store.js';
import { createRedisState } from './state/redis-store.js';
import { createHealthRegistry } from './upstream-health.js';
import { createUpstreamPools } from './upstream-pools.js';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** Milliseconds since the epoch; tests pass a fixed clock for signatures. */
  now?: () => number;
  /** Replaces the durable outbox (tests of the webhook path that need no store). */
  delivery?: EventDelivery & { problem?: () => string | undefined };
}

/** Opens the outbox store, or says why it cannot: the gateway then still serves tool calls. */
function openStore(path: string): OutboxStore | Error {
  try {
    return openOutboxStore(path);
  } catch (err) {
    return err as Error;
  }
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const logger = options.logger ?? pino({ level: 'info' });
  const now = options.now ?? Date.now;

  const table = buildRouteTable(config);
  const pools = createUpstreamPools(table.origins);
  const forward = createForwarder(pools.dispatcherFor, now);
  const delivery =
    options.delivery ??
    createOutbox({
      store: openStore(config.store.path),
      resolveTarget: (id) => table.targets.get(id),
      forward,
      now,
      logger,
      settings: {
        initialMs: config.delivery.retry.initial,
        maxMs: config.delivery.retry.max,
        maxAttempts: config.delivery.retry.max_attempts,
        maxAgeMs: config.delivery.retry.max_age,
        concurrency: config.delivery.concurrency,
        pollMs: 500,
        retentionMs: config.store.retention,
      },
    });
  const storeProblem = () => delivery.problem?.();
  if (storeProblem()) logger.error({ reason: storeProblem() }, 'events will be refused with 503 until the outbox store can be opened; tool calls are still served');
  const health = createHealthRegistry(config, now);
  // Several replicas share the ledger, replay cache and per-call counters through Redis.
  const shared = config.store.redis !== undefined ? createRedisState(config.store.redis, (err) => logger.warn({ reason: err.message }, 'redis connection problem')) : createMemoryState();
  const dispatch = createDispatcher({ config, table, forward, now, logger, delivery, health, shared });

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
  await app.register(healthPlugin, { problem: storeProblem });
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
    await shared.close();
  });

  if (config.security.allow_unsigned) {
    logger.warn('security.allow_unsigned is on: unsigned webhooks are accepted. Use this for local development only.');
  }
  return app;
}
