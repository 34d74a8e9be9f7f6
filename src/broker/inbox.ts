import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { scrubText } from '../core/secret.js';
import type { InboxItem, NewInboxItem } from '../store/inbox.js';
import type { SubscriptionRecord } from '../store/subscriptions.js';
import { dedupeKey } from '../webhooks/dedupe.js';
import type { WebhookEvent } from '../webhooks/events.js';
import { parseJsonBody } from '../webhooks/parse-json-body.js';
import { parseWebhook } from '../webhooks/parse-webhook.js';
import type { VerifiedDelivery } from '../webhooks/webhook-handler.js';
import { mediaIdsOf } from './object-ownership.js';
import { type BrokerStore, parseRowId } from './ports.js';
import { createWorkerLoop } from './worker-loop.js';

/** The key a whole delivery is de-duplicated on: Meta's retries resend the same bytes. */
export function deliveryKey(rawBody: Uint8Array): string {
  return createHash('sha256').update(rawBody).digest('hex');
}

/** The event type name subscriptions filter on. */
export function eventTypeOf(event: WebhookEvent): string {
  return event.type;
}

/** Whether a subscription takes events of this type: no filter, `*`, or the type named (as the store's filter reads it). */
export function subscriptionWants(sub: SubscriptionRecord, type: string): boolean {
  return sub.active && (sub.events.length === 0 || sub.events.includes('*') || sub.events.includes(type));
}

/** A stable id per event: its Meta identity when it has one (message id, status), else its place in the delivery. */
export function eventIdOf(event: WebhookEvent, inboxId: number, index: number): string {
  return dedupeKey(event) ?? `${inboxId}:${index}`;
}

/** Deliveries committed together at most (one multi-row INSERT). */
const GROUP_COMMIT_MAX = 200;

