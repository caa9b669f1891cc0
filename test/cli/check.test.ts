// The route table `check` prints: one row per route, and query values (which may hold tokens
// substituted from the environment) never shown.

import t from 'tap';
import { routeTableText } from '../../src/cli/check.js';
import { parseConfig } from '../../src/config/load.js';
import { buildRouteTable } from '../../src/routing.js';

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
