// One keep-alive undici Pool per upstream origin, made up front from the route table so the hot
// path never builds one; after a reload, pools no route uses any more close once they drain.

import { Pool, type Dispatcher } from 'undici';

export interface UpstreamPools {
  dispatcherFor(origin: string): Dispatcher;
  /** Opens pools for new origins and closes the others once their requests in flight finish. */
  retain(origins: ReadonlySet<string>): Promise<void>;
  close(): Promise<void>;
}

export function createUpstreamPools(origins: Iterable<string>, options: Pool.Options = {}): UpstreamPools {
  const pools = new Map<string, Pool>();
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
