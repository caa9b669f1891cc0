// The route table `check` prints: one row per route, and query values (which may hold tokens
// substituted from the environment) never shown; the built `check` warns about likely mistakes
// as FILE:LINE:COL warning lines on stderr and still exits 0.

import t from 'tap';
import { join } from 'node:path';
import { routeTableText } from '../../src/cli/check.js';
import { parseConfig } from '../../src/config/load.js';
import { buildRouteTable } from '../../src/routing.js';
import { requireBuiltCli, runCli } from '../helpers/cli.js';

t.test('query values are masked; keys, paths and placeholders stay', async (t) => {
  const { config } = parseConfig(
    `version: 1
account: { secrets: [a-long-enough-secret-value] }
tools:
  notify: { url: "https://hooks.example.com/x/{room}?token=\${TOKEN}&mode=fast", method: GET }
`,
    'routes.yaml',
    { TOKEN: 'supersecret123' },
  );
  const text = routeTableText(buildRouteTable(config));
  t.strictSame(text.split('\n'), [
    'SCOPE    TOOL / EVENT  TARGET',
    'account  notify        GET https://hooks.example.com/x/{room}?token=…&mode=…, timeout 5s',
    '',
  ]);
  t.notMatch(text, 'supersecret123');
});

t.test('check warns about a tool without a fallback, a timeout past its deadline and an unused upstream; exit 0', async (t) => {
  requireBuiltCli();
  const file = join(
    t.testdir({
      'routes.yaml': [
        'version: 1',
        'account: { secrets: [a-long-enough-secret-value] }',
        'upstreams:',
        '  crm: { url: "http://127.0.0.1:4100" }',
        '  calendar:',
        '    url: http://127.0.0.1:4200',
        'tools:',
        '  lookup_contact: { upstream: crm, fallback: "The address book is closed." }',
        '  order_status:',
        '    url: "http://127.0.0.1:4300/orders/{id}"',
        '    timeout: 12s',
        '',
      ].join('\n'),
    }),
    'routes.yaml',
  );
  const result = await runCli(t, ['check', file]);
  t.equal(result.code, 0, 'warnings do not change the exit code');
  t.equal(
    result.stdout,
    [
      `${file}: OK`,
      '',
      'SCOPE    TOOL / EVENT    TARGET',
      'account  lookup_contact  POST http://127.0.0.1:4100/lookup_contact (upstream crm), timeout 5s, with fallback',
      'account  order_status    POST http://127.0.0.1:4300/orders/{id}, timeout 12s',
      '',
    ].join('\n'),
  );
  t.equal(
    result.stderr,
    [
      `${file}:5:3 warning: upstreams.calendar is not used by any tool, event or fallback; remove it, or point a target at it with upstream: calendar`,
      `${file}:9:3 warning: tools.order_status has no fallback: when its backend fails or is too slow the caller hears the built-in "The order status service did not answer in time."; add fallback: "…" to it, or defaults.fallback for every tool`,
      `${file}:11:5 warning: tools.order_status.timeout 12s is longer than deadlines.tool-calls (9s): the reply leaves at the deadline, so the rest is never waited for; lower it, or set on_deadline: continue if the backend should finish anyway`,
      '',
    ].join('\n'),
  );
});
