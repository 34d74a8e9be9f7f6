import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { scrubText } from '../core/secret.js';
import { dedupeKey } from '../webhooks/dedupe.js';
import type { WebhookEvent } from '../webhooks/events.js';
import { parseJsonBody } from '../webhooks/parse-json-body.js';
import { parseWebhook } from '../webhooks/parse-webhook.js';
import type { VerifiedDelivery } from '../webhooks/webhook-handler.js';
import type { BrokerStore } from './ports.js';
import { createWorkerLoop } from './worker-loop.js';

/** The key a whole delivery is de-duplicated on: Meta's retries resend the same bytes. */
export function deliveryKey(rawBody: Uint8Array): string {
  return createHash('sha256').update(rawBody).digest('hex');
}

/** The event type name subscriptions filter on. */
export function eventTypeOf(event: WebhookEvent): string {
  return event.type;
}

/** A stable id per event: its Meta identity when it has one (message id, status), else its place in the delivery. */
export function eventIdOf(event: WebhookEvent, inboxId: string, index: number): string {
  return dedupeKey(event) ?? `${inboxId}:${index}`;
}

/**
 * `beforeAck` for the webhook endpoint: the raw body is committed before Meta gets its 200, so nothing
 * acknowledged is ever lost. A repeated body (Meta retrying) is recognised and not stored twice.
 */
export function createInboxWriter(store: BrokerStore, onResult: (result: 'accepted' | 'duplicate') => void) {
  return async (delivery: VerifiedDelivery): Promise<void> => {
    const { duplicate } = await store.inbox.insert({
      rawBody: delivery.rawBody,
      dedupeKey: deliveryKey(delivery.rawBody),
      receivedAtMs: delivery.receivedAtMs,
    });
    onResult(duplicate ? 'duplicate' : 'accepted');
  };
}

export interface InboxDispatcherOptions {
  store: BrokerStore;
  clock: Clock;
  logger: Logger;
  instanceId: string;
  /** Called when new delivery rows were queued, so the delivery worker wakes at once. */
  onQueued?: () => void;
  batchSize?: number;
  leaseMs?: number;
  /** How often to look for work when not woken. Default 1 s. */
  pollMs?: number;
}

/**
 * Turns inbox rows into deliveries: parse, route each event to its tenant by `phone_number_id` (or WABA), and queue
 * one delivery per matching subscription, exactly once per (subscription, event id).
 */
export function createInboxDispatcher(options: InboxDispatcherOptions) {
  const { store, clock, logger } = options;
  const batch = options.batchSize ?? 50;
  // Short: a row leased by an instance that crashed waits this long before another (or the restarted one) takes it.
  // Processing a row takes milliseconds; exactly-once holds anyway through UNIQUE(subscription, event id).
  const leaseMs = options.leaseMs ?? 10_000;

  async function tenantOf(event: WebhookEvent): Promise<string | undefined> {
    if (event.phoneNumberId) {
      const row = await store.phoneNumbers.get(event.phoneNumberId);
      if (row) return row.tenantId;
    }
    return event.wabaId ? store.phoneNumbers.tenantOfWaba(event.wabaId) : undefined;
  }

  /** Processes what is pending now; returns how many inbox rows it handled. */
  async function runOnce(): Promise<number> {
    const rows = await store.inbox.claimPending(batch, options.instanceId, clock.now(), leaseMs);
    let queued = 0;
    for (const row of rows) {
      try {
        const payload = parseJsonBody(Buffer.from(row.rawBody).toString('utf8'));
        const events = parseWebhook(payload);
        let rowTenant: string | null = null;
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as WebhookEvent;
          const tenantId = await tenantOf(event);
          if (!tenantId) continue;
          rowTenant ??= tenantId;
          const type = eventTypeOf(event);
          const subscriptions = await store.subscriptions.listByTenant(tenantId);
          for (const sub of subscriptions) {
            if (!sub.active || (sub.events.length > 0 && !sub.events.includes(type))) continue;
            const added = await store.deliveries.enqueue(
              {
                subscriptionId: sub.id,
                tenantId,
                eventId: eventIdOf(event, row.id, i),
                eventType: type,
                payload: JSON.stringify({
                  type: `whatsapp.${type}`,
                  timestamp: new Date(row.receivedAtMs).toISOString(),
                  data: event,
                }),
                nextAttemptAtMs: clock.now(),
              },
              clock.now(),
            );
            if (added) queued++;
          }
        }
        await store.inbox.markProcessed(row.id, rowTenant, clock.now());
      } catch (err) {
        const message = scrubText(err instanceof Error ? err.message : String(err)).slice(0, 300);
        logger.error('inbox row failed', { inboxId: row.id, error: message });
        await store.inbox.markFailed(row.id, message, clock.now()).catch(() => undefined);
      }
    }
    if (queued > 0) options.onQueued?.();
    return rows.length;
  }

  return {
    runOnce,
    ...createWorkerLoop('inbox dispatcher', runOnce, { clock, logger, pollMs: options.pollMs }),
  };
}
