// buildRouteTable on configs parsed from routes.yaml text: tool lookup order and level, secrets,
// phone-number scopes, per-assistant event overrides, the set of target origins, and tools
// compiled on first lookup with what they can share shared.
import t from 'tap';
import { parseConfig } from '../src/config/load.js';
import { buildRouteTable, type RouteTable, type Scope } from '../src/routing.js';
import type { CompiledTarget } from '../src/target.js';

const env = { CRM_URL: 'http://127.0.0.1:9001/crm', ACCOUNT_SECRET: 'acct-secret' };

const ROUTES = `
version: 1
account:
  secrets: ["\${ACCOUNT_SECRET}"]
upstreams:
  crm:
    url: \${CRM_URL}
    timeout: 2s
  billing:
    url: http://127.0.0.1:9002/
  unused:
    url: http://127.0.0.1:9999
tools:
  lookup_customer:
    upstream: crm
  create_ticket:
    url: http://127.0.0.1:9003/tickets
    method: PUT
events:
  assistant-request:
    url: http://127.0.0.1:9004/assistant
  status-update:
    - url: http://127.0.0.1:9005/status
    - upstream: crm
      path: /status
  end-of-call-report:
    url: http://127.0.0.1:9006/report
fallback:
  url: http://127.0.0.1:9007/fallback
assistants:
  sales:
    secrets: [sales-1, sales-2]
    phone_numbers: ["+31 85 083 5037", "+1 (555) 0100"]
    tools:
      lookup_customer:
        upstream: billing
        path: customers/{id}
        method: GET
      quote:
        upstream: billing
    events:
      status-update:
        url: http://127.0.0.1:9008/sales-status
  support:
    phone_numbers: ["+31850000000"]
    events:
      assistant-request:
        static:
          assistant: { name: Support }
      end-of-call-report: []
  quiet: {}
`;

const table = (yaml: string): RouteTable => buildRouteTable(parseConfig(yaml, 'routes.yaml', env).config);
const routes = table(ROUTES);
const scope = (name: string): Scope => {
  const s = routes.assistants.get(name);
  if (!s) throw new Error(`no scope ${name}`);
  return s;
};
const where = (target: CompiledTarget | undefined) => (target ? `${target.method} ${target.origin}${target.pathTemplate}` : undefined);
const lookup = (r: RouteTable, s: Scope, tool: string) => {
  const found = r.lookupTool(s, tool);
  return found ? { level: found.level, target: where(found.target) } : undefined;
};

t.test('the account scope and one scope per assistant', async (t) => {
  t.equal(routes.account.assistant, undefined);
  t.strictSame([...routes.assistants.keys()], ['sales', 'support', 'quiet']);
  t.strictSame([...routes.assistants.values()].map((s) => s.assistant), ['sales', 'support', 'quiet']);
  t.strictSame([...routes.account.tools.keys()], ['lookup_customer', 'create_ticket']);
  t.strictSame([...scope('sales').tools.keys()], ['lookup_customer', 'quote']);
  t.strictSame([...scope('support').tools.keys()], []);
  t.equal(where(routes.fallback), 'POST http://127.0.0.1:9007/fallback');
});

t.test('tool lookup: assistant tools, then top-level tools, then fallback', async (t) => {
  t.strictSame(lookup(routes, scope('sales'), 'lookup_customer'), { level: 'assistant', target: 'GET http://127.0.0.1:9002/customers/{id}' });
  t.strictSame(lookup(routes, scope('sales'), 'quote'), { level: 'assistant', target: 'POST http://127.0.0.1:9002/quote' });
  t.strictSame(lookup(routes, scope('sales'), 'create_ticket'), { level: 'account', target: 'PUT http://127.0.0.1:9003/tickets' });
  t.strictSame(lookup(routes, scope('sales'), 'unknown_tool'), { level: 'fallback', target: 'POST http://127.0.0.1:9007/fallback' });
  t.strictSame(lookup(routes, scope('support'), 'lookup_customer'), { level: 'account', target: 'POST http://127.0.0.1:9001/crm/lookup_customer' });
  t.strictSame(lookup(routes, scope('support'), 'quote'), { level: 'fallback', target: 'POST http://127.0.0.1:9007/fallback' });
  t.strictSame(lookup(routes, routes.account, 'lookup_customer'), { level: 'account', target: 'POST http://127.0.0.1:9001/crm/lookup_customer' });
  t.strictSame(lookup(routes, routes.account, 'create_ticket'), { level: 'account', target: 'PUT http://127.0.0.1:9003/tickets' });
  // An assistant's own tools are not visible from the account scope.
  t.strictSame(lookup(routes, routes.account, 'quote'), { level: 'fallback', target: 'POST http://127.0.0.1:9007/fallback' });
  // The very same compiled objects are returned.
  t.equal(routes.lookupTool(scope('quiet'), 'create_ticket')?.target, routes.account.tools.get('create_ticket')?.target);
  t.equal(routes.lookupTool(scope('quiet'), 'nothing')?.target, routes.fallback);
  t.equal(routes.lookupTool(scope('sales'), 'lookup_customer')?.target, scope('sales').tools.get('lookup_customer')?.target);
});

