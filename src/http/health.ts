// Liveness and readiness: GET /healthz answers while the process serves HTTP; GET /readyz also
// needs the routes loaded and the outbox store able to take events, and lists what is wrong.

import type { FastifyPluginAsync } from 'fastify';

export interface HealthPluginOptions {
  /** Everything that keeps the gateway from serving fully right now; empty when ready. */
  problems: () => string[];
}

export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, opts) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reasons = opts.problems();
    if (reasons.length === 0) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reasons });
  });
};
