// Builds the gateway as a fastify instance from a validated config, without listening: routes
// versions (reloadable), connection pools, forwarder, durable outbox, metrics, tracing and the
// HTTP plugins, wired together. `app.gateway` applies a new config to the running app.

import { createRequire } from 'node:module';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { createDispatcher } from './dispatch.js';
import { errorBody } from './errors.js';
import type { EventDelivery } from './events/delivery.js';
import { createOutbox } from './events/outbox.js';
import { openOutboxStore, type OutboxStore } from './events/outbox-store.js';
import { createForwarder } from './forward.js';
import { installErrorHandling } from './http/error-handler.js';
import { healthPlugin } from './http/health.js';
import { metricsPlugin } from './http/metrics.js';
import { installRateLimits } from './http/rate-limit.js';
import { webhookPlugin, type Dispatch } from './http/webhook.js';
import { createLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { createRouteVersions, type RouteVersions } from './route-versions.js';
import { buildRouteTable } from './routing.js';
import { createMemoryState } from './state/memory-store.js';
import { createPropagatingTracer, type Tracer } from './trace-context.js';
import { createHealthRegistry } from './upstream-health.js';
import { createUpstreamPools } from './upstream-pools.js';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** Milliseconds since the epoch; tests pass a fixed clock for signatures. */
  now?: () => number;
  /** Replaces the durable outbox (tests of the webhook path that need no store). */
  delivery?: EventDelivery & { problem?: () => string | undefined; counts?: () => { pending: number; dead: number } | undefined };
  /** W3C propagation by default; server.ts passes an OpenTelemetry exporter when configured. */
  tracer?: Tracer;
}

/** What the running app offers besides HTTP: hot reload of routes.yaml. */
export interface GatewayControl {
  /** Makes a validated config the routes for new calls; calls in progress keep theirs. Returns the new version. */
  applyConfig(config: Config): number;
  /** Counts a reload that was refused (invalid or unreadable file). */
  reloadFailed(): void;
  version(): number;
}

declare module 'fastify' {
  interface FastifyInstance {
    gateway: GatewayControl;
  }
}

