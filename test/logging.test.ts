// The logger's redaction, asserted on whole records as they reach the destination: secrets,
// signatures and auth headers redacted at any depth, phone numbers masked, payloads opt-in.

import Fastify, { LogController } from 'fastify';
import t from 'tap';
import { createLogger, PAYLOAD_KEYS, type LoggerOptions } from '../src/logging.js';

const OMITTED = '[omitted: set logging.payloads: true]';

/** A logger writing into memory; records are the parsed lines without time, pid and hostname. */
function capture(options: Omit<LoggerOptions, 'destination'> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ ...options, destination: { write: (line: string) => void lines.push(line) } });
  const records = () =>
    lines.map((line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      delete record.time;
      delete record.pid;
      delete record.hostname;
      return record;
    });
  return { logger, lines, records };
}

t.test('secrets, signatures, tokens and auth headers are redacted at the top level and at any depth', async (t) => {
  const { logger, records } = capture();
  const fields = {
    call_id: 'c-1',
    secret: 'hunter2',
    signature: 'sha256=0123abcd',
    authorization: 'Bearer top',
    headers: {
      Authorization: 'Bearer abc',
      'proxy-authorization': 'Basic eDp5',
      cookie: 'sid=1',
      'x-api-key': 'k-1',
      'x-webhook-signature': 'sha256=ff',
      'content-type': 'application/json',
    },
    upstream: { url: 'http://crm.internal:3000', headers: { authorization: 'Bearer crm' }, api_key: 'k-2', access_token: 't-1', secrets: ['a', 'b'] },
    targets: [{ name: 'crm', password: 'p' }],
    attempt: 2,
    signed: true,
    nothing: null,
  };
  logger.warn(fields, 'webhook signature rejected');
  t.strictSame(records(), [
    {
      level: 40,
      call_id: 'c-1',
      secret: '[redacted]',
      signature: '[redacted]',
      authorization: '[redacted]',
      headers: {
        Authorization: '[redacted]',
        'proxy-authorization': '[redacted]',
        cookie: '[redacted]',
        'x-api-key': '[redacted]',
        'x-webhook-signature': '[redacted]',
        'content-type': 'application/json',
      },
      upstream: { url: 'http://crm.internal:3000', headers: { authorization: '[redacted]' }, api_key: '[redacted]', access_token: '[redacted]', secrets: '[redacted]' },
      targets: [{ name: 'crm', password: '[redacted]' }],
      attempt: 2,
      signed: true,
      nothing: null,
      msg: 'webhook signature rejected',
    },
  ]);
  t.equal(fields.headers.Authorization, 'Bearer abc', "the caller's object is not modified");
  t.equal(fields.upstream.api_key, 'k-2');
});

t.test('phone numbers are masked in the message, nested strings, arrays and call ids', async (t) => {
  const { logger, records } = capture();
  const numbers = ['+31612345678', 'no number here', { to: '+1 (555) 010-9999' }];
  logger.info(
    { call_id: 'call_+31612345678_x', customer: { number: '+31612345678', name: 'Eva' }, numbers, detail: 'connect ECONNREFUSED 10.0.0.12:3000', ms: 12345678 },
    'call from %s to +31687654321',
    '+442079460958',
  );
  logger.info('plain message for 0612345678');
  t.strictSame(records(), [
    {
      level: 30,
      call_id: 'call_+31*******678_x',
      customer: { number: '+31*******678', name: 'Eva' },
      numbers: ['+31*******678', 'no number here', { to: '+1*******999' }],
      detail: 'connect ECONNREFUSED 10.0.0.12:3000',
      ms: 12345678,
      msg: 'call from +44*******958 to +31*******321',
    },
    { level: 30, msg: 'plain message for *******678' },
  ]);
  t.strictSame(numbers, ['+31612345678', 'no number here', { to: '+1 (555) 010-9999' }], "the caller's array is not modified");
});