interface Waiting {
  input: NewInboxItem;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Where the writer hands rows it just committed to this instance's dispatcher, so they are processed from memory
 * instead of being claimed back from the store (one write per row less). `lease` is undefined when the dispatcher
 * is stopped or has enough in hand already: the rows are then stored plain pending, for any instance to claim.
 */
export interface InboxHandoff {
  lease(count: number): { owner: string; expiresAtMs: number } | undefined;
  accept(rows: InboxItem[], leaseExpiresAtMs: number): void;
}

/**
 * `beforeAck` for the webhook endpoint: the raw body is committed before Meta gets its 200, so nothing
 * acknowledged is ever lost. A repeated body (Meta retrying) is recognised and not stored twice.
 *
 * Group commit: deliveries arriving while a commit is being prepared or in flight are stored together in the next
 * one (one statement, one transaction), and each is answered only once its commit is done; a failed commit fails
 * every delivery in it (500: Meta delivers again). Per-request commits made the database the bottleneck of a burst
 * (bench/webhook-ingest.js).
 */
export function createInboxWriter(
  store: BrokerStore,
  onResult: (result: 'accepted' | 'duplicate') => void,
  handoff?: InboxHandoff,
) {
  let queue: Waiting[] = [];
  let flushing = false;
  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, GROUP_COMMIT_MAX);
      queue = queue.slice(batch.length);
      try {
        const lease = handoff?.lease(batch.length);
        const inputs = batch.map((w) => w.input);
        const results = await store.inbox.insertMany(inputs, lease);
        const handed: InboxItem[] = [];
        batch.forEach((w, i) => {
          const result = results[i];
          onResult(result?.duplicate ? 'duplicate' : 'accepted');
          if (lease && result && !result.duplicate && result.id !== undefined) {
            const { body, dedupeKey, receivedAtMs } = inputs[i] as NewInboxItem;
            // The row as the store now holds it: leased to this instance, first attempt.
            handed.push({
              id: result.id,
              body: Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
              signatureValid: true,
              dedupeKey,
              status: 'processing',
              attempts: 1,
              receivedAtMs,
              availableAtMs: receivedAtMs,
              tenantId: null,
              leaseOwner: lease.owner,
              leaseExpiresAtMs: lease.expiresAtMs,
              lastError: null,
              processedAtMs: null,
            });
          }
          w.resolve();
        });
        if (lease && handed.length > 0) handoff?.accept(handed, lease.expiresAtMs);
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    flushing = false;
  }
  return (delivery: VerifiedDelivery): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queue.push({
        input: {
          body: delivery.rawBody,
          signatureValid: true,
          dedupeKey: deliveryKey(delivery.rawBody),
          receivedAtMs: delivery.receivedAtMs,
        },
        resolve,
        reject,
      });
      if (!flushing) {
        flushing = true;
        // After this round of I/O callbacks: the requests read in the same round share the commit.
        setImmediate(() => void flush());
      }
    });
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
  /** Rows held in memory from the writer's hand-off at most; past it new rows are stored plain pending. */
  handoffMax?: number;
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
  const handoffMax = options.handoffMax ?? 2_000;
  // Rows this instance committed leased to itself, oldest first, with their lease expiry.
  let handedOff: Array<{ row: InboxItem; leaseExpiresAtMs: number }> = [];
  let running = false;
  let lastClaimAtMs = Number.NEGATIVE_INFINITY;

  /**
   * The next rows to process: the handed-off ones first (no store write to claim them). The store is asked when
   * nothing is in hand, and at least once per poll interval even when there is, so rows of other origins (replays,
   * a crashed instance's) are not starved by a steady stream of hand-offs. Not more often: the rows in hand are
   * `processing` in the store, and a claim looks past them.
   */
  async function nextRows(): Promise<InboxItem[]> {
    const now = clock.now();
    const rows: InboxItem[] = [];
    let taken = 0;
    while (taken < handedOff.length && rows.length < batch) {
      const entry = handedOff[taken++] as (typeof handedOff)[number];
      // A row whose lease is about to lapse is left to the store: another instance may claim it any moment.
      if (entry.leaseExpiresAtMs - now > leaseMs / 2) rows.push(entry.row);
    }
    if (taken > 0) handedOff = handedOff.slice(taken);
    if (rows.length === 0 || now - lastClaimAtMs >= (options.pollMs ?? 1000)) {
      lastClaimAtMs = now;
      rows.push(...(await store.inbox.claimPending(now, batch, options.instanceId, leaseMs)));
    }
    return rows;
  }

  type Memo = {
    tenants: Map<string, Promise<string | undefined>>;
    subscriptions: Map<string, ReturnType<BrokerStore['subscriptions']['listByTenant']>>;
  };

  function tenantOf(event: WebhookEvent, memo: Memo): Promise<string | undefined> {
    const key = `${event.phoneNumberId ?? ''}|${event.wabaId ?? ''}`;
    let hit = memo.tenants.get(key);
    if (!hit) {
      hit = (async () => {
        if (event.phoneNumberId) {
          const row = await store.phoneNumbers.get(event.phoneNumberId);
          if (row) return row.tenantId;
        }
        return event.wabaId ? store.phoneNumbers.tenantOfWaba(event.wabaId) : undefined;
      })();
      memo.tenants.set(key, hit);
    }
    return hit;
  }

  /** Processes what is pending now; returns how many inbox rows it handled. */
  async function runOnce(): Promise<number> {
    // Let the webhook endpoint go first: on SQLite every query below resolves at once, so without this a batch ran
    // as one long chain of microtasks while deliveries waited to be read and acknowledged.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const rows = await nextRows();
    // Lookups shared by the rows of this batch (a burst is mostly one number's events): fewer queries per row.
    const memo: Memo = { tenants: new Map(), subscriptions: new Map() };
    const done: Array<{ id: number; tenantId: string | null }> = [];
    let queued = 0;
    for (const row of rows) {
      try {
        const payload = parseJsonBody(row.body);
        const events = parseWebhook(payload);
        let rowTenant: string | null = null;
        // Further tenants whose events this body carries too: the row is listed under each of them.
        let moreTenants: Set<string> | undefined;
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as WebhookEvent;
          const tenantId = await tenantOf(event, memo);
          if (!tenantId) continue;
          rowTenant ??= tenantId;
          // A customer's media becomes the tenant's before any delivery about it can go out: a subscriber that
          // fetches it on receipt finds it allowed, on any instance.
          const media = mediaIdsOf(event);
          if (media.length > 0) {
            await store.objects.record(
              media.map((objectId) => ({ objectId, tenantId, kind: 'media', origin: 'webhook' })),
              clock.now(),
            );
          }
          if (tenantId !== rowTenant) {
            moreTenants ??= new Set();
            moreTenants.add(tenantId);
          }
          const type = eventTypeOf(event);
          let subs = memo.subscriptions.get(tenantId);
          if (!subs) {
            subs = store.subscriptions.listByTenant(tenantId);
            memo.subscriptions.set(tenantId, subs);
          }
          const subscriptions = await subs;
          for (const sub of subscriptions) {
            if (!subscriptionWants(sub, type)) continue;
            const { duplicate } = await store.deliveries.enqueue(
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
            if (!duplicate) queued++;
          }
        }
        if (moreTenants) await store.inbox.addTenants(row.id, [...moreTenants]);
        done.push({ id: row.id, tenantId: rowTenant });
      } catch (err) {
        const message = scrubText(err instanceof Error ? err.message : String(err)).slice(0, 300);
        logger.error('inbox row failed', { inboxId: row.id, error: message });
        // A body that cannot be parsed or routed will not get better by retrying: dead-letter it (replayable).
        await store.inbox.markFailed(row.id, message, null).catch(() => undefined);
      }
    }
    // One commit for the batch. A crash before it leaves the rows leased: they are processed again after the lease,
    // and UNIQUE(subscription, event id) keeps their deliveries from being queued twice.
    if (done.length > 0) await store.inbox.markDoneMany(done, clock.now());
    if (queued > 0) options.onQueued?.();
    return rows.length;
  }

  const loop = createWorkerLoop('inbox dispatcher', runOnce, { clock, logger, pollMs: options.pollMs });
  const handoff: InboxHandoff = {
    lease(count) {
      if (!running || handedOff.length + count > handoffMax) return undefined;
      return { owner: options.instanceId, expiresAtMs: clock.now() + leaseMs };
    },
    accept(rows, leaseExpiresAtMs) {
      for (const row of rows) handedOff.push({ row, leaseExpiresAtMs });
      loop.poke();
    },
  };
  return {
    runOnce,
    handoff,
    ...loop,
    start(): void {
      running = true;
      loop.start();
    },
    async stop(): Promise<void> {
      running = false;
      await loop.stop();
      // What is still in hand is processed now (the server stopped taking webhooks before this); what a store error
      // leaves stays leased in the store, for whichever instance claims it after the lease.
      while (handedOff.length > 0) {
        try {
          await runOnce();
        } catch {
          break;
        }
      }
    },
  };
}

