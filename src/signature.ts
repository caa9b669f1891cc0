// The platform's webhook signature: HMAC-SHA256(secret, `${timestamp}.${raw body}`) as lowercase
// hex, optionally prefixed `sha256=`. Verified over the raw bytes, in constant time.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ErrorCode } from './errors.js';

export function signatureHex(secret: string, timestamp: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** Headers that sign `body` the platform's way, with a fresh timestamp, in the `sha256=` form. */
export function signedHeaders(secret: string, body: Buffer | string, nowMs: number): { 'x-webhook-timestamp': string; 'x-webhook-signature': string } {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { 'x-webhook-timestamp': timestamp, 'x-webhook-signature': `sha256=${signatureHex(secret, timestamp, body)}` };
}

export interface VerifyInput {
  signature: string | undefined;
  timestamp: string | undefined;
  body: Buffer;
  secrets: readonly string[];
  toleranceMs: number;
  allowUnsigned: boolean;
  nowMs: number;
}

/** `digest`: the verified signature (hex), which names this exact timestamp and body. */
export type VerifyResult = { ok: true; signed: false } | { ok: true; signed: true; digest: string } | { ok: false; code: ErrorCode; reason: string };

const hexPattern = /^[0-9a-f]{64}$/;
const timestampPattern = /^\d{1,16}$/;

export function verifySignature(input: VerifyInput): VerifyResult {
  const signature = input.signature?.trim() ?? '';
  if (signature === '') {
    if (input.allowUnsigned) return { ok: true, signed: false };
    return { ok: false, code: 'GW_ERR_SIGNATURE_MISSING', reason: 'no X-Webhook-Signature header' };
  }
  if (input.secrets.length === 0) {
    // Even with allow_unsigned: a signature that cannot be checked is not accepted as if it were.
    return { ok: false, code: 'GW_ERR_NO_SECRET', reason: 'a signed request arrived but this endpoint has no secret to verify it with' };
  }
  const timestamp = input.timestamp?.trim() ?? '';
  if (!timestampPattern.test(timestamp)) {
    return { ok: false, code: 'GW_ERR_TIMESTAMP_INVALID', reason: timestamp === '' ? 'no X-Webhook-Timestamp header' : 'X-Webhook-Timestamp is not whole Unix seconds' };
  }
  if (timestamp.length >= 13) {
    return { ok: false, code: 'GW_ERR_TIMESTAMP_INVALID', reason: 'X-Webhook-Timestamp looks like milliseconds; it must be Unix seconds' };
  }
  // Whole seconds on both sides, as the platform's own SDK compares them.
  const skewSeconds = Math.abs(Math.floor(input.nowMs / 1000) - Number(timestamp));
  if (skewSeconds * 1000 > input.toleranceMs) {
    return { ok: false, code: 'GW_ERR_TIMESTAMP_STALE', reason: `timestamp is ${skewSeconds}s away from this host's clock (tolerance ${input.toleranceMs / 1000}s)` };
  }
  const hex = signature.startsWith('sha256=') ? signature.slice(7) : signature;
  if (!hexPattern.test(hex)) {
    return { ok: false, code: 'GW_ERR_SIGNATURE_INVALID', reason: 'signature is not 64 lowercase hex characters (optionally prefixed sha256=)' };
  }
  const received = Buffer.from(hex, 'hex');
  for (const secret of input.secrets) {
    const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(input.body).digest();
    if (timingSafeEqual(expected, received)) return { ok: true, signed: true, digest: hex };
  }
  return { ok: false, code: 'GW_ERR_SIGNATURE_INVALID', reason: `no configured secret matched (tried ${input.secrets.length})` };
}
