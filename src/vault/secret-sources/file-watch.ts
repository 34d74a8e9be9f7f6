import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { type Clock, systemClock } from '../../core/clock.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import type { Secret } from '../../core/secret.js';
import type { SecretChangeListener } from './types.js';

/** How a watch notices changes. */
export interface WatchOptions {
  /**
   * `'auto'` (default): fs.watch on the directory, falling back to polling when the platform or filesystem refuses
   * it (network filesystems, inotify limits). `'poll'`: always poll on the clock.
   */
  mode?: 'auto' | 'poll';
  /** Polling interval (default 2 s). */
  pollIntervalMs?: number;
  /** The clock polling sleeps on (a ManualClock in tests). */
  clock?: Clock;
  /** Where read failures during a watch are reported (never with a value). */
  logger?: Logger;
}

/** Options for {@link createPollingWatch}. */
export interface PollingWatchOptions {
  intervalMs: number;
  clock?: Clock;
  logger?: Logger;
  /** Source name and key, for log lines. */
  label?: { source: string; key: string };
}

function same(a: Secret | undefined, b: Secret | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

/**
 * Keeps the last value of `read()` and calls `onChange` when a check finds a different one. Checks never overlap:
 * a trigger during a check schedules one more check after it.
 */
export function createChangeDetector(
  read: () => Promise<Secret | undefined>,
  onChange: SecretChangeListener,
  logger: Logger,
  label: { source: string; key: string },
): { check(): Promise<void>; stop(): void; ready: Promise<void> } {
  let last: Secret | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  const run = async (notify: boolean): Promise<void> => {
    try {
      do {
        again = false;
        try {
          const value = await read();
          if (stopped) return;
          if (notify && !same(last, value)) {
            last = value;
            onChange(value);
          } else {
            last = value;
          }
        } catch (err) {
          logger.warn('secret watch: reading the new value failed', { ...label, error: err });
        }
        notify = true;
      } while (again && !stopped);
    } finally {
      running = undefined;
    }
  };
  const start = (notify: boolean): Promise<void> => {
    running = run(notify);
    return running;
  };
  const ready = start(false);
  return {
    ready,
    /** Resolves when the check (or the one already running, which will re-read once more) is done. */
    check() {
      if (stopped) return Promise.resolve();
      if (running) {
        again = true;
        return running;
      }
      return start(true);
    },
    stop() {
      stopped = true;
    },
  };
}

/**
 * Watches any source by asking it again every `intervalMs` on the given clock: for backends with no change feed
 * (Vault, AWS, GCP) and as the fallback for files. Returns the unsubscribe function.
 *
 * @example
 * const stop = createPollingWatch(() => vault.get('wacloud/prod#app_secret'), (v) => rotate(v), { intervalMs: 60_000 });
 */
export function createPollingWatch(
  read: () => Promise<Secret | undefined>,
  onChange: SecretChangeListener,
  options: PollingWatchOptions,
): () => void {
  const clock = options.clock ?? systemClock;
  const detector = createChangeDetector(
    read,
    onChange,
    options.logger ?? silentLogger,
    options.label ?? { source: 'poll', key: '' },
  );
  const abort = new AbortController();
  void (async () => {
    await detector.ready;
    while (!abort.signal.aborted) {
      try {
        await clock.sleep(options.intervalMs, abort.signal);
      } catch {
        return; // aborted
      }
      // Wait for the read before sleeping again: reads never pile up behind a slow backend.
      await detector.check();
    }
  })();
  return () => {
    detector.stop();
    abort.abort();
  };
}

/**
 * Watches a file's value by watching its directory: Kubernetes updates mounted secrets by swapping a `..data`
 * symlink, which a watch on the file itself never sees. Any event in the directory triggers a re-read; only a real
 * change of value reaches `onChange`.
 */
export function watchFileValue(
  dir: string,
  read: () => Promise<Secret | undefined>,
  onChange: SecretChangeListener,
  options: WatchOptions & { label: { source: string; key: string } },
): () => void {
  const logger = options.logger ?? silentLogger;
  const pollIntervalMs = options.pollIntervalMs ?? 2_000;
  const poll = (): (() => void) =>
    createPollingWatch(read, onChange, {
      intervalMs: pollIntervalMs,
      label: options.label,
      logger,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  if (options.mode === 'poll') return poll();

  const detector = createChangeDetector(read, onChange, logger, options.label);
  let watcher: FSWatcher | undefined;
  let stopPolling: (() => void) | undefined;
  let stopped = false;
  const fallBack = (err: unknown): void => {
    watcher?.close();
    watcher = undefined;
    if (stopped || stopPolling) return;
    logger.warn('secret watch: fs.watch failed, polling instead', { ...options.label, error: err });
    detector.stop();
    stopPolling = poll();
  };
  try {
    watcher = fsWatch(dir, { persistent: false }, () => void detector.check());
    watcher.on('error', fallBack);
  } catch (err) {
    fallBack(err);
  }
  return () => {
    stopped = true;
    detector.stop();
    watcher?.close();
    stopPolling?.();
  };
}
