// Runs the built CLI (dist/cli.js) as a real process: started with a minimal environment, its
// output collected, killed at the test's teardown if still running, and bounded in time.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');
/** Generous upper bound for any one CLI run; a hang fails the test instead of the whole file. */
export const RUN_LIMIT_MS = 20_000;

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  exited: Promise<Exited>;
  output: () => { stdout: string; stderr: string };
}

/** Fails early, with the fix, when the CLI has not been built. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (\`npm test\` does it before tap)`);
}

/** A minimal environment, so nothing from the caller's shell (ROUTES_FILE, PORT, CRM_URL, ...) leaks in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...extra };
}

export function startCli(t: Test, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Started {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exited>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** Resolves with how the process ended, or undefined if it is still running after `ms`. */
export async function exitWithin(process: Started, ms: number): Promise<Exited | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([process.exited, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the CLI to its end (killed, and the test failed, after RUN_LIMIT_MS). */
export async function runCli(t: Test, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Exited> {
  const started = startCli(t, args, options);
  const result = await exitWithin(started, RUN_LIMIT_MS);
  if (result === undefined) {
    started.child.kill('SIGKILL');
    t.fail(`hms-tool-router ${args.join(' ')} did not exit within ${RUN_LIMIT_MS}ms`);
    return started.exited;
  }
  return result;
}


/** The JSON log records a process has written so far; a line still being written is not read. */
export function logRecords(stdout: string): Record<string, unknown>[] {
  return stdout
    .slice(0, stdout.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Resolves with the first JSON log record on stdout that matches; rejects if the process exits first or on timeout. */
export function waitForLog(server: Started, match: (record: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const stdout = server.child.stdout!;
    const check = () => {
      const found = logRecords(server.output().stdout).find(match);
      if (found) {
        cleanup();
        resolve(found);
      }
    };
    const onExit = () => {
      cleanup();
      const { stdout: out, stderr } = server.output();
      reject(new Error(`exited before the log line; stdout: ${out} stderr: ${stderr}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no matching log line within ${timeoutMs}ms; stdout: ${server.output().stdout}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      stdout.off('data', check);
      server.child.off('exit', onExit);
    };
    stdout.on('data', check);
    server.child.once('exit', onExit);
    check();
  });
}

/** `serve` on 127.0.0.1 port 0; resolves with its address once it logs that it is listening. */
export async function serveCli(t: Test, routesFile: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Started & { url: string }> {
  const started = startCli(t, ['serve', '--routes', routesFile, '--port', '0', '--host', '127.0.0.1'], options);
  const listening = await waitForLog(started, (record) => record.msg === 'hms-tool-router listening', RUN_LIMIT_MS);
  return { ...started, url: String(listening.address) };
}

/** `events list --json` with the given extra flags, parsed; fails the test on a non-zero exit. */
export async function eventsListJson(t: Test, cwd: string, routes: string, ...flags: string[]): Promise<Record<string, unknown>[]> {
  const result = await runCli(t, ['events', 'list', '--json', '--routes', routes, ...flags], { cwd });
  t.equal(result.code, 0, `events list --json ${flags.join(' ')} exits 0${result.code === 0 ? '' : `: ${result.stderr}`}`);
  return logRecords(result.stdout);
}

/** Polls `events list --json` until `predicate` holds; throws after `timeoutMs`. */
export async function eventsListUntil(t: Test, cwd: string, routes: string, predicate: (records: Record<string, unknown>[]) => boolean, what: string, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
  const stop = Date.now() + timeoutMs;
  for (;;) {
    const result = await runCli(t, ['events', 'list', '--json', '--routes', routes], { cwd });
    const records = result.code === 0 ? logRecords(result.stdout) : [];
    if (predicate(records)) return records;
    if (Date.now() > stop) throw new Error(`${what}: not within ${timeoutMs}ms; last list: ${result.stdout}${result.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The secret the outbox CLI and crash tests sign with. */
export const OUTBOX_SECRET = 'cli-test-secret-0123456789';

/** A routes file with its outbox at `storePath` and end-of-call-report going to `target`, retried fast. */
export function outboxRoutesYaml(storePath: string, target = 'http://127.0.0.1:9/calls'): string {
  return [
    'version: 1',
    'account:',
    `  secrets: [${OUTBOX_SECRET}]`,
    'events:',
    `  end-of-call-report: { url: "${target}" }`,
    'store:',
    `  path: ${JSON.stringify(storePath)}`,
    'delivery:',
    '  retry: { initial: 50ms, max: 200ms }',
    '',
  ].join('\n');
}
