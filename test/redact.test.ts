// Phone numbers inside logged values are masked to the country code and the last three digits.

import t from 'tap';
import { maskPhoneNumbers } from '../src/redact.js';

t.test('masks every phone number in a value, keeping at most the country code and the last 3 digits', async (t) => {
  t.strictSame(
    [
      maskPhoneNumbers('+31612345678'),
      maskPhoneNumbers('call-_+31612345678_abc123'),
      maskPhoneNumbers('+31 85 083 5037 and +1 (555) 010-9999'),
      maskPhoneNumbers('0612345678'),
    ],
    ['+31*******678', 'call-_+31*******678_abc123', '+31*******037 and +15*******999', '06*******678'],
  );
});

t.test('leaves ids, short numbers and uuids alone', async (t) => {
  const values = ['5c4d030f-43e3-4e65-899e-8148521e660f', 'tc_123456', 'order 12345', 'A-1001', ''];
  t.strictSame(values.map(maskPhoneNumbers), values);
});
