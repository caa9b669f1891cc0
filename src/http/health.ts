// Liveness and readiness: GET /healthz answers while the server listens with a valid config;
// GET /readyz also needs the outbox store to take events, and says why when it cannot.

import type { FastifyPluginAsync } from 'fastify';

export interface HealthPluginOptions {
  /** Why the gateway cannot take events right now, or undefined when it can. */
  problem: () => string | undefined;
}

export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, opts) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const problem = opts.problem();
    if (problem === undefined) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reason: problem });
  });
};
