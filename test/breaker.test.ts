// createBreaker on an injected fake clock: consecutive failures, the slow-call window, open,
// half-open with exactly one probe, release(), state(); and breakerSettings' merge order.
import t from 'tap';
import { breakerSettings, createBreaker, DEFAULT_BREAKER, type BreakerSettings } from '../src/breaker.js';

const ok = { failed: false, latencyMs: 10 };
const bad = { failed: true, latencyMs: 10 };
const base: BreakerSettings = { failures: 3, slowMs: undefined, slowRatio: 0.5, window: 4, openForMs: 1000 };

function clocked(settings: Partial<BreakerSettings> = {}) {
  const clock = { t: 0 };
  const breaker = createBreaker({ ...base, ...settings }, () => clock.t);
  return { clock, breaker };
}

t.test('closed: every tryAcquire succeeds', async (t) => {
  const { breaker } = clocked();
  t.equal(breaker.state(), 'closed');
  t.strictSame([breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire()], [true, true, true]);
  t.equal(breaker.state(), 'closed');
});

t.test('opens after `failures` consecutive failures, not before', async (t) => {
  const { breaker } = clocked({ failures: 3 });
  breaker.record(bad);
  breaker.record(bad);
  t.equal(breaker.state(), 'closed');
  t.equal(breaker.tryAcquire(), true);
  breaker.record(bad);
  t.equal(breaker.state(), 'open');
  t.equal(breaker.tryAcquire(), false);
});

t.test('a success in between resets the consecutive count', async (t) => {
  const { breaker } = clocked({ failures: 3 });
  for (const call of [bad, bad, ok, bad, bad, ok, bad, bad]) breaker.record(call);
  t.equal(breaker.state(), 'closed', '2 + 2 + 2 failures, never 3 in a row');
  breaker.record(bad);
  t.equal(breaker.state(), 'open');
});

t.test('failures: 1 opens on the first failure', async (t) => {
  const { breaker } = clocked({ failures: 1 });
  breaker.record(bad);
  t.equal(breaker.state(), 'open');
});

t.test('slow-call rule is off without slowMs, however slow the calls', async (t) => {
  const { breaker } = clocked({ slowMs: undefined, window: 2, failures: 100 });
  for (let i = 0; i < 50; i++) breaker.record({ failed: false, latencyMs: 60_000 });
  t.equal(breaker.state(), 'closed');
});

t.test('slow-call rule: opens when more than slowRatio of the last `window` calls were slow', async (t) => {
  t.test('exactly the ratio does not open; one more slow call does', async (t) => {
    const { breaker } = clocked({ slowMs: 100, slowRatio: 0.5, window: 4, failures: 100 });
    for (const ms of [150, 150, 10, 10]) breaker.record({ failed: false, latencyMs: ms });
    t.equal(breaker.state(), 'closed', '2 of 4 slow = 0.5, not more than 0.5');
    breaker.record({ failed: false, latencyMs: 150 }); // window now 150, 10, 10, 150
    t.equal(breaker.state(), 'closed', 'still 2 of 4: the oldest slow call left the window');
    breaker.record({ failed: false, latencyMs: 150 }); // window now 10, 10, 150, 150
    t.equal(breaker.state(), 'closed');
    breaker.record({ failed: false, latencyMs: 150 });
    t.equal(breaker.state(), 'open', '3 of the last 4 slow (10, 150, 150, 150)');
  });

  t.test('judged only once the window is full', async (t) => {
    const { breaker } = clocked({ slowMs: 100, slowRatio: 0.5, window: 4, failures: 100 });
    for (let i = 0; i < 3; i++) breaker.record({ failed: false, latencyMs: 500 });
    t.equal(breaker.state(), 'closed', '3 of 3 slow, but the window holds 4');
    breaker.record({ failed: false, latencyMs: 500 });
    t.equal(breaker.state(), 'open');
  });

  t.test('a latency equal to slowMs is not slow', async (t) => {
    const { breaker } = clocked({ slowMs: 100, slowRatio: 0.5, window: 2, failures: 100 });
    breaker.record({ failed: false, latencyMs: 100 });
    breaker.record({ failed: false, latencyMs: 100 });
    t.equal(breaker.state(), 'closed');
    breaker.record({ failed: false, latencyMs: 101 });
    t.equal(breaker.state(), 'closed', '1 of 2');
    breaker.record({ failed: false, latencyMs: 101 });
    t.equal(breaker.state(), 'open', '2 of 2');
  });

  t.test('slow failures count in the window too', async (t) => {
    const { breaker } = clocked({ slowMs: 100, slowRatio: 0.5, window: 2, failures: 100 });
    breaker.record({ failed: true, latencyMs: 900 });
    breaker.record({ failed: false, latencyMs: 900 });
    t.equal(breaker.state(), 'open');
  });
});

t.test('open: rejects tryAcquire until openForMs has passed, then exactly one probe', async (t) => {
  const { clock, breaker } = clocked({ failures: 1, openForMs: 1000 });
  clock.t = 5000;
  breaker.record(bad);
  t.equal(breaker.state(), 'open');
  clock.t = 5999;
  t.equal(breaker.state(), 'open');
  t.equal(breaker.tryAcquire(), false);
  clock.t = 6000;
  t.equal(breaker.state(), 'half-open');
  t.strictSame([breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire()], [true, false, false], 'one probe; concurrent calls refused');
  t.equal(breaker.state(), 'half-open');
  clock.t = 60_000;
  t.equal(breaker.tryAcquire(), false, 'the probe is still out, however long it takes');
});

