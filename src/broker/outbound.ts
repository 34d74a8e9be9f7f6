import { Agent } from 'undici';
import { type Clock, systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { scrubText } from '../core/secret.js';
import type { DeliveryRecord } from '../store/subscriptions.js';
import type { Transport } from '../transport/types.js';
import { createUndiciTransport } from '../transport/undici-transport.js';
import type { OutboundPolicy } from './outbound-policy.js';
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
  /**
   * The transport deliveries go through: one built by {@link createOutboundTransport}, whose connections only reach
   * addresses the outbound policy allows. Ignored when `send` is given.
   */
  transport?: Transport;
  /** Checked again before each delivery (scheme, literal addresses); names are checked when the socket connects. */
  policy?: OutboundPolicy;
  /** POSTs one delivery; injectable for tests. Resolves with the HTTP status. */
  send?: (url: string, headers: Record<string, string>, body: string, timeoutMs: number) => Promise<number>;
}

/**
 * A transport for outbound webhooks: an undici Agent whose every connection resolves through the policy's lookup (a
 * name with any refused address fails; the socket dials the address that was checked, so a DNS answer that changes
 * between the check and the connect cannot slip through). No redirects are followed: a 3xx is an answer like any
 * other non-2xx (undici's Agent follows none unless asked).
 */
export function createOutboundTransport(policy: OutboundPolicy, connectTimeoutMs = 10_000): Transport {
  const agent = new Agent({
    connections: 64,
    keepAliveTimeout: 30_000,
    connect: { timeout: connectTimeoutMs, lookup: policy.lookup },
  });
  const transport = createUndiciTransport({ dispatcher: agent });
  return {
    request: (req) => transport.request(req),
    close: () => agent.close(),
  };
}

/** Whether `err` (or a cause of it) is the outbound policy refusing the destination. */
function refusedByPolicy(err: unknown): boolean {
  let cur: unknown = err;
  for (let depth = 0; depth < 6 && cur && typeof cur === 'object'; depth++) {
    if ((cur as { code?: unknown }).code === 'EOUTBOUNDREFUSED') return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

function transportSender(transport: Transport, policy: OutboundPolicy | undefined) {
  return async (url: string, headers: Record<string, string>, body: string, timeoutMs: number) => {
    policy?.checkBeforeConnect(new URL(url));
    const res = await transport.request({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'user-agent': 'wacloud-broker', ...headers },
      body,
      timeoutMs,
    });
    await res.discard();
    return res.status;
  };
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
  const ownTransport = options.send || options.transport ? undefined : createUndiciTransport();
  const send =
    options.send ?? transportSender(options.transport ?? (ownTransport as Transport), options.policy);

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
    // What the tenant sees (lastError) is the status and the timing only: no address, port, DNS answer or socket
    // error, which would make the broker a probe of the network it runs in. The operator's log has the cause.
    let error: string;
    const started = performance.now();
    const took = () => `after ${Math.round(performance.now() - started)} ms`;
    try {
      const status = await send(sub.url, headers, row.payload, timeoutMs);
      if (status >= 200 && status < 300) {
        await store.deliveries.markDelivered(row.id, clock.now());
        options.onResult?.('delivered');
        return;
      }
      error = `subscriber answered HTTP ${status}`;
    } catch (err) {
      const refused = refusedByPolicy(err);
      error = refused
        ? 'refused by the outbound policy (the destination is not a public address)'
        : `subscriber unreachable ${took()}`;
      logger.info('delivery failed', {
        deliveryId: row.id,
        subscriptionId: row.subscriptionId,
        error: scrubText(String((err as { message?: string }).message ?? err)),
      });
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

  const loop = createWorkerLoop('delivery worker', runOnce, { clock, logger, pollMs: options.pollMs });
  return {
    runOnce,
    ...loop,
    async stop() {
      await loop.stop();
      await ownTransport?.close();
    },
  };
}
