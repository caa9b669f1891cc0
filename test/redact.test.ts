// Phone numbers inside logged values are masked to at most the country code and the last 3 digits.

import t from 'tap';
import { maskPhoneNumbers } from '../src/redact.js';

t.test('keeps the country code (1, 2 or 3 digits, as E.164 assigns them) and the last 3 digits', async (t) => {
  t.strictSame(
    [
      maskPhoneNumbers('+31612345678'),
      maskPhoneNumbers('+1 (555) 010-9999'),
      maskPhoneNumbers('+7 912 345-67-89'),
      maskPhoneNumbers('+358 40 123 4567'),
      maskPhoneNumbers('+44 20 7946 0958'),
      maskPhoneNumbers('0031612345678'),
      maskPhoneNumbers('001 555 010 9999'),
    ],
    ['+31*******678', '+1*******999', '+7*******789', '+358*******567', '+44*******958', '0031*******678', '001*******999'],
  );
});

t.test('a number without "+" or "00" keeps only its last 3 digits: its country code is unknown', async (t) => {
  t.strictSame(
    [maskPhoneNumbers('0612345678'), maskPhoneNumbers('06-12345678'), maskPhoneNumbers('(020) 794 6095'), maskPhoneNumbers('5550109999')],
    ['*******678', '*******678', '(*******095', '*******999'],
  );
});

t.test('masks every number inside a longer value, including one embedded in a call id', async (t) => {
  t.strictSame(
    [
      maskPhoneNumbers('call-_+31612345678_abc123'),
      maskPhoneNumbers('call_+31612345678_x'),
      maskPhoneNumbers('+31 85 083 5037 and +1 (555) 010-9999'),
      maskPhoneNumbers('from +31612345678 to +442079460958.'),
      maskPhoneNumbers('tc_1234567'),
    ],
    ['call-_+31*******678_abc123', 'call_+31*******678_x', '+31*******037 and +1*******999', 'from +31*******678 to +44*******958.', 'tc_*******567'],
  );
});

t.test('masking is idempotent, so values masked before they reach the logger stay as they are', async (t) => {
  const once = maskPhoneNumbers('call_+31612345678_x 0612345678 +1 (555) 010-9999');
  t.equal(once, 'call_+31*******678_x *******678 +1*******999');
  t.equal(maskPhoneNumbers(once), once);
});

t.test('leaves ids, short numbers, uuids (even with all-digit groups), IPv4 addresses and dates alone', async (t) => {
  const values = [
    '5c4d030f-43e3-4e65-899e-8148521e660f',
    'tc_123456',
    'order 12345',
    'A-1001',
    '',
    '1234567ms',
    'connect ECONNREFUSED 10.200.30.40:3000',
    'Booked for 2026-12-01 at 10:00.',
    'at 2026-12-01 10:00',
    '2026-12-01T10:00:00.000Z',
    'delivery 12345678-1234-4e65-899e-814852166012 dead-lettered',
    '12345678-1234-4567-8901-234567890123',
  ];
  t.strictSame(values.map(maskPhoneNumbers), values);
});

t.test('a number shaped almost like an IPv4 address or a uuid is still masked', async (t) => {
  t.strictSame(
    [maskPhoneNumbers('612.345.678.90'), maskPhoneNumbers('06.12.34.56.78'), maskPhoneNumbers('ab-0612345678-cd'), maskPhoneNumbers('12345678-1234-4567-8901-23456789012')],
    ['*******890', '*******678', 'ab-*******678-cd', '*******012'],
  );
});

t.test('a URL-encoded "+" (a number in a logged request path) is masked like "+"', async (t) => {
  t.equal(maskPhoneNumbers('POST http://crm/cb/%2B31612345678/notes'), 'POST http://crm/cb/%2B31*******678/notes');
  t.equal(maskPhoneNumbers('/cb/%2b14155550123'), '/cb/%2b1*******123');
});