t.test('payload fields are omitted by default, at any depth', async (t) => {
  const { logger, records } = capture();
  logger.info(
    {
      call_id: 'c-2',
      tool: 'lookup_contact',
      arguments: { query: 'John', phone: '+31612345678' },
      result: { name: 'John Smith' },
      message: {
        type: 'end-of-call-report',
        transcript: 'AI: Hello. User: call me on 0612345678',
        summary: 'The caller asked for a callback.',
        messages: [{ role: 'user', content: 'hi' }],
        artifact: { recording_url: 'https://rec.example/1' },
        analysis: { success: true },
        tool_call_list: [{ id: 'tc_1', function: { name: 'lookup_contact', arguments: '{"query":"John"}' } }],
      },
    },
    'event received',
  );
  t.strictSame(records(), [
    {
      level: 30,
      call_id: 'c-2',
      tool: 'lookup_contact',
      arguments: OMITTED,
      result: OMITTED,
      message: {
        type: 'end-of-call-report',
        transcript: OMITTED,
        summary: OMITTED,
        messages: OMITTED,
        artifact: OMITTED,
        analysis: OMITTED,
        tool_call_list: [{ id: 'tc_1', function: { name: 'lookup_contact', arguments: OMITTED } }],
      },
      msg: 'event received',
    },
  ]);
});

t.test('every key of PAYLOAD_KEYS is omitted by default and logged with payloads: true', async (t) => {
  t.match(PAYLOAD_KEYS, ['arguments', 'args', 'result', 'results', 'transcript', 'summary', 'messages', 'body', 'payload', 'artifact', 'analysis']);
  const fields = Object.fromEntries(PAYLOAD_KEYS.map((key) => [key, `${key} of +31612345678`]));
  const hidden = capture();
  hidden.logger.info(fields, 'payloads');
  t.strictSame(hidden.records(), [{ level: 30, ...Object.fromEntries(PAYLOAD_KEYS.map((key) => [key, OMITTED])), msg: 'payloads' }]);
  const shown = capture({ payloads: true });
  shown.logger.info(fields, 'payloads');
  t.strictSame(shown.records(), [{ level: 30, ...Object.fromEntries(PAYLOAD_KEYS.map((key) => [key, `${key} of +31*******678`])), msg: 'payloads' }]);
});

t.test('with payloads: true, payloads are logged with phone numbers masked and secrets redacted', async (t) => {
  const { logger, records } = capture({ payloads: true });
  logger.info(
    {
      call_id: 'call_+31612345678_x',
      arguments: { phone: '+31612345678', api_key: 'k', notes: ['call back on +44 20 7946 0958'] },
      result: 'Booked for 2026-12-01 at 10:00.',
      body: { token: 't', transcript: 'my number is 0612345678' },
    },
    'tool call',
  );
  t.strictSame(records(), [
    {
      level: 30,
      call_id: 'call_+31*******678_x',
      arguments: { phone: '+31*******678', api_key: '[redacted]', notes: ['call back on +44*******958'] },
      result: 'Booked for 2026-12-01 at 10:00.',
      body: { token: '[redacted]', transcript: 'my number is *******678' },
      msg: 'tool call',
    },
  ]);
});

t.test("errors keep pino's err serializer, with message, stack and extra fields scrubbed", async (t) => {
  const { logger, records } = capture();
  const err = Object.assign(new Error('lookup failed for +31612345678'), {
    code: 'E_UPSTREAM',
    config: { url: 'http://crm.internal/contacts?phone=+31612345678', headers: { Authorization: 'Bearer s3cret' } },
  });
  err.stack = 'Error: lookup failed for +31612345678\n    at lookup (/srv/app/crm.js:10:5)';
  const nested = new TypeError('bad value +31687654321');
  nested.stack = 'TypeError: bad value +31687654321\n    at parse (/srv/app/parse.js:1:1)';

  logger.error({ err, call_id: 'c-3' }, 'upstream failed');
  logger.error(err);
  logger.warn({ detail: { error: nested } }, 'nested error');

  const serializedErr = {
    type: 'Error',
    message: 'lookup failed for +31*******678',
    stack: 'Error: lookup failed for +31*******678\n    at lookup (/srv/app/crm.js:10:5)',
    code: 'E_UPSTREAM',
    config: { url: 'http://crm.internal/contacts?phone=+31*******678', headers: { Authorization: '[redacted]' } },
  };
  t.strictSame(records(), [
    { level: 50, err: serializedErr, call_id: 'c-3', msg: 'upstream failed' },
    { level: 50, err: serializedErr, msg: 'lookup failed for +31*******678' },
    {
      level: 40,
      detail: { error: { type: 'TypeError', message: 'bad value +31*******321', stack: 'TypeError: bad value +31*******321\n    at parse (/srv/app/parse.js:1:1)' } },
      msg: 'nested error',
    },
  ]);
  t.equal(err.config.headers.Authorization, 'Bearer s3cret', 'the error itself is not modified');
});

