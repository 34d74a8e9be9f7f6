import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { scrubText } from '../core/secret.js';

/**
 * A background loop: run a batch; if it found work, run again at once; else sleep `pollMs` on the clock unless
 * poked. Errors are logged and the loop goes on. Shared by the inbox dispatcher and the delivery worker.
 */
export function createWorkerLoop(
  name: string,
  runOnce: () => Promise<number>,
  options: { clock: Clock; logger: Logger; pollMs?: number },
) {
  let stopped = true;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  return {
    poke(): void {
      wake?.();
    },
    start(): void {
      if (!stopped) return;
      stopped = false;
      loop = (async () => {
        while (!stopped) {
          let handled = 0;
          try {
            handled = await runOnce();
          } catch (err) {
            options.logger.error(name, { error: scrubText(String((err as Error)?.message ?? err)) });
          }
          if (handled > 0 || stopped) continue;
          const controller = new AbortController();
          // Once: every abort() call builds a DOMException, and the webhook path pokes once per delivery.
          wake = () => {
            wake = undefined;
            controller.abort();
          };
          await options.clock.sleep(options.pollMs ?? 1000, controller.signal).catch(() => undefined);
          wake = undefined;
        }
      })();
    },
    async stop(): Promise<void> {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
