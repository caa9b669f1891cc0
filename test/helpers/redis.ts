// A real Redis for a test: REDIS_URL when set, else a redis-server started on a free local port
// (no persistence) and stopped at the test's teardown.

import { spawn } from 'node:child_process';
import type { Test } from 'tap';
import { Redis } from 'ioredis';
import { closedPort } from './backend.js';

export async function startRedis(t: Test): Promise<string> {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  const port = await closedPort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  server.once('error', () => undefined);
  t.teardown(async () => {
    server.kill('SIGTERM');
    await exited;
  });
  const url = `redis://127.0.0.1:${port}`;
  // Ready when it answers PING (within a few seconds).
  for (let i = 0; i < 100; i++) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      await client.quit();
      return url;
    } catch {
      client.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('redis-server did not start: install it (apt-get install redis-server) or set REDIS_URL');
}