t.test('without a fallback, an unknown tool has no route', async (t) => {
  const r = table(`
version: 1
security: { allow_unsigned: true }
tools:
  a: { url: "http://127.0.0.1:9101/a" }
assistants:
  one:
    tools:
      b: { url: "http://127.0.0.1:9102/b" }
`);
  const one = r.assistants.get('one')!;
  t.equal(r.fallback, undefined);
  t.strictSame(lookup(r, one, 'b'), { level: 'assistant', target: 'POST http://127.0.0.1:9102/b' });
  t.strictSame(lookup(r, one, 'a'), { level: 'account', target: 'POST http://127.0.0.1:9101/a' });
  t.equal(lookup(r, one, 'c'), undefined);
  t.equal(lookup(r, r.account, 'b'), undefined);
  t.equal(lookup(r, r.account, 'c'), undefined);
});

t.test('secrets: an assistant without its own uses the account secrets', async (t) => {
  t.strictSame(routes.account.secrets, ['acct-secret']);
  t.strictSame(scope('sales').secrets, ['sales-1', 'sales-2']);
  t.strictSame(scope('support').secrets, ['acct-secret']);
  t.strictSame(scope('quiet').secrets, ['acct-secret']);
  const r = table(`
version: 1
assistants:
  a: { secrets: [only-a] }
  b: {}
`);
  t.strictSame(r.account.secrets, []);
  t.strictSame(r.assistants.get('a')!.secrets, ['only-a']);
  t.strictSame(r.assistants.get('b')!.secrets, []);
});

t.test('phone numbers: exact match, spaces ignored', async (t) => {
  const name = (number: string | null | undefined) => routes.scopeForPhoneNumber(number)?.assistant;
  t.equal(name('+31850835037'), 'sales');
  t.equal(name('+31 85 083 5037'), 'sales');
  t.equal(name(' +3185 0835037 '), 'sales');
  t.equal(name('+31\t85\u00a0083 5037'), 'sales');
  t.equal(name('+1 (555) 0100'), 'sales');
  t.equal(name('+1(555)0100'), 'sales');
  t.equal(name('+31850000000'), 'support');
  t.equal(name('+31 850 000 000'), 'support');
  t.equal(routes.scopeForPhoneNumber('+31850835037'), scope('sales'));
  // Exact: no prefix rewriting, no punctuation stripping beyond whitespace.
  t.equal(name('31850835037'), undefined);
  t.equal(name('0031850835037'), undefined);
  t.equal(name('+1-555-0100'), undefined);
  t.equal(name('+3185083503'), undefined);
  t.equal(name('+318508350370'), undefined);
  t.equal(name(''), undefined);
  t.equal(name('   '), undefined);
  t.equal(name(null), undefined);
  t.equal(name(undefined), undefined);
});

t.test('events: an assistant entry replaces that event only; the others are inherited', async (t) => {
  const events = (s: Scope) => ({
    assistantRequest: s.assistantRequest && { target: where(s.assistantRequest.target), static: s.assistantRequest.static },
    statusUpdate: s.listEvents['status-update'].map(where),
    endOfCallReport: s.listEvents['end-of-call-report'].map(where),
  });
  const account = {
    assistantRequest: { target: 'POST http://127.0.0.1:9004/assistant', static: undefined },
    statusUpdate: ['POST http://127.0.0.1:9005/status', 'POST http://127.0.0.1:9001/crm/status'],
    endOfCallReport: ['POST http://127.0.0.1:9006/report'],
  };
  t.strictSame(events(routes.account), account);
  t.strictSame(events(scope('sales')), { ...account, statusUpdate: ['POST http://127.0.0.1:9008/sales-status'] });
  t.strictSame(events(scope('support')), {
    assistantRequest: { target: undefined, static: { assistant: { name: 'Support' } } },
    statusUpdate: account.statusUpdate,
    endOfCallReport: [],
  });
  t.strictSame(events(scope('quiet')), account);
  // Inherited entries are the account's own compiled targets.
  t.equal(scope('sales').listEvents['end-of-call-report'], routes.account.listEvents['end-of-call-report']);
  t.equal(scope('sales').assistantRequest, routes.account.assistantRequest);
  t.equal(scope('quiet').listEvents['status-update'], routes.account.listEvents['status-update']);
  // Event targets post the envelope to the URL itself.
  const status = routes.account.listEvents['status-update'][1]!;
  t.strictSame([status.body, status.timeoutMs, status.label], ['message', 2000, 'crm']);
});

t.test('a config without events has none anywhere', async (t) => {
  const r = table(`
version: 1
security: { allow_unsigned: true }
assistants:
  a: {}
`);
  for (const s of [r.account, r.assistants.get('a')!]) {
    t.equal(s.assistantRequest, undefined);
    t.strictSame(s.listEvents, { 'status-update': [], 'end-of-call-report': [] });
  }
  t.strictSame([...r.origins], []);
});

