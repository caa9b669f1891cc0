import t from 'tap';
import { AbortSwitch } from '../src/abort-switch.js';

t.test('abort runs each listener once, with the reason kept, and later aborts do nothing', async (t) => {
  const signal = new AbortSwitch();
  const heard: string[] = [];
  signal.addEventListener('abort', () => heard.push(`a:${String(signal.reason)}`));
  signal.addEventListener('abort', () => heard.push('b'));
  t.equal(signal.aborted, false);
  signal.abort('deadline');
  signal.abort('again');
  t.strictSame(heard, ['a:deadline', 'b']);
  t.equal(signal.aborted, true);
  t.equal(signal.reason, 'deadline');
});

t.test('a removed listener does not run; one added after the abort never runs', async (t) => {
  const signal = new AbortSwitch();
  const heard: string[] = [];
  const removed = () => heard.push('removed');
  signal.addEventListener('abort', removed);
  signal.addEventListener('abort', () => heard.push('kept'));
  signal.removeEventListener('abort', removed);
  signal.removeEventListener('abort', () => undefined);
  signal.abort();
  signal.addEventListener('abort', () => heard.push('late'));
  t.strictSame(heard, ['kept']);
});
