#!/usr/bin/env node
// The hms-tool-router command: `serve` runs the gateway, `check` validates a routes file.

import { runCheck } from './cli/check.js';
import { runEvents } from './cli/events.js';
import { runServe } from './cli/serve.js';
import { VERSION } from './version.js';

const usage = `Usage: hms-tool-router <command> [options]

Commands:
  serve [--routes FILE] [--port N] [--host H]   run the gateway (env ROUTES_FILE, PORT, HOST;
                                                defaults ./routes.yaml, 8080, 0.0.0.0)
  check [FILE]                                  validate a routes file and print its routes
  events list|retry|purge [...]                 inspect and act on the durable event outbox
                                                (events --help for the options)

Options:
  --help       show this help
  --version    print the version
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'check':
      return runCheck(rest);
    case 'events':
      return runEvents(rest);
    case '--version':
    case '-v':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${usage}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve keeps running until a signal; every other command exits with its code.
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`hms-tool-router: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
