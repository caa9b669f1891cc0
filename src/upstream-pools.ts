// One keep-alive undici Pool per upstream origin, made up front from the route table so the hot
// path never builds one, and closed together when the gateway stops.

import { Pool, type Dispatcher } from 'undici';

export interface UpstreamPools {
  dispatcherFor(origin: string): Dispatcher;
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
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      pools.clear();
    },
  };
}