t.test('probe success closes the breaker and resets its counts', async (t) => {
  const { clock, breaker } = clocked({ failures: 2, openForMs: 1000 });
  breaker.record(bad);
  breaker.record(bad);
  t.equal(breaker.state(), 'open');
  clock.t = 1000;
  t.equal(breaker.tryAcquire(), true);
  breaker.record(ok);
  t.equal(breaker.state(), 'closed');
  t.strictSame([breaker.tryAcquire(), breaker.tryAcquire()], [true, true]);
  breaker.record(bad);
  t.equal(breaker.state(), 'closed', 'the count starts again from zero');
  breaker.record(bad);
  t.equal(breaker.state(), 'open');
});

t.test('probe success also clears the slow-call window', async (t) => {
  const { clock, breaker } = clocked({ slowMs: 100, slowRatio: 0.5, window: 2, failures: 100, openForMs: 1000 });
  breaker.record({ failed: false, latencyMs: 500 });
  breaker.record({ failed: false, latencyMs: 500 });
  t.equal(breaker.state(), 'open');
  clock.t = 1000;
  t.equal(breaker.tryAcquire(), true);
  breaker.record({ failed: false, latencyMs: 500 }); // a slow but successful probe
  t.equal(breaker.state(), 'closed');
  breaker.record({ failed: false, latencyMs: 500 });
  t.equal(breaker.state(), 'closed', 'one slow call in an empty window of 2 is not judged yet');
});

t.test('probe failure re-opens for another openForMs, counted from the failure', async (t) => {
  const { clock, breaker } = clocked({ failures: 1, openForMs: 1000 });
  breaker.record(bad);
  clock.t = 1500;
  t.equal(breaker.tryAcquire(), true);
  clock.t = 1700;
  breaker.record(bad);
  t.equal(breaker.state(), 'open');
  t.equal(breaker.tryAcquire(), false);
  clock.t = 2699;
  t.equal(breaker.state(), 'open');
  t.equal(breaker.tryAcquire(), false);
  clock.t = 2700;
  t.equal(breaker.state(), 'half-open');
  t.strictSame([breaker.tryAcquire(), breaker.tryAcquire()], [true, false]);
});

t.test('release() frees the half-open probe', async (t) => {
  const { clock, breaker } = clocked({ failures: 1, openForMs: 1000 });
  breaker.record(bad);
  clock.t = 1000;
  t.equal(breaker.tryAcquire(), true);
  t.equal(breaker.tryAcquire(), false);
  breaker.release();
  t.equal(breaker.state(), 'half-open');
  t.equal(breaker.tryAcquire(), true, 'the probe can be taken again');
  t.equal(breaker.tryAcquire(), false);
});

t.test('release() while closed or open changes nothing', async (t) => {
  const { clock, breaker } = clocked({ failures: 1, openForMs: 1000 });
  breaker.release();
  t.equal(breaker.state(), 'closed');
  t.equal(breaker.tryAcquire(), true);
  breaker.record(bad);
  breaker.release();
  t.equal(breaker.state(), 'open');
  t.equal(breaker.tryAcquire(), false);
  clock.t = 1000;
  t.equal(breaker.tryAcquire(), true);
});

t.test('a call recorded while open (started before it opened) changes nothing', async (t) => {
  const { clock, breaker } = clocked({ failures: 1, openForMs: 1000 });
  breaker.record(bad);
  clock.t = 500;
  breaker.record(ok);
  t.equal(breaker.state(), 'open');
  t.equal(breaker.tryAcquire(), false);
  clock.t = 1000;
  t.equal(breaker.state(), 'half-open', 'open_for still counted from the opening');
});

t.test('breakerSettings: own, then defaults, then DEFAULT_BREAKER, per key', async (t) => {
  t.strictSame(DEFAULT_BREAKER, { failures: 5, slowMs: undefined, slowRatio: 0.5, window: 20, openForMs: 10_000 });
  t.strictSame(breakerSettings(undefined, undefined), DEFAULT_BREAKER);
  t.strictSame(breakerSettings({}, {}), DEFAULT_BREAKER);
  t.strictSame(breakerSettings({ failures: 2, slow: 800 }, undefined), { failures: 2, slowMs: 800, slowRatio: 0.5, window: 20, openForMs: 10_000 });
  t.strictSame(breakerSettings(undefined, { window: 10, open_for: 3000 }), { failures: 5, slowMs: undefined, slowRatio: 0.5, window: 10, openForMs: 3000 });
  t.strictSame(
    breakerSettings({ failures: 2, slow_ratio: 0.8 }, { failures: 9, slow: 500, slow_ratio: 0.2, window: 10 }),
    { failures: 2, slowMs: 500, slowRatio: 0.8, window: 10, openForMs: 10_000 },
  );
  t.strictSame(
    breakerSettings({ failures: 1, slow: 100, slow_ratio: 1, window: 3, open_for: 50 }, { failures: 9, slow: 500, slow_ratio: 0.2, window: 10, open_for: 7000 }),
    { failures: 1, slowMs: 100, slowRatio: 1, window: 3, openForMs: 50 },
  );
});

t.test('half-open: a call that began before the breaker opened does not decide for the probe', async (t) => {
  const { clock, breaker } = clocked({ failures: 1, openForMs: 1000 });
  breaker.record(bad); // opens at t=0
  clock.t = 1500;
  t.equal(breaker.tryAcquire(), true, 'the probe');
  // A slow call started at t=-100 (before the breaker opened) finishes now, failed: ignored.
  breaker.record({ failed: true, latencyMs: 1600 });
  t.equal(breaker.state(), 'half-open');
  breaker.record({ failed: false, latencyMs: 20 }); // the probe
  t.equal(breaker.state(), 'closed');
});
