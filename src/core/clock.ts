/**
 * Everything that waits on time takes a Clock, so tests drive virtual time and never patch globals.
 * `now()` is milliseconds since the epoch.
 */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const timer = setTimeout(done, Math.max(0, ms));
      function done(): void {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort(): void {
        clearTimeout(timer);
        reject(abortError(signal as AbortSignal));
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

interface Sleeper {
  at: number;
  resolve: () => void;
}

/**
 * A virtual clock: time moves only when told to. `advance` wakes every sleeper whose time has come, in order.
 * Used by tests and by the emulator, whose control API exposes it.
 */
export class ManualClock implements Clock {
  #now: number;
  #sleepers: Sleeper[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const sleeper: Sleeper = { at: this.#now + Math.max(0, ms), resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener(
        'abort',
        () => {
          this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
          reject(abortError(signal));
        },
        { once: true },
      );
    });
  }

  /** Moves time forward, waking sleepers due on the way; awaits microtasks between wake-ups. */
  async advance(ms: number): Promise<void> {
    await this.set(this.#now + ms);
  }

  async set(targetMs: number): Promise<void> {
    if (targetMs < this.#now) {
      this.#now = targetMs;
      return;
    }
    for (;;) {
      this.#sleepers.sort((a, b) => a.at - b.at);
      const next = this.#sleepers[0];
      if (!next || next.at > targetMs) break;
      this.#sleepers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.resolve();
      // Let the woken task run (and possibly schedule another sleep) before moving on.
      await new Promise<void>((r) => setImmediate(r));
    }
    this.#now = targetMs;
  }

  get pendingSleepers(): number {
    return this.#sleepers.length;
  }
}
