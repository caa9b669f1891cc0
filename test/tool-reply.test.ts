// normaliseToolReply and interpretJson: which part of a backend's reply becomes the tool-call
// result (results[] → result → error → whole value), by status, content type and body.
import t from 'tap';
import { interpretJson, normaliseToolReply } from '../src/tool-reply.js';

const JSON_TYPE = 'application/json';
const reply = (body: unknown, contentType = JSON_TYPE, status = 200, id: string | number = 'tc_1') =>
  normaliseToolReply(status, contentType, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), id);

t.test('results array: the entry with the matching tool_call_id', async (t) => {
  const results = [
    { tool_call_id: 'tc_0', result: 'zero' },
    { tool_call_id: 'tc_1', result: { total: 12.5, items: ['a'] } },
    { tool_call_id: 'tc_2', error: 'two failed' },
  ];
  t.strictSame(interpretJson({ results }, 'tc_1'), { kind: 'result', value: { total: 12.5, items: ['a'] } });
  t.strictSame(interpretJson({ results }, 'tc_0'), { kind: 'result', value: 'zero' });
  t.strictSame(interpretJson({ results }, 'tc_2'), { kind: 'error', message: 'two failed' });
  // Numeric ids match numerically.
  t.strictSame(interpretJson({ results: [{ tool_call_id: 1, result: 'a' }, { tool_call_id: 2, result: 'b' }] }, 2), { kind: 'result', value: 'b' });
  // `results` wins over a top-level result or error.
  t.strictSame(interpretJson({ results, result: 'top', error: 'top' }, 'tc_1'), { kind: 'result', value: { total: 12.5, items: ['a'] } });
});

t.test('results array: the only entry answers whatever its id', async (t) => {
  t.strictSame(interpretJson({ results: [{ result: 'only' }] }, 'tc_9'), { kind: 'result', value: 'only' });
  t.strictSame(interpretJson({ results: [{ tool_call_id: 'other', result: 'only' }] }, 'tc_9'), { kind: 'result', value: 'only' });
  t.strictSame(interpretJson({ results: [{ tool_call_id: 'tc_9', result: null }] }, 'tc_9'), { kind: 'result', value: null });
  t.strictSame(interpretJson({ results: [{ result: '', error: 'ignored' }] }, 'tc_9'), { kind: 'result', value: '' });
});

t.test('results array: an entry with an error is an error, string word for word, object as JSON', async (t) => {
  t.strictSame(interpretJson({ results: [{ tool_call_id: 'tc_1', error: 'Order 7 does not exist.' }] }, 'tc_1'), { kind: 'error', message: 'Order 7 does not exist.' });
  t.strictSame(interpretJson({ results: [{ tool_call_id: 'tc_1', error: { code: 'E_GONE', detail: 'gone' } }] }, 'tc_1'), {
    kind: 'error',
    message: '{"code":"E_GONE","detail":"gone"}',
  });
  t.strictSame(interpretJson({ results: [{ error: '  spaced  \n' }] }, 'tc_1'), { kind: 'error', message: '  spaced  \n' });
});

t.test('results array without a usable entry fails', async (t) => {
  t.strictSame(interpretJson({ results: [{ tool_call_id: 'a', result: 1 }, { tool_call_id: 'b', result: 2 }] }, 'tc_1'), {
    kind: 'failed',
    detail: 'results has no entry for tool_call_id tc_1',
  });
  t.strictSame(interpretJson({ results: [] }, 'tc_1'), { kind: 'failed', detail: 'results has no entry for tool_call_id tc_1' });
  t.strictSame(interpretJson({ results: ['text'] }, 7), { kind: 'failed', detail: 'results has no entry for tool_call_id 7' });
  t.strictSame(interpretJson({ results: [{ tool_call_id: 'tc_1' }] }, 'tc_1'), { kind: 'failed', detail: 'results entry has neither result nor error' });
  // A string id does not match a numeric one.
  t.strictSame(interpretJson({ results: [{ tool_call_id: 1, result: 'a' }, { tool_call_id: 2, result: 'b' }] }, '1'), {
    kind: 'failed',
    detail: 'results has no entry for tool_call_id 1',
  });
});

