import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

export interface TokenSchedulerOptions {
  clock: Clock;
  logger: Logger;
  /** Upper bound of one sleep: work other instances scheduled shows up within this. */
  pollIntervalMs: number;
  /** A full batch was claimed at this size: sweep again at once. */
  batchSize: number;
  /** Processes every due credential once; returns how many were claimed. */
  sweep(): Promise<number>;
  /** The earliest next-check time this instance knows. */
  earliestDue(): number;
}

/**
 * The renewal loop: sweep, then sleep on the injected clock until the next credential is due (or a poll interval),
 * woken early by {@link kick} when something changed. Also tracks every piece of background work, so {@link idle}
 * and {@link stop} can wait for it.
 */
export class TokenScheduler {
  readonly #o: TokenSchedulerOptions;
  readonly #pending = new Set<Promise<unknown>>();
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: AbortController | undefined;

  constructor(options: TokenSchedulerOptions) {
    this.#o = options;
  }

  /** Starts the loop (idempotent). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const { clock, logger, pollIntervalMs, batchSize } = this.#o;
    while (this.#running) {
      let claimed = 0;
      const sweep = this.#o.sweep();
      this.track(sweep);
      try {
        claimed = await sweep;
      } catch (err) {
        logger.error('token manager sweep failed', { err });
      }
      if (!this.#running) break;
      if (claimed >= batchSize) continue;
      let wait = Math.min(pollIntervalMs, this.#o.earliestDue() - clock.now());
      // Due work that could not be claimed (another instance holds it): do not spin.
      if (wait <= 0) wait = claimed === 0 ? Math.min(1000, pollIntervalMs) : 0;
      const wake = new AbortController();
      this.#wake = wake;
      try {
        await clock.sleep(wait, wake.signal);
      } catch {
        // Woken early: something changed.
      }
      this.#wake = undefined;
    }
  }

  /** Wakes the loop to recompute its next wake-up (after an add, a rotation, a store refresh). */
  kick(): void {
    this.#wake?.abort();
  }

  /** Remembers background work until it settles. */
  track(p: Promise<unknown>): void {
    this.#pending.add(p);
    p.then(
      () => this.#pending.delete(p),
      () => this.#pending.delete(p),
    );
  }

  /** Resolves once no tracked work started so far is still running. */
  async idle(): Promise<void> {
    // One macrotask first, so a loop woken by a clock advance has started its sweep before we look.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.size > 0) {
      await Promise.allSettled([...this.#pending]);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Stops the loop and waits for work in progress. */
  async stop(): Promise<void> {
    this.#running = false;
    this.kick();
    await this.#loop;
    this.#loop = undefined;
    await this.idle();
  }
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function forEachConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < items.length) await fn(items[i++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
