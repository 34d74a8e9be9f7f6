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
  /** In the heap (not yet run, not dropped). */
  queued: boolean;
  cancelled: boolean;
}

/** Due time, then scheduling order. */
const before = (a: Task, b: Task): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

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
  /** A binary min-heap on (due time, sequence): a send under load schedules thousands of status jobs. */
  #tasks: Task[] = [];
  /** Cancelled jobs still in the heap (dropped lazily when they reach the top). */
  #cancelled = 0;
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #listeners = new Set<() => void>();

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

  /** Calls `listener` each time `advance`/`set` moves the time (the emulator saves the offset). Returns an unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Number of scheduled jobs not yet run. */
  get pending(): number {
    return this.#tasks.length - this.#cancelled;
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
    const task: Task = { at: atMs, seq: this.#seq++, run, queued: true, cancelled: false };
    this.#push(task);
    if (this.#tasks[0] === task && !this.#running) this.#arm();
    return () => {
      if (task.cancelled || !task.queued) return;
      task.cancelled = true;
      this.#cancelled++;
    };
  }

  #push(task: Task): void {
    const h = this.#tasks;
    let i = h.length;
    h.push(task);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as Task;
      if (!before(task, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = task;
  }

  /** The next job that is not cancelled (cancelled ones on top are dropped). */
  #peek(): Task | undefined {
    let top = this.#tasks[0];
    while (top?.cancelled) {
      this.#pop();
      this.#cancelled--;
      top = this.#tasks[0];
    }
    return top;
  }

  #pop(): Task | undefined {
    const h = this.#tasks;
    const top = h[0];
    if (top) top.queued = false;
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(h[r] as Task, h[l] as Task) ? r : l;
      if (!before(h[child] as Task, last)) break;
      h[i] = h[child] as Task;
      i = child;
    }
    h[i] = last;
    return top;
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
    for (const listener of this.#listeners) listener();
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
      const next = this.#peek();
      if (!next || next.at > this.now()) return;
      this.#pop();
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
    const next = this.#peek();
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
    for (const t of this.#tasks) t.queued = false;
    this.#tasks = [];
    this.#cancelled = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
