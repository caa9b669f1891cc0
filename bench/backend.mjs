// The benchmark's backend, in its own process: answers every POST with a small JSON
// {"result": {...}} once the request body is read, after the delay its path names:
// /d0/<tool> at once, /d20/<tool> after 20 ms, /d5000/<tool> after 5 s. Loopback only.
// Prints {"port": N} on stdout when listening; exits when its parent goes away.

import { createServer } from 'node:http';
import { backendReply } from './lib.mjs';

const replies = new Map();
function replyFor(url) {
  let reply = replies.get(url);
  if (!reply) {
    const body = Buffer.from(JSON.stringify(backendReply(url)));
    reply = { body, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } };
    if (replies.size < 50_000) replies.set(url, reply);
  }
  return reply;
}

const server = createServer((req, res) => {
  const delay = Number(/^\/d(\d+)\//.exec(req.url)?.[1] ?? 0);
  const answer = () => {
    const { body, headers } = replyFor(req.url);
    res.writeHead(200, headers).end(body);
  };
  req.on('data', () => undefined);
  req.on('end', () => (delay > 0 ? setTimeout(answer, delay) : answer()));
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.maxRequestsPerSocket = 0;

// A large accept backlog: the memory check opens 2,000 connections at once (Node's default is 511).
server.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
