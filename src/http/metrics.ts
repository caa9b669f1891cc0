// GET /metrics: the registry in Prometheus text format, the one reply that is not JSON.

import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export const metricsPlugin: FastifyPluginAsync<{ registry: Registry }> = async (app, { registry }) => {
  app.get('/metrics', async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
};
