// Turns every error and unknown route into {"error": code, "message": text} with the status from
// the error table, and logs the rejection without the request's payload.

import type { FastifyError, FastifyInstance } from 'fastify';
import { errorBody, GatewayError } from '../errors.js';

export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler(async (request, reply) => {
    request.log.info({ method: request.method, url: request.url.split('?')[0], status: 404, error: 'GW_ERR_NOT_FOUND' }, 'request rejected');
    return reply.code(404).send(errorBody('GW_ERR_NOT_FOUND'));
  });

  app.setErrorHandler(async (err: FastifyError | GatewayError, request, reply) => {
    let gatewayError: GatewayError;
    if (err instanceof GatewayError) {
      gatewayError = err;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      gatewayError = new GatewayError('GW_ERR_BODY_TOO_LARGE');
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      gatewayError = new GatewayError('GW_ERR_UNSUPPORTED_MEDIA_TYPE');
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      // A malformed request fastify itself refused (bad content-length, aborted body...).
      gatewayError = new GatewayError('GW_ERR_BAD_REQUEST', `The request could not be read: ${err.message}`);
    } else {
      request.log.error({ err }, 'unexpected failure');
      gatewayError = new GatewayError('GW_ERR_INTERNAL');
    }
    if (gatewayError.statusCode < 500) {
      // The webhook's own line when it is refused: what was refused, why, and how long it took.
      const event = request.headers['x-webhook-event'];
      request.log.info(
        { url: request.url.split('?')[0], event: typeof event === 'string' ? event : undefined, outcome: 'rejected', status: gatewayError.statusCode, error: gatewayError.code, ms: reply.elapsedTime },
        'request rejected',
      );
    }
    return reply.code(gatewayError.statusCode).send(errorBody(gatewayError.code, gatewayError.message));
  });
}
