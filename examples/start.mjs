// `npm start`: the example backends plus the gateway on the shipped routes.yaml, in one command.
// Stops both on Ctrl-C. Needs `npm run build` first (npm start does it).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBackends } from './backends.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const backends = await startBackends();
process.stdout.write(`example backends listening: ${Object.values(backends.urls).join(', ')}\n`);

const port = process.env.PORT ?? '8080';
const gateway = spawn(process.execPath, ['dist/cli.js', 'serve', '--routes', process.env.ROUTES_FILE ?? 'routes.yaml', '--port', port, '--host', process.env.HOST ?? '127.0.0.1'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CRM_URL: backends.urls.crm, CALENDAR_URL: backends.urls.calendar, ORDERS_URL: backends.urls.orders },
});
process.stdout.write(`gateway starting on http://127.0.0.1:${port} — send a signed tool call with: bash examples/send-tool-call.sh\n`);

const stop = (signal) => gateway.kill(signal);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
gateway.on('exit', async (code) => {
  await backends.close();
  process.exit(code ?? 0);
});