t.test('an error cause is serialized by pino and scrubbed with it', async (t) => {
  const { logger, records } = capture();
  const cause = new Error('socket closed by +31612345678');
  cause.stack = 'Error: socket closed by +31612345678';
  const err = new Error('delivery failed', { cause });
  err.stack = 'Error: delivery failed';
  logger.error({ err }, 'delivery failed');
  t.strictSame(records(), [
    {
      level: 50,
      err: { type: 'Error', message: 'delivery failed: socket closed by +31*******678', stack: 'Error: delivery failed\ncaused by: Error: socket closed by +31*******678' },
      msg: 'delivery failed',
    },
  ]);
});

t.test('child bindings are scrubbed, in children of children too', async (t) => {
  const { logger, records } = capture();
  const child = logger.child({ call_id: 'call_+31612345678', token: 't-1' });
  child.info('child line');
  child.child({ from: '+442079460958' }).warn({ to: '+31687654321' }, 'grandchild line');
  t.strictSame(records(), [
    { level: 30, call_id: 'call_+31*******678', token: '[redacted]', msg: 'child line' },
    { level: 40, call_id: 'call_+31*******678', token: '[redacted]', from: '+44*******958', to: '+31*******321', msg: 'grandchild line' },
  ]);
});

t.test("pino's redact paths catch auth headers from a child's own req serializer", async (t) => {
  const { logger, records } = capture();
  const child = logger.child({}, { serializers: { req: (req: { method: string; headers: Record<string, string> }) => ({ method: req.method, headers: req.headers }) } });
  child.info({ req: { method: 'POST', headers: { authorization: 'Bearer x', 'x-webhook-signature': 'sha256=ff', accept: '*/*' } } }, 'request');
  t.strictSame(records(), [{ level: 30, req: { method: 'POST', headers: { authorization: '[redacted]', 'x-webhook-signature': '[redacted]', accept: '*/*' } }, msg: 'request' }]);
});

t.test('a cycle is written as [Circular] instead of failing the line', async (t) => {
  const { logger, records } = capture();
  const node: Record<string, unknown> = { name: 'a' };
  node.self = node;
  logger.info({ node }, 'cycle');
  t.strictSame(records(), [{ level: 30, node: { name: 'a', self: '[Circular]' }, msg: 'cycle' }]);
});

t.test('the level option filters lines', async (t) => {
  const { logger, records } = capture({ level: 'warn' });
  logger.info('dropped');
  logger.warn('kept');
  t.strictSame(records(), [{ level: 40, msg: 'kept' }]);
});

t.test("fastify's request logger keeps the scrubbing (its serializers do not replace ours)", async (t) => {
  const { logger, records } = capture();
  const app = Fastify({ loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) });
  t.teardown(() => app.close());
  app.get('/log', async (request) => {
    const err = new Error('no contact for +31612345678');
    err.stack = 'Error: no contact for +31612345678';
    request.log.warn({ err, headers: { authorization: 'Bearer x' } }, 'from +31612345678');
    return { ok: true };
  });
  const res = await app.inject({ method: 'GET', url: '/log' });
  t.equal(res.statusCode, 200);
  t.strictSame(records(), [
    {
      level: 40,
      reqId: 'req-1',
      err: { type: 'Error', message: 'no contact for +31*******678', stack: 'Error: no contact for +31*******678' },
      headers: { authorization: '[redacted]' },
      msg: 'from +31*******678',
    },
  ]);
});

t.test('pretty: true writes human lines, not JSON, still scrubbed', async (t) => {
  const { logger, lines } = capture({ pretty: true });
  logger.info({ secret: 's', call_id: 'call_+31612345678' }, 'call from +31612345678');
  t.equal(lines.length, 1);
  t.throws(() => JSON.parse(lines[0]!));
  t.match(lines[0], /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: call from \+31\*{7}678\n {4}secret: "\[redacted\]"\n {4}call_id: "call_\+31\*{7}678"\n$/);
});

t.test("pretty: 'auto' with a destination writes JSON (pretty is only for a terminal on stdout)", async (t) => {
  const { logger, lines } = capture({ pretty: 'auto' });
  logger.info('json line');
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]!), { level: 30, msg: 'json line' });
});
