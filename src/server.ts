// Runs the gateway: builds the app from a routes file, listens, and on SIGTERM/SIGINT stops
// accepting, lets requests in flight finish, then exits.

import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { buildApp } from './app.js';
import { loadConfigFile } from './config/load.js';

export interface ServeOptions {
  routesFile: string;
  port: number;
  host: string;
  logger?: Logger;
}

export interface RunningServer {
  app: FastifyInstance;
  /** `http://host:port` as bound. */
  address: string;
}

/** Loads and validates the config (throws ConfigError), builds the app and listens. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const { config, warnings } = await loadConfigFile(options.routesFile);
  for (const warning of warnings) logger.warn({ file: warning.file, line: warning.line, col: warning.col }, warning.message);
  const app = await buildApp({ config, logger });
  const address = await app.listen({ port: options.port, host: options.host });
  logger.info({ routes: options.routesFile, address }, 'hms-tool-router listening');
  return { app, address };
}

/** Closes the server on the first SIGTERM/SIGINT; a second one exits at once. */
export function closeOnSignals(server: RunningServer, logger: Logger, exit: (code: number) => void = process.exit): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      exit(1);
      return;
    }
    closing = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    server.app.close().then(
      () => {
        logger.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
