// `hms-tool-router events list|retry|purge`: look into the durable outbox and act on it. Finds the
// store the way `serve` finds its config: --routes FILE, else ROUTES_FILE, else ./routes.yaml.

import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, formatDiagnostic, loadConfigFile } from '../config/load.js';
import { parseDuration } from '../config/units.js';
import { openOutboxStore, toRecord, type DeliveryStatus, type OutboxStore } from '../events/outbox-store.js';

const usage = `Usage:
  hms-tool-router events list [--status pending|delivered|dead] [--call ID] [--json] [--routes FILE]
  hms-tool-router events retry <delivery-id> | --all-dead [--routes FILE]
  hms-tool-router events purge --dead --older-than 7d [--routes FILE]
`;

const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'dead'];

export async function runEvents(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        routes: { type: 'string' },
        status: { type: 'string' },
        call: { type: 'string' },
        json: { type: 'boolean' },
        'all-dead': { type: 'boolean' },
        dead: { type: 'boolean' },
        'older-than': { type: 'string' },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (sub !== 'list' && sub !== 'retry' && sub !== 'purge') return fail(usage);

  const file = values.routes ?? process.env.ROUTES_FILE ?? './routes.yaml';
  let storePath: string;
  try {
    storePath = (await loadConfigFile(file)).config.store.path;
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.diagnostics.map(formatDiagnostic).join('\n'));
    throw err;
  }
  if (!existsSync(storePath)) return fail(`no outbox store at ${storePath} (store.path in ${file}); the gateway creates it when it starts`);
  let store: OutboxStore;
  try {
    store = openOutboxStore(storePath);
  } catch (err) {
    return fail(`cannot open the outbox store ${storePath}: ${(err as Error).message}`);
  }
  try {
    switch (sub) {
      case 'list':
        return list(store, values.status, values.call, values.json === true);
      case 'retry':
        return retry(store, positionals[0], values['all-dead'] === true);
      case 'purge':
        return purge(store, values.dead === true, values['older-than']);
    }
  } finally {
    store.close();
  }
}

function fail(message: string): number {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  return 1;
}

function list(store: OutboxStore, status: string | undefined, callId: string | undefined, json: boolean): number {
  if (status !== undefined && !STATUSES.includes(status as DeliveryStatus)) return fail(`--status must be one of ${STATUSES.join(', ')}, got "${status}"`);
  const records = store.list({ status: status as DeliveryStatus | undefined, callId }).map(toRecord);
  if (json) {
    process.stdout.write(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return 0;
  }
  if (records.length === 0) {
    process.stdout.write('No deliveries.\n');
    return 0;
  }
  const rows = records.map((r) => [r.delivery_id, r.call_id ?? '-', r.event, r.status, String(r.attempts), r.target.replace(/\?.*$/, ''), r.last_error ?? '']);
  const header = ['DELIVERY ID', 'CALL', 'EVENT', 'STATUS', 'ATTEMPTS', 'TARGET', 'LAST ERROR'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  process.stdout.write([header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n');
  return 0;
}

function retry(store: OutboxStore, id: string | undefined, allDead: boolean): number {
  if (allDead === (id !== undefined)) return fail(`events retry takes one delivery id or --all-dead\n${usage}`);
  if (allDead) {
    process.stdout.write(`${store.retryAllDead(Date.now())} dead deliveries are due again.\n`);
    return 0;
  }
  if (!store.retry(id!, Date.now())) return fail(`no pending or dead delivery with id ${id}`);
  process.stdout.write(`${id} is due again; a running gateway delivers it within a second.\n`);
  return 0;
}

function purge(store: OutboxStore, dead: boolean, olderThan: string | undefined): number {
  const ms = parseDuration(olderThan);
  if (!dead || ms === undefined) return fail(`events purge needs --dead and --older-than DURATION (like 7d)\n${usage}`);
  process.stdout.write(`${store.purge({ status: 'dead', olderThan: Date.now() - ms })} dead deliveries removed.\n`);
  return 0;
}
