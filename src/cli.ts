#!/usr/bin/env node
// The hms-tool-router command: `serve` runs the gateway, `check` validates a routes file, and the
// developer tools `send`, `explain` and `schema` test and document routes without the platform.

import { VERSION } from './version.js';

const usage = `Usage: hms-tool-router <command> [options]

Commands:
  serve [--routes FILE] [--port N] [--host H]   run the gateway (env ROUTES_FILE, PORT, HOST;
                                                defaults ./routes.yaml, 8080, 0.0.0.0)
  check [FILE]                                  validate a routes file and print its routes;
                                                warnings about likely mistakes go to stderr
  send <event> [--tool NAME --args JSON]... [--url URL] [--secret S | --secret-env NAME]
       [--call-id ID] [--from NUMBER] [--to NUMBER] [--file payload.json]
                                                send a webhook signed like the platform's and
                                                print the reply (send --help for the details)
  explain --tool NAME [--assistant A | --to NUMBER] [--routes FILE]
                                                which target a tool call goes to, and why
  schema                                        print the JSON Schema of routes.yaml
  events list|retry|purge [...]                 inspect and act on the durable event outbox
                                                (events --help for the options)

Options:
  --help       show this help
  --version    print the version
`;

// Each command loads only its own modules: `send` and `schema` start without the whole gateway.
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return (await import('./cli/serve.js')).runServe(rest);
    case 'check':
      return (await import('./cli/check.js')).runCheck(rest);
    case 'events':
      return (await import('./cli/events.js')).runEvents(rest);
    case 'send':
      return (await import('./cli/send.js')).runSend(rest);
    case 'explain':
      return (await import('./cli/explain.js')).runExplain(rest);
    case 'schema':
      return (await import('./cli/schema.js')).runSchema(rest);
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

// A reader that stops early (`check | head`) closes the pipe: what is left of the output has
// nowhere to go, which is not the command's failure. It finishes and exits with its own code.
const endOfPipe = new Set(['EPIPE', 'ERR_STREAM_DESTROYED']);
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === undefined || !endOfPipe.has(err.code)) throw err;
});

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
