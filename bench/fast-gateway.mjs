// fast-gateway (a Node API gateway: restana + fast-proxy-lite), the other reference point of issue
// 6: it proxies each webhook as it is to the backend, one upstream request per webhook, and does
// nothing else (no signature check, parsing, routing by tool, aggregation or logging). The
// benchmark compares it with the gateway on 1-tool webhooks, where both make one upstream request.
//
// Usage: node bench/fast-gateway.mjs --backend http://127.0.0.1:P --path /d0/fast_a [--port N]
// Prints {"port": N} on stdout when listening; exits when its parent goes away.

import { parseArgs } from 'node:util';
import gateway from 'fast-gateway';

const { values } = parseArgs({ options: { backend: { type: 'string' }, path: { type: 'string' }, port: { type: 'string', default: '0' } } });

// POST /webhook/<assistant> -> POST <backend><path>/<assistant>: the backend answers by path.
const server = gateway({ routes: [{ prefix: '/webhook', prefixRewrite: values.path, target: values.backend }] });
const listening = await server.start(Number(values.port), '127.0.0.1');
process.stdout.write(`${JSON.stringify({ port: listening.address().port })}\n`);

const stop = () => {
  listening.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
