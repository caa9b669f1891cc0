// Every error the gateway answers with, in one table: a stable code, its HTTP status and a
// default message that says what is wrong and what to do. The wire shape is {"error", "message"}.

export const errorTable = {
  GW_ERR_NOT_FOUND: { status: 404, message: 'No such endpoint. POST webhooks to /webhook or /webhook/<assistant>.' },
  GW_ERR_UNKNOWN_ASSISTANT: { status: 404, message: 'No assistant of that name in routes.yaml. Check the name in the webhook URL.' },
  GW_ERR_BODY_TOO_LARGE: { status: 413, message: 'The body is larger than limits.body allows. Raise limits.body in routes.yaml if this payload is expected.' },
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content-Type must be application/json.' },
  GW_ERR_SIGNATURE_MISSING: { status: 401, message: 'No X-Webhook-Signature header. Set a webhook_secret on the assistant (or account) so the platform signs its requests.' },
  GW_ERR_SIGNATURE_INVALID: { status: 401, message: 'X-Webhook-Signature does not match any configured secret. Check that the secret in routes.yaml equals the webhook_secret on the platform.' },
  GW_ERR_TIMESTAMP_INVALID: { status: 401, message: 'X-Webhook-Timestamp is missing or not whole Unix seconds.' },
  GW_ERR_TIMESTAMP_STALE: { status: 401, message: 'X-Webhook-Timestamp is outside security.timestamp_tolerance. Check the clock of this host (NTP).' },
  GW_ERR_NO_SECRET: { status: 401, message: 'This endpoint has no secret configured, so signed requests cannot be verified. Add secrets in routes.yaml.' },
  GW_ERR_INVALID_JSON: { status: 400, message: 'The body is not valid JSON.' },
  GW_ERR_INVALID_ENVELOPE: { status: 400, message: 'The body must be {"message": {"type": "<event>", ...}}.' },
  GW_ERR_EVENT_MISMATCH: { status: 400, message: 'X-Webhook-Event does not match message.type.' },
  GW_ERR_INVALID_TOOL_CALLS: { status: 400, message: 'message.tool_call_list must be a non-empty array of entries that each have an id.' },
  GW_ERR_BAD_REQUEST: { status: 400, message: 'The request could not be read.' },
  GW_ERR_RATE_LIMITED: { status: 429, message: 'Too many webhooks for this assistant; retry after the number of seconds in Retry-After.' },
  GW_ERR_STORE_UNAVAILABLE: { status: 503, message: 'The event could not be stored durably, so it was not accepted. Send it again; GET /readyz says what is wrong.' },
  GW_ERR_INTERNAL: { status: 500, message: 'The gateway failed unexpectedly. See its log for details.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorTable;

/** An error the HTTP layer turns into {"error": code, "message": text} with the table's status. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message?: string) {
    super(message ?? errorTable[code].message);
    this.name = 'GatewayError';
    this.code = code;
    this.statusCode = errorTable[code].status;
  }
}

/** An event over limits.rate: answered 429 with Retry-After. */
export class RateLimited extends GatewayError {
  readonly retryAfterS: number;

  constructor(retryAfterS: number) {
    super('GW_ERR_RATE_LIMITED');
    this.retryAfterS = retryAfterS;
  }
}

export function errorBody(code: ErrorCode, message?: string): { error: ErrorCode; message: string } {
  return { error: code, message: message ?? errorTable[code].message };
}
