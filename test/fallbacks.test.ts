// Spoken fallbacks: fallbackSet for each config shape, mergeFallbacks per reason, the built-in
// sentences, and createFallbackPicker (result vs error, overrides, rotation per call id).
import t from 'tap';
import { builtInFallback, createFallbackPicker, fallbackSet, mergeFallbacks, spokenName } from '../src/fallbacks.js';

t.test('fallbackSet: nothing configured', async (t) => {
  t.strictSame(fallbackSet(undefined), {});
});

t.test('fallbackSet: a plain string covers timeout, unavailable and error only', async (t) => {
  t.strictSame(fallbackSet('One moment, that did not work.'), {
    timeout: ['One moment, that did not work.'],
    unavailable: ['One moment, that did not work.'],
    error: ['One moment, that did not work.'],
  });
});

t.test('fallbackSet: a plain list covers timeout, unavailable and error only', async (t) => {
  t.strictSame(fallbackSet(['First try.', 'Second try.']), {
    timeout: ['First try.', 'Second try.'],
    unavailable: ['First try.', 'Second try.'],
    error: ['First try.', 'Second try.'],
  });
});

t.test('fallbackSet: a map per reason, strings made into lists, absent reasons left out', async (t) => {
  t.strictSame(fallbackSet({ timeout: 'Slow.', rate_limited: ['Enough.', 'Really enough.'], invalid_arguments: 'Say again?' }), {
    timeout: ['Slow.'],
    invalid_arguments: ['Say again?'],
    rate_limited: ['Enough.', 'Really enough.'],
  });
  t.strictSame(fallbackSet({}), {});
  t.strictSame(fallbackSet({ timeout: 'a', unavailable: 'b', error: 'c', invalid_arguments: 'd', rate_limited: 'e' }), {
    timeout: ['a'],
    unavailable: ['b'],
    error: ['c'],
    invalid_arguments: ['d'],
    rate_limited: ['e'],
  });
});

t.test('mergeFallbacks: the tool per reason, else the defaults for that reason', async (t) => {
  const tool = fallbackSet({ timeout: 'Tool timeout.', error: ['Tool error 1.', 'Tool error 2.'] });
  const defaults = fallbackSet({ timeout: 'Default timeout.', unavailable: 'Default unavailable.', rate_limited: 'Default rate.' });
  t.strictSame(mergeFallbacks(tool, defaults), {
    timeout: ['Tool timeout.'],
    unavailable: ['Default unavailable.'],
    error: ['Tool error 1.', 'Tool error 2.'],
    rate_limited: ['Default rate.'],
  });
  t.strictSame(mergeFallbacks({}, {}), {});
  t.strictSame(mergeFallbacks({}, defaults), defaults);
  t.strictSame(mergeFallbacks(tool, {}), tool);
  // A tool's plain sentence replaces the defaults' backend-failure sentences but not the others.
  t.strictSame(mergeFallbacks(fallbackSet('Tool says no.'), fallbackSet({ timeout: 'D1.', invalid_arguments: 'D2.' })), {
    timeout: ['Tool says no.'],
    unavailable: ['Tool says no.'],
    error: ['Tool says no.'],
    invalid_arguments: ['D2.'],
  });
});

t.test('spokenName', async (t) => {
  t.equal(spokenName('book_appointment'), 'book appointment');
  t.equal(spokenName('getWeather'), 'get weather');
  t.equal(spokenName('order-status.v2'), 'order status v2');
  t.equal(spokenName('___'), 'tool');
});

t.test('builtInFallback: the exact sentences', async (t) => {
  t.equal(builtInFallback('timeout', 'book_appointment'), 'The book appointment service did not answer in time.');
  t.equal(builtInFallback('unavailable', 'book_appointment'), 'The book appointment service is not reachable right now.');
  t.equal(builtInFallback('error', 'book_appointment'), 'The book appointment service could not handle this request.');
  t.equal(builtInFallback('invalid_arguments', 'book_appointment'), 'Some details for book appointment are missing or wrong.');
  t.equal(builtInFallback('rate_limited', 'book_appointment'), "The book appointment service has been asked too often on this call; let's continue without it.");
  t.equal(builtInFallback('timeout', 'getWeather'), 'The get weather service did not answer in time.');
});

t.test('picker: a configured sentence is a result; none configured is the built-in as error', async (t) => {
  const pick = createFallbackPicker();
  const set = fallbackSet('Let me check that again in a moment.');
  t.strictSame(pick(set, 'timeout', 'get_weather', 'call-1'), { result: 'Let me check that again in a moment.' });
  t.strictSame(pick(set, 'unavailable', 'get_weather', undefined), { result: 'Let me check that again in a moment.' });
  t.strictSame(pick(set, 'invalid_arguments', 'get_weather', 'call-1'), { error: 'Some details for get weather are missing or wrong.' });
  t.strictSame(pick(set, 'rate_limited', 'get_weather', 'call-1'), { error: "The get weather service has been asked too often on this call; let's continue without it." });
  t.strictSame(pick({}, 'error', 'get_weather', 'call-1'), { error: 'The get weather service could not handle this request.' });
  t.strictSame(pick({ timeout: [] }, 'timeout', 'get_weather', 'call-1'), { error: 'The get weather service did not answer in time.' });
});

