import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { createPollingWatch } from './file-watch.js';
import type { SecretChangeListener, SecretSource } from './types.js';

/** Options for {@link withPollingWatch}. */
export interface WithPollingWatchOptions {
  /** How often each watched key is read again. */
  intervalMs: number;
  clock?: Clock;
  /** Where failed re-reads are reported (never with a value). */
  logger?: Logger;
}

/**
 * Gives a source without a change feed (Vault, AWS, GCP) a `watch` that re-reads each watched key every
 * `intervalMs` on the clock and reports only real changes, so rotation in the backend reaches running code.
 *
 * @example
 * const vault = withPollingWatch(createVaultKvSource({ address, token }), { intervalMs: 60_000 });
 * const stop = vault.watch!('wacloud/prod#app_secret', (secret) => client.updateAppSecret(secret));
 */
export function withPollingWatch(source: SecretSource, options: WithPollingWatchOptions): SecretSource {
  return {
    ...source,
    name: source.name,
    get: (key) => source.get(key),
    ...(source.put ? { put: source.put.bind(source) } : {}),
    watch(key: string, onChange: SecretChangeListener): () => void {
      return createPollingWatch(() => source.get(key), onChange, {
        intervalMs: options.intervalMs,
        label: { source: source.name, key },
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
    },
  };
}
