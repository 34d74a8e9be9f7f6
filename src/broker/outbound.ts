import { request } from 'undici';
import { type Clock, systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { scrubText } from '../core/secret.js';
import type { DeliveryRecord } from '../store/subscriptions.js';
import type { BrokerStore } from './ports.js';
import { signStandardWebhook } from './standard-webhooks.js';
import { createWorkerLoop } from './worker-loop.js';

export interface DeliveryWorkerOptions {
  store: BrokerStore;
  clock: Clock;
  logger: Logger;
  instanceId: string;
  /** Attempts before a delivery is dead-lettered. Default 8 (about a day with the default backoff). */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt, capped at `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  batchSize?: number;
  leaseMs?: number;
  pollMs?: number;
  random?: () => number;
  onResult?: (result: 'delivered' | 'retry' | 'dead') => void;
  /** POSTs one delivery; injectable for tests. Resolves with the HTTP status. */
  send?: (url: string, headers: Record<string, string>, body: string, timeoutMs: number) => Promise<number>;
}

async function postJson(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<number> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'wacloud-broker', ...headers },
    body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  await res.body.dump();
  return res.statusCode;
}

/**
 * Delivers queued events to tenant subscriptions, signed the Standard Webhooks way. A 2xx is delivered; anything else
 * (or no answer) is retried with exponential backoff and jitter, then dead-lettered; dead deliveries can be replayed.
 * The delivery id is the `webhook-id`, so a subscriber that sees a retry of something it already processed can tell.
 */
export function createDeliveryWorker(options: DeliveryWorkerOptions) {
  const { store, clock, logger } = options;
  const maxAttempts = options.maxAttempts ?? 8;
  const base = options.baseDelayMs ?? 5_000;
  const maxDelay = options.maxDelayMs ?? 6 * 60 * 60 * 1000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const random = options.random ?? Math.random;
  const send = options.send ?? postJson;

  async function deliver(row: DeliveryRecord): Promise<void> {
    const sub = await store.subscriptions.get(row.subscriptionId);
    if (!sub?.active) {
      await store.deliveries.markFailed(row.id, 'subscription removed or inactive', null);
      options.onResult?.('dead');
      return;
    }
    // Receivers check webhook-timestamp against their own wall clock (5-minute tolerance): sign with real time,
    // even when a virtual clock (the sandbox's) drives the retries.
    const headers = signStandardWebhook(
      sub.secret,
      String(row.id),
      Math.floor(systemClock.now() / 1000),
      row.payload,
    );
    let error: string;
    try {
      const status = await send(sub.url, headers, row.payload, timeoutMs);
      if (status >= 200 && status < 300) {
        await store.deliveries.markDelivered(row.id, clock.now());
        options.onResult?.('delivered');
        return;
      }
      error = `subscriber answered HTTP ${status}`;
    } catch (err) {
      error = scrubText(
        `subscriber unreachable: ${(err as { code?: string }).code ?? (err as Error).message}`,
      );
    }
    // claimDue counted this attempt already.
    const attempts = row.attempts;
    if (attempts >= maxAttempts) {
      await store.deliveries.markFailed(row.id, error, null);
      logger.warn('delivery dead-lettered', {
        deliveryId: row.id,
        subscriptionId: row.subscriptionId,
        attempts,
        error,
      });
      options.onResult?.('dead');
      return;
    }
    const ceiling = Math.min(maxDelay, base * 2 ** (attempts - 1));
    const delay = Math.round(ceiling / 2 + random() * (ceiling / 2));
    await store.deliveries.markFailed(row.id, error, clock.now() + delay);
    options.onResult?.('retry');
  }

  async function runOnce(): Promise<number> {
    const rows = await store.deliveries.claimDue(
      clock.now(),
      options.batchSize ?? 20,
      options.instanceId,
      options.leaseMs ?? Math.max(15_000, timeoutMs * 3),
    );
    await Promise.all(
      rows.map((row) =>
        deliver(row).catch((err) =>
          logger.error('delivery', { deliveryId: row.id, error: scrubText(String(err)) }),
        ),
      ),
    );
    return rows.length;
  }

  return {
    runOnce,
    ...createWorkerLoop('delivery worker', runOnce, { clock, logger, pollMs: options.pollMs }),
  };
}
