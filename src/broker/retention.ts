import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { BrokerStore } from './ports.js';
import { createWorkerLoop } from './worker-loop.js';

/** Customer content is kept this long by default (`WACLOUD_CONTENT_RETENTION_DAYS`). */
export const DEFAULT_CONTENT_RETENTION_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes customer content past its retention: webhook bodies in the inbox and the delivery payloads made from them
 * (both encrypted at rest meanwhile). Runs hourly in bounded batches, on every instance (a batch another instance
 * deleted first is simply not found). Routing metadata (phone numbers, object owners, the audit log) is not touched.
 */
export function createRetentionSweeper(options: {
  store: BrokerStore;
  clock: Clock;
  logger: Logger;
  retentionDays?: number;
  batchSize?: number;
  pollMs?: number;
}) {
  const days = options.retentionDays ?? DEFAULT_CONTENT_RETENTION_DAYS;
  const batch = options.batchSize ?? 1000;
  async function runOnce(): Promise<number> {
    const cutoffMs = options.clock.now() - days * DAY_MS;
    const { webhooks, deliveries } = await options.store.retention.purge(cutoffMs, batch);
    if (webhooks + deliveries > 0) {
      options.logger.info('retention: customer content deleted', {
        webhooks,
        deliveries,
        retentionDays: days,
      });
    }
    return webhooks + deliveries;
  }
  return {
    runOnce,
    ...createWorkerLoop('retention sweeper', runOnce, {
      clock: options.clock,
      logger: options.logger,
      pollMs: options.pollMs ?? 60 * 60 * 1000,
    }),
  };
}
