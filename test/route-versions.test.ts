// Routes versions and call pinning on an injected clock: a call keeps the version of its first
// event for reload.pin_calls (not extended by later events), and inUse() names the versions
// pinned calls still need.

import t from 'tap';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { createRouteVersions, type RoutesVersion } from '../src/route-versions.js';
import { buildRouteTable } from '../src/routing.js';

const configWith = (pin: string): Config =>
  parseConfig(`version: 1\naccount: { secrets: [s3cret-value-for-tests] }\nreload: { pin_calls: ${pin} }\ntools: { lookup: { url: "http://127.0.0.1:9/lookup" } }\n`, 'routes.yaml', {}).config;

function versionsOn(pin: string) {
  let at = 1_000_000;
  const build = (config: Config, number: number): RoutesVersion<string> => ({ number, config, table: buildRouteTable(config), dispatch: `v${number}` });
  const versions = createRouteVersions(configWith(pin), build, () => at);
  return { versions, advance: (ms: number) => void (at += ms) };
}

t.test('a call stays on the version of its first event for pin_calls, counted from that event', async (t) => {
  const { versions, advance } = versionsOn('10s');
  const first = versions.current();
  versions.pin('call-1', first);
  const second = versions.apply(configWith('10s'));
  t.equal(versions.current(), second);
  advance(6000);
  t.equal(versions.pinnedFor('call-1'), first);
  // Later events look the pin up; they do not extend it.
  advance(3999);
  t.equal(versions.pinnedFor('call-1'), first);
  advance(1);
  t.equal(versions.pinnedFor('call-1'), undefined);
  t.equal(versions.pinnedFor('call-2'), undefined);
  t.equal(versions.pinnedFor(undefined), undefined);
});

t.test('pin_calls: 0 pins nothing', async (t) => {
  const { versions } = versionsOn('0s');
  versions.pin('call-1', versions.current());
  t.equal(versions.pinnedFor('call-1'), undefined);
});

t.test('inUse(): the current version and those pinned calls still need, until their pins expire', async (t) => {
  const { versions, advance } = versionsOn('10s');
  const first = versions.current();
  versions.pin('call-1', first);
  const second = versions.apply(configWith('10s'));
  t.strictSame([...versions.inUse()].map((v) => v.number).sort(), [1, 2]);
  // Past pin_calls (and past the second inUse() remembers its answer for): the pin is gone.
  advance(10_000);
  t.strictSame([...versions.inUse()].map((v) => v.number), [2]);
  t.equal(versions.current(), second);
});
