// Webhook rate limits (limits.rate) on @fastify/rate-limit's stores: a global bucket and one per
// assistant, counted in memory or, with store.redis, in Redis so every replica shares them.
// The webhook plugin asks after the signature check, so an unsigned flood spends no real budget.

import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config, RateLimitConfig } from '../config/schema.js';

/** Seconds until the request's bucket has room again, or undefined when it may go ahead. */
export type RateLimitCheck = (request: FastifyRequest, rate: NonNullable<Config['limits']['rate']>, bucket: string) => Promise<number | undefined>;

/** The bucket of a webhook: its assistant, or `account` when no assistant matched. */
export const rateBucket = (assistant: string | undefined): string => (assistant === undefined ? 'account' : `assistant:${assistant}`);

export async function installRateLimits(app: FastifyInstance, redis: Redis | undefined): Promise<RateLimitCheck> {
  // No route gets the plugin's own hook (global: false): the webhook handler asks explicitly.
  // A store that fails (Redis down) lets the request through rather than failing a phone call.
  await app.register(fastifyRateLimit, { global: false, skipOnError: true, ...(redis ? { redis, nameSpace: 'hms-tool-router:rate:' } : {}) });
  const asking = new WeakMap<FastifyRequest, { key: string; limit: RateLimitConfig }>();
  const limiter = app.createRateLimit({
    keyGenerator: (request) => asking.get(request)!.key,
    max: (request) => asking.get(request)!.limit.max,
    timeWindow: (request) => asking.get(request)!.limit.window,
  });
  return async (request, rate, bucket) => {
    // The global cap first: a webhook refused by it spends nothing of its assistant's budget.
    const buckets: [string, RateLimitConfig | undefined][] = [
      ['global', rate.global],
      [bucket, rate.per_assistant],
    ];
    for (const [key, limit] of buckets) {
      if (limit === undefined) continue;
      asking.set(request, { key, limit });
      const state = await limiter(request);
      if (!state.isAllowed && state.isExceeded) return Math.max(1, state.ttlInSeconds);
    }
    return undefined;
  };
}