/**
 * Replays a received webhook: its events' existing deliveries (dead or delivered, to subscriptions still active) go
 * back to pending with a fresh retry schedule and their original ids (`webhook-id`), and the row is processed again
 * so subscriptions added since get new deliveries (the existing ones are kept by UNIQUE(subscription, event id)).
 * `undefined`: no such row; `alreadyPending`: it is queued already (nothing changed).
 */
export async function replayWebhook(
  store: BrokerStore,
  inboxId: string,
  nowMs: number,
): Promise<{ alreadyPending: boolean; deliveries: number } | undefined> {
  const id = parseRowId(inboxId);
  const row = id === undefined ? undefined : await store.inbox.get(id);
  if (!row) return undefined;
  if (row.status === 'pending' || row.status === 'processing') return { alreadyPending: true, deliveries: 0 };
  let eventIds: string[] = [];
  try {
    eventIds = parseWebhook(parseJsonBody(row.body)).map((event, i) => eventIdOf(event, row.id, i));
  } catch {
    // An unparseable body has no deliveries; processing it again dead-letters it again.
  }
  const deliveries = eventIds.length > 0 ? await store.deliveries.requeueEvents(eventIds, nowMs) : 0;
  const requeued = await store.inbox.requeue(row.id, nowMs);
  return { alreadyPending: !requeued && deliveries === 0, deliveries };
}
