// The running server's lifecycle as a real process: on SIGTERM the listener closes within a second
// (new connections are refused) while a slow tool call in flight still gets its reply.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { json, sleep, startBackend } from './helpers/backend.js';
import { cleanEnv, exitWithin, requireBuiltCli, serveCli } from './helpers/cli.js';
import { eventually, send, toolCalls } from './helpers/gateway.js';

/** True once a TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

t.test('SIGTERM: the listener closes within 1 s, the slow call in flight is answered, exit 0', async (t) => {
  requireBuiltCli();
  const backend = await startBackend(t, json({ result: 'finished' }, 200, 2500));
  const dir = mkdtempSync(join(tmpdir(), 'hms-server-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, `version: 1\naccount: { secrets: [test-secret] }\nstore: { path: "${join(dir, 'outbox.db')}" }\ntools: { slow: { url: "${backend.url}", fallback: "still working" } }\n`);
  const server = await serveCli(t, file, { env: cleanEnv() });
  const port = Number(new URL(server.url).port);
  const reply = send(`${server.url}/webhook`, toolCalls([['slow', {}]]));
  await eventually(() => backend.requests.length === 1, 5000);
  const signalled = Date.now();
  server.child.kill('SIGTERM');
  let closedAfter: number | undefined;
  while (closedAfter === undefined && Date.now() - signalled < 2000) {
    if (await refused(port)) closedAfter = Date.now() - signalled;
    else await sleep(50);
  }
  t.ok(closedAfter !== undefined && closedAfter < 1000, `new connections refused ${closedAfter} ms after SIGTERM`);
  const res = await reply;
  t.strictSame([res.status, res.body], [200, { results: [{ tool_call_id: 'tc_1', result: 'finished' }] }]);
  t.equal(res.headers.connection, 'close', 'the reply closes its keep-alive connection');
  t.equal((await exitWithin(server, 5000))?.code, 0);
});
