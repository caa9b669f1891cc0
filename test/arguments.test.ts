// createArgumentChecker: valid arguments pass; the first problem (missing, wrong type, not in the
// enum, unknown, nested) is said in a plain sentence; exact strings asserted.
import t from 'tap';
import { createArgumentChecker } from '../src/arguments.js';

const schema = {
  type: 'object',
  properties: {
    date: { type: 'string', description: 'Date of the appointment' },
    order_id: { type: 'string' },
    party_size: { type: 'number' },
    guests: { type: 'integer', description: 'Number of guests.' },
    seating: { type: 'string', enum: ['a', 'b'] },
    vip: { type: 'boolean' },
    notes: { type: 'array', items: { type: 'string' } },
    contact: {
      type: 'object',
      description: 'The contact details',
      properties: {
        phone: { type: 'string', description: 'Phone number to call back' },
        email_address: { type: 'string' },
        channel: { type: 'string', enum: ['sms', 'call', 'email'] },
      },
      required: ['phone'],
    },
  },
  required: ['date'],
};

const check = createArgumentChecker()(schema);

t.test('valid arguments: undefined', async (t) => {
  t.equal(check({ date: '2025-06-01' }), undefined);
  t.equal(check({ date: '2025-06-01', order_id: 'A1', party_size: 2.5, guests: 3, seating: 'b', vip: false, notes: ['x'], contact: { phone: '+31', channel: 'sms' }, extra: 1 }), undefined);
});

t.test('a missing required field: named by its description, else by its name', async (t) => {
  t.equal(check({}), 'I still need the date of the appointment.');
  const orders = createArgumentChecker()({ type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] });
  t.equal(orders({}), 'I still need the order id.');
  // A required field with no properties entry at all.
  const bare = createArgumentChecker()({ type: 'object', required: ['customer-name'] });
  t.equal(bare({}), 'I still need the customer name.');
});

t.test('descriptions: trailing punctuation dropped, an article kept, a long one replaced by the name', async (t) => {
  const compile = createArgumentChecker();
  t.equal(compile({ type: 'object', properties: { when: { description: 'The preferred time!' } }, required: ['when'] })({}), 'I still need the preferred time.');
  t.equal(compile({ type: 'object', properties: { who: { description: 'Your full name.' } }, required: ['who'] })({}), 'I still need your full name.');
  t.equal(compile({ type: 'object', properties: { amount: { description: 'Amount in euros' } }, required: ['amount'] })({}), 'I still need the amount in euros.');
  const long = 'A very long description that goes on and on about what this field is for, far too long to speak';
  t.equal(compile({ type: 'object', properties: { booking_ref: { description: long } }, required: ['booking_ref'] })({}), 'I still need the booking ref.');
});

t.test('a wrong type', async (t) => {
  t.equal(check({ date: '2025-06-01', party_size: 'four' }), 'The party size should be a number.');
  t.equal(check({ date: '2025-06-01', guests: 2.5 }), 'The number of guests should be a whole number.');
  t.equal(check({ date: 20250601 }), 'The date of the appointment should be text.');
  t.equal(check({ date: '2025-06-01', vip: 'yes' }), 'The vip should be yes or no.');
  t.equal(check({ date: '2025-06-01', notes: 'x' }), 'The notes should be a list.');
  t.equal(check({ date: '2025-06-01', contact: 'me' }), 'The contact details should be a set of details.');
  // No coercion: "2" is not a number.
  t.equal(check({ date: '2025-06-01', party_size: '2' }), 'The party size should be a number.');
});

t.test('a value outside the enum', async (t) => {
  t.equal(check({ date: '2025-06-01', seating: 'c' }), 'The seating should be one of: a, b.');
  const numbers = createArgumentChecker()({ type: 'object', properties: { size: { enum: [1, 2, 3] } } });
  t.equal(numbers({ size: 4 }), 'The size should be one of: 1, 2, 3.');
});

t.test('additionalProperties: false names the unknown field', async (t) => {
  const strict = createArgumentChecker()({ type: 'object', properties: { city: { type: 'string' } }, additionalProperties: false });
  t.equal(strict({ city: 'Utrecht' }), undefined);
  t.equal(strict({ city: 'Utrecht', country: 'NL' }), 'I can\'t use "country" here.');
});

t.test('nested properties: missing, wrong type and enum inside an object', async (t) => {
  t.equal(check({ date: '2025-06-01', contact: {} }), 'I still need the phone number to call back.');
  t.equal(check({ date: '2025-06-01', contact: { phone: 31 } }), 'The phone number to call back should be text.');
  t.equal(check({ date: '2025-06-01', contact: { phone: '+31', email_address: false } }), 'The email address should be text.');
  t.equal(check({ date: '2025-06-01', contact: { phone: '+31', channel: 'fax' } }), 'The channel should be one of: sms, call, email.');
});

t.test('other keywords: the field is not valid', async (t) => {
  const compile = createArgumentChecker();
  const ranged = compile({ type: 'object', properties: { party_size: { type: 'integer', minimum: 1, description: 'Number of guests' } } });
  t.equal(ranged({ party_size: 0 }), 'The number of guests is not valid.');
  const patterned = compile({ type: 'object', properties: { postcode: { type: 'string', pattern: '^[0-9]{4}[A-Z]{2}$' } } });
  t.equal(patterned({ postcode: 'nope' }), 'The postcode is not valid.');
  const rootLevel = compile({ type: 'object', minProperties: 2 });
  t.equal(rootLevel({ a: 1 }), 'Some details are missing or wrong.');
});

t.test('one checker compiles many schemas', async (t) => {
  const compile = createArgumentChecker();
  const a = compile({ type: 'object', required: ['x'] });
  const b = compile({ type: 'object', required: ['y'] });
  t.strictSame([a({}), b({}), a({ x: 1 }), b({ y: 1 })], ['I still need the x.', 'I still need the y.', undefined, undefined]);
});

t.test('two schemas with the same $id each keep their own check', async (t) => {
  // Tools copied from the platform's definitions may carry an $id; one tool's schema must not
  // collide with another's in a shared ajv registry.
  const compile = createArgumentChecker();
  const booking = compile({ $id: 'booking', type: 'object', properties: { date: { type: 'string' } }, required: ['date'] });
  let rebooking: ((args: Record<string, unknown>) => string | undefined) | undefined;
  t.doesNotThrow(() => {
    rebooking = compile({ $id: 'booking', type: 'object', properties: { time: { type: 'string' } }, required: ['time'] });
  });
  t.strictSame([booking({}), rebooking?.({}), rebooking?.({ time: '10:00' })], ['I still need the date.', 'I still need the time.', undefined]);
});

t.test('problems inside lists name the list item field, with its description', async (t) => {
  const check = createArgumentChecker()({
    type: 'object',
    properties: {
      guests: { type: 'array', items: { type: 'string' } },
      lines: { type: 'array', items: { type: 'object', required: ['sku'], properties: { sku: { type: 'string', description: 'Product code' } } } },
    },
  });
  t.strictSame([check({ guests: [1] }), check({ lines: [{}] })], ['The guests should be text.', 'I still need the product code.']);
});
