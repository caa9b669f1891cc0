// Runs the gateway: builds the app from a routes file, listens, reloads the routes on SIGHUP or
// when the file changes, and on SIGTERM/SIGINT stops accepting, lets requests in flight finish,
// then exits.

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { parseConfig, readRoutesFile } from './config/load.js';
import { createLogger } from './logging.js';
import { createReloader, type Reloader } from './reload.js';
import { createTracer } from './tracing.js';

export interface ServeOptions {
  routesFile: string;
  port: number;
  host: string;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface RunningServer {
  app: FastifyInstance;
  /** `http://host:port` as bound. */
  address: string;
  reloader: Reloader;
  logger: Logger;
}

/** Loads and validates the config (throws ConfigError), builds the app and listens. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const file = options.routesFile;
  const text = await readRoutesFile(file);
  const { config, warnings } = parseConfig(text, file, env, { lint: true });
  const logger = options.logger ?? createLogger({ level: env.LOG_LEVEL ?? 'info', payloads: config.logging.payloads });
  for (const warning of warnings) logger.warn({ file: warning.file, line: warning.line, col: warning.col }, warning.message);
  const tracer = await createTracer(env);
  const app = await buildApp({ config, logger, tracer });
  const reloader = await createReloader({
    file,
    loadedText: text,
    env,
    logger,
    watch: config.reload.watch,
    apply: (next) => app.gateway.applyConfig(next),
    failed: () => app.gateway.reloadFailed(),
  });
  // No reload is applied once shutdown has begun.
  app.addHook('preClose', async () => reloader.close());
  const address = await app.listen({ port: options.port, host: options.host });
  logger.info({ routes: file, address, tracing: env.OTEL_EXPORTER_OTLP_ENDPOINT ? 'otlp' : 'propagate' }, 'hms-tool-router listening');
  return { app, address, reloader, logger };
}

/** Longest a shutdown may take: every request has a deadline under 10 s and deliveries their timeout. */
const SHUTDOWN_LIMIT_MS = 30_000;
/** How long an exit waits for log lines still being written (the exit hook writes the rest). */
const LOG_FLUSH_LIMIT_MS = 1000;

/**
 * SIGHUP reloads the routes. The first SIGTERM/SIGINT closes the server; a second one, or a
 * shutdown that overruns its limit, exits at once.
 */
export function handleSignals(server: RunningServer, exit: (code: number) => void = process.exit): void {
  const { logger } = server;
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      exit(1);
      return;
    }
    closing = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    setTimeout(() => {
      logger.error({ limit_ms: SHUTDOWN_LIMIT_MS }, 'shutdown is taking too long: exiting');
      exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    // Log lines still being written go out first; a stuck log reader holds the exit a second at most.
    const exitAfterLogs = (code: number) => {
      // Whichever comes first: the lines written, or the limit (exit is called once).
      let exited = false;
      const exitOnce = () => {
        if (exited) return;
        exited = true;
        clearTimeout(limit);
        exit(code);
      };
      const limit = setTimeout(exitOnce, LOG_FLUSH_LIMIT_MS);
      logger.flush(exitOnce);
    };
    server.app.close().then(
      () => {
        logger.info('stopped');
        exitAfterLogs(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exitAfterLogs(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => {
    if (!closing) void server.reloader.reload('SIGHUP');
  });
}
