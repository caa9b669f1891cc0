// One keep-alive undici Pool per upstream origin, made up front from the route table so the hot
// path never builds one; after a reload, pools no route uses any more close once they drain.

import { createRequire } from 'node:module';
import type { Dispatcher, Pool as UndiciPool } from 'undici';

/**
 * undici's index also loads fetch, WebSocket, EventSource, its caches and mocks: about 100 ms of a
 * ~1 s start on a small VM, and their memory for as long as the process runs. Only Pool is used,
 * so only Pool's module is loaded (the same class the index exports). The index is also what adds
 * request() and stream() to dispatchers: the gateway calls only dispatch() (forward.ts). Should a
 * later undici move the module, the index is loaded instead.
 */
function loadPool(): typeof UndiciPool {
  const require = createRequire(import.meta.url);
  try {
    const Pool: unknown = require('undici/lib/dispatcher/pool.js');
    if (typeof Pool === 'function') return Pool as typeof UndiciPool;
  } catch {
    // moved or renamed: the index below
  }
  return (require('undici') as typeof import('undici')).Pool;
}

export interface UpstreamPools {
  dispatcherFor(origin: string): Dispatcher;
  /** Opens pools for new origins and closes the others once their requests in flight finish. */
  retain(origins: ReadonlySet<string>): Promise<void>;
  close(): Promise<void>;
}

export function createUpstreamPools(origins: Iterable<string>, options: UndiciPool.Options = {}): UpstreamPools {
  const Pool = loadPool();
  const pools = new Map<string, UndiciPool>();
  const make = (origin: string) => {
    const pool = new Pool(origin, { keepAliveTimeout: 10_000, ...options });
    pools.set(origin, pool);
    return pool;
  };
  for (const origin of origins) make(origin);
  return {
    dispatcherFor(origin) {
      return pools.get(origin) ?? make(origin);
    },
    async retain(origins) {
      for (const origin of origins) if (!pools.has(origin)) make(origin);
      const unused = [...pools].filter(([origin]) => !origins.has(origin));
      for (const [origin] of unused) pools.delete(origin);
      // undici's close() lets queued and running requests finish before the sockets close.
      await Promise.all(unused.map(([, pool]) => pool.close()));
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      pools.clear();
    },
  };
}
