// A real HTTP backend on 127.0.0.1 port 0 that records every request it receives; closed by the
// test's teardown.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Test } from 'tap';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  text: string;
  json: () => unknown;
}

export type BackendHandler = (req: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

export interface Backend {
  url: string;
  origin: string;
  port: number;
  requests: ReceivedRequest[];
  /** TCP connections open right now (keep-alive ones included). */
  openConnections(): number;
  close(): Promise<void>;
}

export async function startBackend(t: Test, handler: BackendHandler): Promise<Backend> {
  const requests: ReceivedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return;
    }
    const body = Buffer.concat(chunks);
    const received: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body,
      text: body.toString('utf8'),
      json: () => JSON.parse(body.toString('utf8')),
    };
    requests.push(received);
    try {
      await handler(received, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    }
  });
  // Idle keep-alive connections stay until the client closes them (node's default closes them
  // after 5 s), so a test sees when the gateway closes its connections.
  server.keepAliveTimeout = 60_000;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.teardown(close);
  return { url: `http://127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, port, requests, openConnections: () => sockets.size, close };
}

/** Waits `ms`; the timer is unref'd so a slow fake backend never keeps the test process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Answers JSON with the given status after an optional delay. */
export function json(body: unknown, status = 200, delayMs = 0): BackendHandler {
  return async (_req, res) => {
    if (delayMs > 0) await sleep(delayMs);
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
}

/** A port on 127.0.0.1 where nothing listens: a server bound and closed again. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
