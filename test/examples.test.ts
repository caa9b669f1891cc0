// The shipped routes.yaml with the shipped example backends answers real tool calls, and the
// README's curl/openssl recipe (examples/send-tool-call.sh) produces a signature that verifies.

import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { startBackends } from '../examples/backends.mjs';
import { envelope, send, startGateway, toolCalls } from './helpers/gateway.js';

const run = promisify(execFile);
const routesYaml = readFileSync(new URL('../routes.yaml', import.meta.url), 'utf8');
const DEMO_SECRET = 'dev-secret-change-me';


t.test('the shipped routes.yaml answers tool calls from the example backends', async (t) => {
  const backends = await startBackends({ ports: { crm: 0, calendar: 0, orders: 0 } });
  t.teardown(() => backends.close());
  const env = { CRM_URL: backends.urls.crm, CALENDAR_URL: backends.urls.calendar, ORDERS_URL: backends.urls.orders };
  const gateway = await startGateway(t, routesYaml, { env });

  const body = toolCalls([
    ['lookup_contact', { query: 'maria' }],
    ['order_status', { order_id: 'A 7/3' }],
    ['book_appointment', { date: '2026-12-01', time: '14:30' }],
    ['book_appointment', {}],
    ['transfer_to_mars', {}],
  ], { phone_number: { number: '+31 20 000 0000' } });
  const res = await send(`${gateway.url}/webhook`, body, { secret: DEMO_SECRET });
  t.equal(res.status, 200);
  t.strictSame(res.body, {
    results: [
      { tool_call_id: 'tc_1', result: { name: 'Maria Jansen', email: 'maria@example.com', tier: 'standard' } },
      { tool_call_id: 'tc_2', result: { order_id: 'A 7/3', status: 'delivered' } },
      { tool_call_id: 'tc_3', result: 'Booked for 2026-12-01 at 14:30.' },
      { tool_call_id: 'tc_4', error: 'Which date would you like the appointment on?' },
      { tool_call_id: 'tc_5', error: 'No route for tool transfer_to_mars.' },
    ],
  });

  // The sales number routes lookup_contact to the sales path.
  const sales = await send(`${gateway.url}/webhook`, toolCalls([['lookup_contact', { query: 'John' }]]), { secret: DEMO_SECRET });
  t.strictSame(sales.body, { results: [{ tool_call_id: 'tc_1', result: { name: 'John Smith', email: 'john@example.com', tier: 'premium', account_manager: 'Eva' } }] });

  const greeting = await send(`${gateway.url}/webhook`, envelope('assistant-request'), { secret: DEMO_SECRET });
  t.strictSame(greeting.body, { assistant: { first_message: 'Hello from the example CRM! How can I help?' } });
});

t.test('examples/send-tool-call.sh (curl + openssl, as in the README) is accepted', async (t) => {
  const backends = await startBackends({ ports: { crm: 0, calendar: 0, orders: 0 } });
  t.teardown(() => backends.close());
  const env = { CRM_URL: backends.urls.crm, CALENDAR_URL: backends.urls.calendar, ORDERS_URL: backends.urls.orders };
  const gateway = await startGateway(t, routesYaml, { env });
  const script = new URL('../examples/send-tool-call.sh', import.meta.url).pathname;
  const { stdout } = await run('bash', [script, `${gateway.url}/webhook`], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 10_000 });
  t.strictSame(JSON.parse(stdout), {
    results: [
      { tool_call_id: 'tc_1', result: { name: 'John Smith', email: 'john@example.com', tier: 'premium', account_manager: 'Eva' } },
      { tool_call_id: 'tc_2', result: { order_id: 'A-1001', status: 'shipped' } },
      { tool_call_id: 'tc_3', result: 'Booked for 2026-12-01 at 10:00.' },
    ],
  });
});
