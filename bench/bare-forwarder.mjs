// The bare hand-written forwarder the gateway is compared with (issue 6): Fastify 5 + one undici
// Pool. It verifies the HMAC over the raw body (timingSafeEqual) and the timestamp, parses the
// JSON, forwards every tool call concurrently with pool.request, and answers
// {"results": [{tool_call_id, result}]}. Nothing else: no logging, metrics, breakers, ledger,
// replay cache, deadlines or fallbacks. For the benchmark's requests it sends the backend the
// same requests as the gateway (path, JSON arguments, identity headers) and answers the same bytes.
//
// Usage: node bench/bare-forwarder.mjs --secret S --backend http://127.0.0.1:P --tools '{"fast_a":"/d0/fast_a"}' [--port N]
// Prints {"port": N} on stdout when listening; exits when its parent goes away.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { Pool } from 'undici';

const { values } = parseArgs({ options: { secret: { type: 'string' }, backend: { type: 'string' }, tools: { type: 'string' }, port: { type: 'string', default: '0' } } });
const secret = values.secret;
const tools = new Map(Object.entries(JSON.parse(values.tools)));
const pool = new Pool(values.backend, { keepAliveTimeout: 10_000 });
const userAgent = 'hms-tool-router/0.1.0';

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

function verified(request) {
  const timestamp = request.headers['x-webhook-timestamp'];
  const signature = request.headers['x-webhook-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const received = Buffer.from(signature.startsWith('sha256=') ? signature.slice(7) : signature, 'hex');
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(request.body).digest();
  return received.length === expected.length && timingSafeEqual(received, expected);
}

async function callTool(call, callId, assistant) {
  const path = tools.get(call.function.name);
  const { body } = await pool.request({
    path,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': userAgent,
      'x-call-id': callId,
      'x-assistant': assistant,
      'x-tool-call-id': call.id,
      'x-tool-name': call.function.name,
    },
    body: JSON.stringify(call.function.arguments),
  });
  const data = await body.json();
  return { tool_call_id: call.id, result: data.result ?? data };
}

app.post('/webhook/:assistant', async (request, reply) => {
  if (!verified(request)) return reply.code(401).send({ error: 'invalid signature' });
  const { message } = JSON.parse(request.body);
  const results = await Promise.all(message.tool_call_list.map((call) => callTool(call, message.call.id, request.params.assistant)));
  return { results };
});

const address = await app.listen({ port: Number(values.port), host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ port: Number(new URL(address).port) })}\n`);

const stop = () => {
  app.close().then(() => pool.close()).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
