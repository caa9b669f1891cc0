// Hot reload of routes.yaml: on SIGHUP (server.ts) and when the file changes on disk. Changes are
// debounced, a file still being written is read again once it settles, identical content is
// ignored, and an invalid file is refused with the same diagnostics as `check`.

import { watch, type FSWatcher } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, formatDiagnostic } from './config/load.js';
import { createOffThreadParser } from './config/parse-off-thread.js';
import type { Config } from './config/schema.js';

export interface ReloaderDeps {
  file: string;
  /** The text the running routes were built from: the same text again is not a new version. */
  loadedText: string;
  apply: (config: Config) => number;
  failed: () => void;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Watch the file's directory; SIGHUP reloads either way. */
  watch: boolean;
  /** Quiet time after the last change before reading; a stream of changes waits at most `maxWaitMs`. */
  quietMs?: number;
  maxWaitMs?: number;
}

/** A large file's parser is warmed up this long after start: once the gateway is serving. */
const WARM_UP_DELAY_MS = 1000;

export type ReloadResult = { outcome: 'applied'; version: number } | { outcome: 'unchanged' } | { outcome: 'refused'; diagnostics: string[] };

export interface Reloader {
  /** Reads, validates and applies the file now; reloads never overlap. */
  reload(trigger: string): Promise<ReloadResult>;
  close(): void;
}

export async function createReloader(deps: ReloaderDeps): Promise<Reloader> {
  const { file, logger } = deps;
  const quietMs = deps.quietMs ?? 250;
  const maxWaitMs = deps.maxWaitMs ?? 1000;
  let appliedText = deps.loadedText;
  let running: Promise<ReloadResult> = Promise.resolve({ outcome: 'unchanged' });
  let closed = false;
  const env = deps.env ?? process.env;
  const parser = createOffThreadParser();
  // The first reload of a large table would otherwise start a worker, load its modules and run
  // a cold parser: seconds. Done in the background soon after start, it costs the reload nothing.
  const warmUp = setTimeout(() => parser.warmUp(deps.loadedText, file, env), WARM_UP_DELAY_MS).unref();

  async function readSettled(): Promise<string> {
    // A writer still at work changes size or mtime between our two looks: read again once it stops.
    for (let tries = 0; ; tries++) {
      const before = await stat(file);
      const text = await readFile(file, 'utf8');
      const after = await stat(file);
      if ((before.mtimeMs === after.mtimeMs && before.size === after.size) || tries >= 5) return text;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
  }

  async function reloadNow(trigger: string): Promise<ReloadResult> {
    let text: string;
    try {
      text = await readSettled();
    } catch (err) {
      deps.failed();
      const message = `${file} cannot be read: ${(err as Error).message}`;
      logger.error({ trigger, diagnostics: [message] }, 'routes reload refused: the running routes stay in force');
      return { outcome: 'refused', diagnostics: [message] };
    }
    if (text === appliedText) {
      logger.info({ trigger }, 'routes reload: the file is unchanged');
      return { outcome: 'unchanged' };
    }
    try {
      // Off the main thread: a large file takes seconds to parse, and calls must not wait for it.
      const { config, warnings } = await parser.parse(text, file, env);
      // Shutdown began while the file was parsed: nothing is applied to a closing gateway.
      if (closed) return { outcome: 'unchanged' };
      for (const warning of warnings) logger.warn({ file: warning.file, line: warning.line, col: warning.col }, warning.message);
      const version = deps.apply(config);
      appliedText = text;
      logger.info({ trigger, routes_version: version }, 'routes reloaded: new calls use the new routes, calls in progress keep theirs');
      return { outcome: 'applied', version };
    } catch (err) {
      // Shutdown stopped the parser mid-parse: not a failed reload.
      if (closed) return { outcome: 'unchanged' };
      deps.failed();
      // Anything else (the parser crashed, applying failed) is refused the same way: the running routes stay.
      const diagnostics = err instanceof ConfigError ? err.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic) : [`${file}: ${(err as Error).message}`];
      logger.error({ trigger, diagnostics }, 'routes reload refused: the running routes stay in force');
      return { outcome: 'refused', diagnostics };
    }
  }

  // One at a time; reloadNow never rejects, so one failure cannot block the reloads after it.
  const reload = (trigger: string) => {
    running = running.then(() => (closed ? { outcome: 'unchanged' as const } : reloadNow(trigger)));
    return running;
  };

  const watchers: FSWatcher[] = [];
  let quietTimer: NodeJS.Timeout | undefined;
  let firstChangeAt: number | undefined;
  const changed = () => {
    firstChangeAt ??= Date.now();
    clearTimeout(quietTimer);
    const wait = Math.max(0, Math.min(quietMs, firstChangeAt + maxWaitMs - Date.now()));
    quietTimer = setTimeout(() => {
      firstChangeAt = undefined;
      reload('file changed').catch((err: unknown) => logger.error({ err }, 'routes reload failed'));
    }, wait);
  };
  if (deps.watch) {
    // The directory, not the file: editors and config maps replace the file (rename, symlink swap),
    // which a watch on the file itself would not survive.
    // A symlinked file is also watched where it really lives.
    const real = await realpath(file).catch(() => file);
    const places = new Map([[dirname(file), basename(file)]]);
    if (dirname(real) !== dirname(file)) places.set(dirname(real), basename(real));
    for (const [dir, name] of places) {
      const watcher = watch(dir, { persistent: false }, (_event, entry) => {
        // Kubernetes swaps `..data`; other entries (a store file in the same directory) are not ours.
        if (entry === null || entry === name || entry.startsWith('..')) changed();
      });
      watcher.on('error', (err) => logger.warn({ dir, reason: err.message }, 'cannot watch the routes directory; SIGHUP still reloads'));
      watchers.push(watcher);
    }
  }

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(quietTimer);
      clearTimeout(warmUp);
      parser.close();
      for (const watcher of watchers) watcher.close();
    },
  };
}
