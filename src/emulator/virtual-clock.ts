import type { Clock } from '../core/clock.js';

/** Options for {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** Start time in ms since the epoch. Default: the real time. */
  startMs?: number;
  /**
   * `false` (default): time flows with the real clock plus an offset that `advance`/`set` move.
   * `true`: time stands still except when `advance`/`set` move it (deterministic tests).
   */
  frozen?: boolean;
}

interface Task {
  at: number;
  seq: number;
  run: () => unknown;
}

/** Longest real timer Node accepts without overflowing (about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The emulator's clock: real time plus an offset, so tests can jump hours or days ahead. It drives every expiry, TTL,
 * rate window and scheduled job (webhook retries, message statuses): a job fires when virtual time reaches its due
 * time, whether real time got there or `advance`/`set` did. Implements the shared {@link Clock}.
 *
 * @example
 * const clock = new VirtualClock();
 * await clock.advance(25 * 3600_000); // the 24-hour token has now expired
 */
export class VirtualClock implements Clock {
  #offset: number;
  #frozenAt: number | undefined;
  #tasks: Task[] = [];
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(options: VirtualClockOptions = {}) {
    const real = Date.now();
    const start = options.startMs ?? real;
    this.#offset = start - real;
    this.#frozenAt = options.frozen ? start : undefined;
  }

  now(): number {
    return this.#frozenAt ?? Date.now() + this.#offset;
  }

  get frozen(): boolean {
    return this.#frozenAt !== undefined;
  }

  /** Milliseconds virtual time is ahead of real time (negative when behind). */
  get offsetMs(): number {
    return this.now() - Date.now();
  }

  /** Number of scheduled jobs not yet run. */
  get pending(): number {
    return this.#tasks.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
      const cancel = this.schedule(this.now() + Math.max(0, ms), () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = (): void => {
        cancel();
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Runs `run` once virtual time reaches `atMs`. Returns a cancel function. A job's returned promise is awaited by
   * `advance`/`set`, so a test that advances past a webhook retry sees the attempt finished.
   */
  schedule(atMs: number, run: () => unknown): () => void {
    const task: Task = { at: atMs, seq: this.#seq++, run };
    // Insert in order (due time, then scheduling order): the list is short and mostly appended at the end.
    let i = this.#tasks.length;
    while (i > 0 && (this.#tasks[i - 1] as Task).at > atMs) i--;
    this.#tasks.splice(i, 0, task);
    if (i === 0 && !this.#running) this.#arm();
    return () => {
      const idx = this.#tasks.indexOf(task);
      if (idx >= 0) this.#tasks.splice(idx, 1);
    };
  }

  /** Moves virtual time forward by `ms` and runs (and awaits) every job that came due on the way, in order. */
  async advance(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError('advance() takes a finite, non-negative number of ms');
    await this.set(this.now() + ms);
  }

  /** Sets virtual time (ms since the epoch). Moving backwards is allowed; nothing runs then. */
  async set(targetMs: number): Promise<void> {
    if (!Number.isFinite(targetMs)) throw new RangeError('set() takes a finite time in ms');
    if (this.#frozenAt !== undefined) this.#frozenAt = targetMs;
    else this.#offset = targetMs - Date.now();
    await this.runDue();
  }

  /** Runs every job due now. Called by the real timer and after each `advance`/`set`. */
  async runDue(): Promise<void> {
    // Serialise runs so a job never runs twice and jobs keep their order.
    while (this.#running) await this.#running;
    this.#running = this.#drain();
    try {
      await this.#running;
    } finally {
      this.#running = undefined;
      this.#arm();
    }
  }

  async #drain(): Promise<void> {
    for (;;) {
      const next = this.#tasks[0];
      if (!next || next.at > this.now()) return;
      this.#tasks.shift();
      try {
        await next.run();
      } catch {
        // A job's failure is its own business (webhook attempts record theirs); the clock keeps going.
      }
    }
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const next = this.#tasks[0];
    if (!next || this.#closed) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next.at - this.now()));
    // A frozen clock only moves on advance/set, but jobs already due (a webhook right after a send) still run.
    if (this.#frozenAt !== undefined && delay > 0) return;
    this.#timer = setTimeout(() => void this.runDue(), delay);
    // Scheduled jobs must never keep a process (or a test runner) alive on their own.
    this.#timer.unref?.();
  }

  /** Cancels every job and the real timer. */
  close(): void {
    this.#closed = true;
    this.#tasks = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
