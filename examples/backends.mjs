// Example backends for the shipped routes.yaml: a CRM, a calendar and an order system, each a
// plain node:http server on 127.0.0.1. Run alone with `node examples/backends.mjs`.
// They log which endpoint was called, without arguments or personal data.

import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const contacts = [
  { name: 'John Smith', email: 'john@example.com', tier: 'premium' },
  { name: 'Maria Jansen', email: 'maria@example.com', tier: 'standard' },
];
const orders = { 'A-1001': 'shipped', 'A-1002': 'being packed', 'A 7/3': 'delivered' };

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : JSON.parse(text);
}

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function log(service, req, extra = '') {
  // The first path segment only: later segments can hold a tool's arguments (an order id).
  const endpoint = `/${req.url.split(/[/?]/)[1] ?? ''}`;
  process.stdout.write(`[${service}] ${req.method} ${endpoint} tool=${req.headers['x-tool-name'] ?? '-'}${extra}\n`);
}

const handlers = {
  crm: async (req, res) => {
    log('crm', req);
    if (req.url === '/contacts/search' || req.url === '/sales/contacts') {
      const { query = '' } = await readJson(req);
      const found = contacts.find((c) => c.name.toLowerCase().includes(String(query).toLowerCase()));
      // Simple format: {result}. A sales lookup also says who owns the account.
      if (!found) return send(res, 200, { error: `No contact matches "${query}".` });
      return send(res, 200, { result: req.url === '/sales/contacts' ? { ...found, account_manager: 'Eva' } : found });
    }
    if (req.url === '/assistant-config') {
      await readJson(req);
      return send(res, 200, { assistant: { first_message: 'Hello from the example CRM! How can I help?' } });
    }
    if (req.url === '/call-status' || req.url === '/calls') {
      const { message } = await readJson(req);
      log('crm', req, ` event=${message?.type} status=${message?.call?.status ?? '-'}`);
      return send(res, 204);
    }
    return send(res, 404, { error: 'not found' });
  },
  calendar: async (req, res) => {
    log('calendar', req);
    if (req.url === '/appointments' && req.method === 'POST') {
      const { date, time = '10:00' } = await readJson(req);
      if (!date) return send(res, 200, { error: 'Which date would you like the appointment on?' });
      // Object format: {results: [{tool_call_id, result}]}.
      return send(res, 200, { results: [{ tool_call_id: req.headers['x-tool-call-id'], result: `Booked for ${date} at ${time}.` }] });
    }
    return send(res, 404, { error: 'not found' });
  },
  orders: async (req, res) => {
    log('orders', req);
    const match = /^\/orders\/([^/?]+)/.exec(req.url);
    if (req.method === 'GET' && match) {
      const id = decodeURIComponent(match[1]);
      const status = orders[id];
      // Direct format: any JSON without a wrapper.
      return status ? send(res, 200, { order_id: id, status }) : send(res, 200, { error: `There is no order ${id}.` });
    }
    return send(res, 404, { error: 'not found' });
  },
};

/** Starts the three backends; resolves with their URLs and a close function. */
export async function startBackends({ host = '127.0.0.1', ports = { crm: 4100, calendar: 4200, orders: 4300 } } = {}) {
  const servers = [];
  const urls = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const server = createServer((req, res) => {
      handler(req, res).catch((err) => send(res, 400, { error: `bad request: ${err.message}` }));
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports[name], host, resolve);
    });
    servers.push(server);
    urls[name] = `http://${host}:${server.address().port}`;
  }
  return {
    urls,
    close: () => Promise.all(servers.map((s) => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve); }))),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // In docker compose the backends listen on all interfaces (BACKENDS_HOST=0.0.0.0).
  const { urls } = await startBackends({ host: process.env.BACKENDS_HOST ?? '127.0.0.1' });
  process.stdout.write(`example backends: ${JSON.stringify(urls)}\n`);
}