t.test('then result, then error', async (t) => {
  t.strictSame(interpretJson({ result: 'It is sunny.' }, 'tc_1'), { kind: 'result', value: 'It is sunny.' });
  t.strictSame(interpretJson({ result: { temp: 21 }, other: 1 }, 'tc_1'), { kind: 'result', value: { temp: 21 } });
  t.strictSame(interpretJson({ result: null }, 'tc_1'), { kind: 'result', value: null });
  t.strictSame(interpretJson({ result: 0 }, 'tc_1'), { kind: 'result', value: 0 });
  t.strictSame(interpretJson({ result: false }, 'tc_1'), { kind: 'result', value: false });
  t.strictSame(interpretJson({ result: [1, 2] }, 'tc_1'), { kind: 'result', value: [1, 2] });
  t.strictSame(interpretJson({ result: 'ok', error: 'not this' }, 'tc_1'), { kind: 'result', value: 'ok' });
  t.strictSame(interpretJson({ error: 'Card declined.' }, 'tc_1'), { kind: 'error', message: 'Card declined.' });
  t.strictSame(interpretJson({ error: '' }, 'tc_1'), { kind: 'error', message: '' });
  t.strictSame(interpretJson({ error: { code: 402, why: ['declined'] } }, 'tc_1'), { kind: 'error', message: '{"code":402,"why":["declined"]}' });
  t.strictSame(interpretJson({ error: 42 }, 'tc_1'), { kind: 'error', message: '42' });
  // A `results` that is not an array is just another field.
  t.strictSame(interpretJson({ results: 'x', result: 'r' }, 'tc_1'), { kind: 'result', value: 'r' });
  t.strictSame(interpretJson({ results: { tc_1: 'x' } }, 'tc_1'), { kind: 'result', value: { results: { tc_1: 'x' } } });
});

t.test('else the whole JSON value', async (t) => {
  t.strictSame(interpretJson({ temp: 21, unit: 'C' }, 'tc_1'), { kind: 'result', value: { temp: 21, unit: 'C' } });
  t.strictSame(interpretJson({}, 'tc_1'), { kind: 'result', value: {} });
  t.strictSame(interpretJson([{ result: 'no' }, 2], 'tc_1'), { kind: 'result', value: [{ result: 'no' }, 2] });
  t.strictSame(interpretJson([], 'tc_1'), { kind: 'result', value: [] });
  t.strictSame(interpretJson(3.5, 'tc_1'), { kind: 'result', value: 3.5 });
  t.strictSame(interpretJson(0, 'tc_1'), { kind: 'result', value: 0 });
  t.strictSame(interpretJson('plain', 'tc_1'), { kind: 'result', value: 'plain' });
  t.strictSame(interpretJson(true, 'tc_1'), { kind: 'result', value: true });
  t.strictSame(interpretJson(null, 'tc_1'), { kind: 'result', value: null });
});

t.test('normaliseToolReply parses JSON content types and applies the precedence', async (t) => {
  for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON', 'application/vnd.x+json', 'application/vnd.api+json; charset=utf-8', 'application/problem+json']) {
    t.strictSame(reply({ result: 'r' }, type), { kind: 'result', value: 'r' }, `${type}: result`);
    t.strictSame(reply({ error: 'e' }, type), { kind: 'error', message: 'e' }, `${type}: error`);
    t.strictSame(reply({ results: [{ tool_call_id: 'tc_1', result: 1 }, { tool_call_id: 'tc_2', result: 2 }] }, type), { kind: 'result', value: 1 }, `${type}: results`);
    t.strictSame(reply([1, 'a'], type), { kind: 'result', value: [1, 'a'] }, `${type}: array`);
    t.strictSame(reply('null', type), { kind: 'result', value: null }, `${type}: null`);
    t.strictSame(reply('"a string"', type), { kind: 'result', value: 'a string' }, `${type}: string`);
    t.strictSame(reply('42', type), { kind: 'result', value: 42 }, `${type}: number`);
  }
  t.strictSame(normaliseToolReply(201, JSON_TYPE, Buffer.from('{"a":{"b":[1]}}'), 'tc_1'), { kind: 'result', value: { a: { b: [1] } } });
  t.strictSame(normaliseToolReply(200, JSON_TYPE, Buffer.from('{"result":"caf\u00e9 \u2615"}'), 'tc_1'), { kind: 'result', value: 'café ☕' });
  t.strictSame(reply({ results: [{ tool_call_id: 5, result: 'five' }, { tool_call_id: 6, result: 'six' }] }, JSON_TYPE, 200, 6), { kind: 'result', value: 'six' });
});