t.test('picker: the builtIn override replaces only the built-in sentence', async (t) => {
  const pick = createFallbackPicker();
  t.strictSame(pick({}, 'invalid_arguments', 'book', 'call-1', 'I still need the date of the appointment.'), { error: 'I still need the date of the appointment.' });
  // A configured sentence is used verbatim, even when an override is given.
  t.strictSame(pick(fallbackSet({ invalid_arguments: 'Could you repeat that?' }), 'invalid_arguments', 'book', 'call-1', 'I still need the date of the appointment.'), {
    result: 'Could you repeat that?',
  });
});

t.test('picker: a list rotates per call id', async (t) => {
  const pick = createFallbackPicker();
  const set = fallbackSet(['One.', 'Two.', 'Three.']);
  const sentences = (callId: string | undefined, n: number, reason: 'timeout' | 'error' = 'timeout') =>
    Array.from({ length: n }, () => pick(set, reason, 'tool', callId));
  t.strictSame(sentences('call-A', 4), [{ result: 'One.' }, { result: 'Two.' }, { result: 'Three.' }, { result: 'One.' }], 'the same call cycles');
  t.strictSame(sentences('call-B', 2), [{ result: 'One.' }, { result: 'Two.' }], 'another call starts at the first');
  t.strictSame(sentences('call-A', 1), [{ result: 'Two.' }], 'call-A carries on where it was');
  t.strictSame(sentences(undefined, 3), [{ result: 'One.' }, { result: 'One.' }, { result: 'One.' }], 'no call id: always the first');
  // The same list for another reason is the same list: the rotation continues.
  t.strictSame(sentences('call-B', 1, 'error'), [{ result: 'Three.' }]);
});

t.test('picker: separate pickers do not share turns', async (t) => {
  const set = fallbackSet(['One.', 'Two.']);
  const a = createFallbackPicker();
  const b = createFallbackPicker();
  t.strictSame([a(set, 'timeout', 'x', 'c'), a(set, 'timeout', 'x', 'c'), b(set, 'timeout', 'x', 'c')], [{ result: 'One.' }, { result: 'Two.' }, { result: 'One.' }]);
});

t.test('picker: a list shared through defaults rotates across tools within one call', async (t) => {
  const pick = createFallbackPicker();
  const defaults = fallbackSet(['Sorry, one moment.', 'Bear with me.', 'Still working on it.']);
  const weather = mergeFallbacks(fallbackSet(undefined), defaults);
  const booking = mergeFallbacks(fallbackSet({ rate_limited: 'No more.' }), defaults);
  t.strictSame(
    [pick(weather, 'timeout', 'get_weather', 'call-1'), pick(booking, 'unavailable', 'book', 'call-1'), pick(weather, 'error', 'get_weather', 'call-1'), pick(booking, 'timeout', 'book', 'call-1')],
    [{ result: 'Sorry, one moment.' }, { result: 'Bear with me.' }, { result: 'Still working on it.' }, { result: 'Sorry, one moment.' }],
  );
  t.strictSame(pick(booking, 'timeout', 'book', 'call-2'), { result: 'Sorry, one moment.' }, 'another call starts over');
  // A tool's own list rotates on its own.
  const own = mergeFallbacks(fallbackSet(['Mine 1.', 'Mine 2.']), defaults);
  t.strictSame([pick(own, 'timeout', 'own', 'call-1'), pick(own, 'timeout', 'own', 'call-1'), pick(weather, 'timeout', 'get_weather', 'call-1')], [
    { result: 'Mine 1.' },
    { result: 'Mine 2.' },
    { result: 'Bear with me.' },
  ]);
});

t.test('picker: a single sentence needs no rotation', async (t) => {
  const pick = createFallbackPicker();
  const set = fallbackSet(['Only one.']);
  t.strictSame([pick(set, 'timeout', 't', 'c'), pick(set, 'timeout', 't', 'c')], [{ result: 'Only one.' }, { result: 'Only one.' }]);
});

t.test('picker: rotation state is bounded per call (maxCalls)', async (t) => {
  const pick = createFallbackPicker({ maxCalls: 1 });
  const set = fallbackSet(['One.', 'Two.']);
  t.strictSame(pick(set, 'timeout', 't', 'call-A'), { result: 'One.' });
  t.strictSame(pick(set, 'timeout', 't', 'call-B'), { result: 'One.' });
  t.strictSame(pick(set, 'timeout', 't', 'call-A'), { result: 'One.' }, 'call-A was evicted and starts over');
});
