import t from 'tap';
import { signatureHex, signedHeaders, verifySignature, type VerifyInput } from '../src/signature.js';

const body = Buffer.from('{"message":{"type":"tool-calls"}}');
const now = 1_765_000_000_000;
const ts = String(now / 1000);
const KNOWN = 'fabed7ff7b1f08e173162ef418465d9e2b52937b719ea6e6ecf1a5346dcd8e85';
const base: VerifyInput = { signature: undefined, timestamp: ts, body, secrets: ['s1'], toleranceMs: 300_000, allowUnsigned: false, nowMs: now };

t.test('matches the platform scheme: HMAC-SHA256 hex over "<ts>.<raw body>"', async (t) => {
  // Known answer computed independently with: printf '%s' '1765000000.{"message":{"type":"tool-calls"}}' | openssl dgst -sha256 -hmac s1
  t.equal(signatureHex('s1', ts, body), KNOWN);
  t.equal(signatureHex('s1', ts, body.toString()), KNOWN);
  t.match(signatureHex('s1', ts, body), /^[0-9a-f]{64}$/);
  t.strictSame(signedHeaders('s1', body, now), { 'x-webhook-timestamp': ts, 'x-webhook-signature': `sha256=${signatureHex('s1', ts, body)}` });
});

t.test('accepts the sha256= form and the bare hex form', async (t) => {
  const hex = signatureHex('s1', ts, body);
  t.strictSame(verifySignature({ ...base, signature: `sha256=${hex}` }), { ok: true, signed: true, digest: hex });
  t.strictSame(verifySignature({ ...base, signature: hex }), { ok: true, signed: true, digest: hex });
});

t.test('any secret of a rotation may match', async (t) => {
  const hex = signatureHex('new', ts, body);
  t.strictSame(verifySignature({ ...base, secrets: ['old', 'new'], signature: hex }), { ok: true, signed: true, digest: hex });
  t.match(verifySignature({ ...base, secrets: ['old', 'other'], signature: hex }), { ok: false, code: 'GW_ERR_SIGNATURE_INVALID' });
});

t.test('rejects a signature over other bytes, uppercase hex, or the wrong length', async (t) => {
  const hex = signatureHex('s1', ts, body);
  t.match(verifySignature({ ...base, signature: signatureHex('s1', ts, Buffer.from('{}')) }), { ok: false, code: 'GW_ERR_SIGNATURE_INVALID' });
  t.match(verifySignature({ ...base, signature: hex.toUpperCase() }), { ok: false, code: 'GW_ERR_SIGNATURE_INVALID' });
  t.match(verifySignature({ ...base, signature: hex.slice(2) }), { ok: false, code: 'GW_ERR_SIGNATURE_INVALID' });
});

t.test('missing, empty and unsigned', async (t) => {
  t.match(verifySignature({ ...base, signature: undefined }), { ok: false, code: 'GW_ERR_SIGNATURE_MISSING' });
  t.match(verifySignature({ ...base, signature: '' }), { ok: false, code: 'GW_ERR_SIGNATURE_MISSING' });
  t.strictSame(verifySignature({ ...base, signature: '', allowUnsigned: true }), { ok: true, signed: false });
  // allow_unsigned still refuses a wrong signature.
  t.match(verifySignature({ ...base, signature: 'sha256=' + '0'.repeat(64), allowUnsigned: true }), { ok: false, code: 'GW_ERR_SIGNATURE_INVALID' });
  t.match(verifySignature({ ...base, secrets: [], signature: signatureHex('s1', ts, body) }), { ok: false, code: 'GW_ERR_NO_SECRET' });
});

t.test('timestamp: whole seconds, within tolerance in both directions', async (t) => {
  const sig = (stamp: string) => signatureHex('s1', stamp, body);
  t.match(verifySignature({ ...base, timestamp: undefined, signature: sig('') }), { ok: false, code: 'GW_ERR_TIMESTAMP_INVALID' });
  t.match(verifySignature({ ...base, timestamp: `${ts}.5`, signature: sig(`${ts}.5`) }), { ok: false, code: 'GW_ERR_TIMESTAMP_INVALID' });
  t.match(verifySignature({ ...base, timestamp: String(now), signature: sig(String(now)) }), { ok: false, code: 'GW_ERR_TIMESTAMP_INVALID', reason: /milliseconds/ });
  const old = String(now / 1000 - 301);
  const future = String(now / 1000 + 301);
  const edge = String(now / 1000 - 300);
  t.match(verifySignature({ ...base, timestamp: old, signature: sig(old) }), { ok: false, code: 'GW_ERR_TIMESTAMP_STALE', reason: /301s away/ });
  t.match(verifySignature({ ...base, timestamp: future, signature: sig(future) }), { ok: false, code: 'GW_ERR_TIMESTAMP_STALE' });
  t.strictSame(verifySignature({ ...base, timestamp: edge, signature: sig(edge) }), { ok: true, signed: true, digest: sig(edge) });
});