t.test('invalid JSON under a JSON content type fails', async (t) => {
  for (const body of ['{not json', '{"result": "x"', 'undefined', "{'a':1}", '<html></html>']) {
    t.strictSame(reply(body, JSON_TYPE), { kind: 'failed', detail: 'reply is not valid JSON' }, body);
  }
  t.strictSame(reply('{', 'application/problem+json'), { kind: 'failed', detail: 'reply is not valid JSON' });
});

t.test('any other content type is the body as a string', async (t) => {
  t.strictSame(reply('It is 21 degrees.', 'text/plain'), { kind: 'result', value: 'It is 21 degrees.' });
  t.strictSame(reply('It is 21 degrees.', 'text/plain; charset=utf-8'), { kind: 'result', value: 'It is 21 degrees.' });
  t.strictSame(reply('<p>hi</p>', 'text/html'), { kind: 'result', value: '<p>hi</p>' });
  t.strictSame(reply('{"result":"not parsed"}', ''), { kind: 'result', value: '{"result":"not parsed"}' });
  t.strictSame(reply('{"result":"not parsed"}', 'text/plain'), { kind: 'result', value: '{"result":"not parsed"}' });
  t.strictSame(reply('{"result":"x"}', 'text/json'), { kind: 'result', value: '{"result":"x"}' });
  t.strictSame(reply('{"result":"x"}', 'application/jsonp'), { kind: 'result', value: '{"result":"x"}' });
  t.strictSame(reply('{"result":"x"}', 'application/json-seq'), { kind: 'result', value: '{"result":"x"}' });
  t.strictSame(reply('{not json', 'text/plain'), { kind: 'result', value: '{not json' });
  t.strictSame(reply('Grüße', 'text/plain'), { kind: 'result', value: 'Grüße' });
});

t.test('an empty 2xx body is the result "", whatever the content type', async (t) => {
  for (const status of [200, 201, 202, 204, 299]) {
    for (const type of ['', JSON_TYPE, 'application/problem+json', 'text/plain', 'text/html']) {
      t.strictSame(normaliseToolReply(status, type, Buffer.alloc(0), 'tc_1'), { kind: 'result', value: '' }, `${status} ${type || '(none)'}`);
    }
  }
});

t.test('a non-2xx status fails, whatever the body', async (t) => {
  const cases: [number, string, string][] = [
    [500, JSON_TYPE, '{"result":"looks fine"}'],
    [503, 'text/plain', 'down'],
    [404, JSON_TYPE, '{"error":"not found"}'],
    [400, 'application/problem+json', '{"title":"bad"}'],
    [302, '', ''],
    [300, JSON_TYPE, '{}'],
    [199, '', ''],
    [100, '', ''],
  ];
  t.strictSame(
    cases.map(([status, type, body]) => normaliseToolReply(status, type, Buffer.from(body), 'tc_1')),
    cases.map(([status]) => ({ kind: 'failed', detail: `HTTP ${status}` })),
  );
});

t.test('"error": null means no error: the value is a direct result', async (t) => {
  t.strictSame(interpretJson({ error: null, name: 'John' }, 'tc_1'), { kind: 'result', value: { error: null, name: 'John' } });
  t.strictSame(interpretJson({ results: [{ tool_call_id: 'tc_1', error: null }] }, 'tc_1'), { kind: 'failed', detail: 'results entry has neither result nor error' });
});