t.test('origins lists the origin of every compiled target, once each', async (t) => {
  t.strictSame([...routes.origins].sort(), [
    'http://127.0.0.1:9001',
    'http://127.0.0.1:9002',
    'http://127.0.0.1:9003',
    'http://127.0.0.1:9004',
    'http://127.0.0.1:9005',
    'http://127.0.0.1:9006',
    'http://127.0.0.1:9007',
    'http://127.0.0.1:9008',
  ]);
  // A declared but unused upstream makes no pool.
  t.notOk(routes.origins.has('http://127.0.0.1:9999'));
});

t.test('tools are compiled on first lookup; origins and targets are complete before that', async (t) => {
  const fresh = table(ROUTES);
  // Before any scope's tools are touched: every origin a target will use, and only those.
  t.strictSame([...fresh.origins].sort(), [...routes.origins].sort());
  // targets compiles every scope: each tool's target is there by id, and lookups return those objects.
  const ids = [...fresh.targets.keys()].sort();
  t.strictSame(ids, [
    'GET http://127.0.0.1:9002/customers/{id}',
    'POST http://127.0.0.1:9001/crm/lookup_customer',
    'POST http://127.0.0.1:9001/crm/status',
    'POST http://127.0.0.1:9002/quote',
    'POST http://127.0.0.1:9004/assistant',
    'POST http://127.0.0.1:9005/status',
    'POST http://127.0.0.1:9006/report',
    'POST http://127.0.0.1:9007/fallback',
    'POST http://127.0.0.1:9008/sales-status',
    'PUT http://127.0.0.1:9003/tickets',
  ]);
  const sales = fresh.assistants.get('sales')!;
  t.equal(fresh.lookupTool(sales, 'quote')?.target, fresh.targets.get('POST http://127.0.0.1:9002/quote'));
  // Compiled once: the same route object on every lookup, not a copy.
  t.equal(fresh.lookupTool(sales, 'quote'), fresh.lookupTool(sales, 'quote'));
});

t.test('a scope\'s tools compile only when first used: a broken one fails its lookup, not the table', async (t) => {
  // parseConfig refuses parameters ajv cannot compile, so the config is edited after it.
  const config = parseConfig(ROUTES, 'routes.yaml', env).config;
  (config.assistants.sales!.tools!.quote as { parameters?: unknown }).parameters = { type: 'not-a-type' };
  const lazy = buildRouteTable(config);
  t.ok(lazy.lookupTool(lazy.account, 'create_ticket'), 'another scope compiles on its own');
  t.throws(() => lazy.lookupTool(lazy.assistants.get('sales')!, 'quote'));
});

t.test('two targets with one id: targets keeps the later in the file, whichever compiled first', async (t) => {
  const yaml = [
    'version: 1',
    'account: { secrets: [s-0123456789abcdef] }',
    'tools:',
    '  notify: { url: "http://127.0.0.1:9010/hook" }',
    'assistants:',
    '  sales:',
    '    events:',
    '      status-update: { url: "http://127.0.0.1:9010/hook", headers: { x-from: sales-event } }',
    '',
  ].join('\n');
  const id = 'POST http://127.0.0.1:9010/hook';
  // The account tool compiles (at its first lookup) after the assistant's event did (at once).
  const first = table(yaml);
  const tool = first.lookupTool(first.account, 'notify')!.target;
  const event = first.assistants.get('sales')!.listEvents['status-update'][0]!;
  t.not(tool, event);
  t.equal(first.targets.get(id), event);
  // The same when nothing was looked up before.
  const second = table(yaml);
  t.equal(second.targets.get(id), second.assistants.get('sales')!.listEvents['status-update'][0]);
});

t.test('tools of one table share what they can: the default fallbacks and the upstream headers', async (t) => {
  const r = table(`
version: 1
security: { allow_unsigned: true }
defaults: { fallback: "One moment." }
upstreams:
  crm: { url: "http://127.0.0.1:9001", headers: { X-Key: k } }
tools:
  a: { upstream: crm }
  b: { upstream: crm, path: /b }
  c: { upstream: crm, headers: { X-Own: o } }
  d: { upstream: crm, fallback: "Mine." }
`);
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => r.account.tools.get(name)!);
  t.equal(a!.policy.fallbacks, b!.policy.fallbacks);
  t.strictSame(a!.policy.fallbacks, { timeout: ['One moment.'], unavailable: ['One moment.'], error: ['One moment.'] });
  t.strictSame(d!.policy.fallbacks, { timeout: ['Mine.'], unavailable: ['Mine.'], error: ['Mine.'] });
  t.equal(a!.target.headers, b!.target.headers);
  t.strictSame(a!.target.headers, { 'x-key': 'k' });
  t.strictSame(c!.target.headers, { 'x-key': 'k', 'x-own': 'o' });
});