/** Keys read once at start: a reload that changes them says so, and they apply after a restart. */
const RESTART_KEYS = ['store', 'delivery', 'logging'] as const;
/** Unused pools close once no version in use needs them; pins expire, so look again now and then. */
const POOL_SWEEP_MS = 60_000;

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
  const logger = options.logger ?? createLogger({ payloads: config.logging.payloads });
  const now = options.now ?? Date.now;
  const tracer = options.tracer ?? createPropagatingTracer();

  // Opened for the first version's origins below, once its route table is built (once).
  const pools = createUpstreamPools([]);
  const forward = createForwarder(pools.dispatcherFor, now);
  const health = createHealthRegistry(config, now);
  // Several replicas share the ledger, replay cache, per-call counters and rate limits through Redis.
  // ioredis is loaded only when used: it costs memory and start time otherwise.
  const shared =
    config.store.redis !== undefined
      ? (await import('./state/redis-store.js')).createRedisState(config.store.redis, (err) => logger.warn({ reason: err.message }, 'redis connection problem'))
      : createMemoryState();

  const delivery =
    options.delivery ??
    createOutbox({
      store: openStore(config.store.path),
      // A stored delivery's target comes from the routes in force when it is sent. (The outbox
      // first looks one up on a timer, after `versions` below exists.)
      resolveTarget: (id) => versions.current().table.targets.get(id),
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

  const metrics = createMetrics({ breakerStates: () => health.states(), outboxCounts: () => delivery.counts?.() });
  const versions: RouteVersions<Dispatch> = createRouteVersions<Dispatch>(config, (versionConfig, number) => {
    const table = buildRouteTable(versionConfig);
    return { number, config: versionConfig, table, dispatch: createDispatcher({ config: versionConfig, table, forward, now, logger, delivery, health, shared, metrics }) };
  });
  void pools.retain(versions.current().table.origins);
  metrics.configVersion(1);

  let closing = false;
  const releaseUnusedPools = () => {
    const origins = new Set<string>();
    for (const version of versions.inUse()) for (const origin of version.table.origins) origins.add(origin);
    pools.retain(origins).catch((err: unknown) => logger.warn({ reason: (err as Error).message }, 'closing an unused upstream pool failed'));
  };
  const sweep = setInterval(releaseUnusedPools, Math.max(1000, Math.min(POOL_SWEEP_MS, config.reload.pin_calls / 4))).unref();

  const app = Fastify({
    // No route declares a schema, so fastify's validator and serializer compilers (ajv and
    // fast-json-stringify) are loaded only if one ever does: tens of milliseconds off every start.
    schemaController: { compilersFactory: lazySchemaCompilers() },
    loggerInstance: logger as FastifyBaseLogger,
    // The webhook plugin logs one line per webhook itself, with the call's fields and no payload.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.limits.body,
    // Idle keep-alive sockets close at once on shutdown; requests in flight still finish.
    forceCloseConnections: 'idle',
    // A webhook that still arrives on an open connection during shutdown is answered (its reply
    // closes the connection): a phone call is better served than refused. /readyz says 503.
    return503OnClosing: false,
    // A URL fastify cannot even route (a broken percent-escape) still gets the gateway's shape.
    frameworkErrors: (error, request, reply) => {
      request.log.info({ status: 400, error: 'GW_ERR_BAD_REQUEST', reason: error.message }, 'request rejected');
      void (reply as FastifyReply).code(400).send(errorBody('GW_ERR_BAD_REQUEST', 'The request URL could not be read. POST webhooks to /webhook or /webhook/<assistant>.'));
    },
  });
  app.decorate('gateway', {
    applyConfig(next: Config): number {
      const running = versions.current().config;
      const needRestart = [...RESTART_KEYS, 'limits.body' as const].filter((key) =>
        key === 'limits.body' ? next.limits.body !== running.limits.body : JSON.stringify(next[key]) !== JSON.stringify(config[key]),
      );
      if (needRestart.length > 0) logger.warn({ keys: needRestart }, 'these settings changed and take effect at the next restart');
      health.reconfigure(next);
      // Read-at-start settings stay as they were started, in every version, until a restart.
      const version = versions.apply({ ...next, logging: config.logging, store: config.store, delivery: config.delivery, limits: { ...next.limits, body: config.limits.body } });
      metrics.configVersion(version.number);
      releaseUnusedPools();
      return version.number;
    },
    reloadFailed: () => metrics.reloadFailed(),
    version: () => versions.current().number,
  } satisfies GatewayControl);

  installErrorHandling(app);
  const rateLimit = await installRateLimits(app, shared.redis);
  await app.register(healthPlugin, {
    problems: () => {
      const reasons: string[] = [];
      if (closing) reasons.push('shutting down: finishing requests in flight');
      const problem = storeProblem();
      if (problem !== undefined) reasons.push(problem);
      return reasons;
    },
  });
  await app.register(metricsPlugin, { registry: metrics.registry });
  await app.register(webhookPlugin, { versions, now, metrics, tracer, rateLimit });

  // Once shutdown starts, replies to requests still in flight close their keep-alive socket, so
  // close() does not wait for idle clients to hang up.
  app.addHook('preClose', async () => {
    closing = true;
  });
  // A callback hook: an async one costs a promise on every reply.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onClose', async () => {
    clearInterval(sweep);
    await delivery.close();
    await pools.close();
    await shared.close();
    await tracer.close();
  });

  if (config.security.allow_unsigned) {
    logger.warn('security.allow_unsigned is on: unsigned webhooks are accepted. Use this for local development only.');
  }
  return app;
}

/** fastify's own default compilers, required from fastify's location the first time one is needed. */
function lazySchemaCompilers() {
  const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));
  type Factory = (...args: unknown[]) => unknown;
  const lazily = (module: string) => {
    let factory: Factory | undefined;
    return (...args: unknown[]) => (factory ??= (fastifyRequire(module) as () => Factory)())(...args);
  };
  return { buildValidator: lazily('@fastify/ajv-compiler'), buildSerializer: lazily('@fastify/fast-json-stringify-compiler') } as never;
}
