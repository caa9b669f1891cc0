// `hms-tool-router serve`: validate the routes file, listen, stop cleanly on a signal.

import { parseArgs } from 'node:util';
import { ConfigError, formatDiagnostic } from '../config/load.js';
import { handleSignals, startServer } from '../server.js';

/** Resolves with -1 while the server runs (it exits on a signal), or an exit code on failure. */
export async function runServe(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { routes: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nUsage: hms-tool-router serve [--routes FILE] [--port N] [--host H]\n`);
    return 1;
  }
  const routesFile = values.routes ?? process.env.ROUTES_FILE ?? './routes.yaml';
  const portText = values.port ?? process.env.PORT ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be a whole number from 0 to 65535, got "${portText}"\n`);
    return 1;
  }
  const host = values.host ?? process.env.HOST ?? '0.0.0.0';
  try {
    const server = await startServer({ routesFile, port, host });
    handleSignals(server);
    return -1;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.diagnostics.map(formatDiagnostic).join('\n')}\n`);
      return 1;
    }
    process.stderr.write(`hms-tool-router: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
}
