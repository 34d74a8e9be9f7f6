import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { sql } from 'kysely';
import { Secret } from '../core/secret.js';
import type { Db } from './engine.js';
import type { KeyStore } from './key-store.js';
import type { DeliveriesTable, SubscriptionsTable } from './schema.js';

/** An outbound webhook subscription of a tenant. The signing secret is encrypted at rest. */
export interface SubscriptionRecord {
  id: string;
  tenantId: string;
  url: string;
  secret: Secret;
  /** Event types it wants (`messages`, `credential.expiring`, ...); empty or `*` means all. */
  events: string[];
  active: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface NewSubscription {
  id?: string;
  tenantId: string;
  url: string;
  secret: Secret;
  events: string[];
  active?: boolean;
}

export type SubscriptionPatch = Partial<Pick<SubscriptionRecord, 'url' | 'secret' | 'events' | 'active'>>;

export interface SubscriptionRepository {
  create(sub: NewSubscription, nowMs: number): Promise<SubscriptionRecord>;
  get(id: string): Promise<SubscriptionRecord | undefined>;
  listByTenant(tenantId: string): Promise<SubscriptionRecord[]>;
  /** Active subscriptions of `tenantId` whose filter matches `eventType` (or `*`). */
  listForEvent(tenantId: string, eventType: string): Promise<SubscriptionRecord[]>;
  update(id: string, patch: SubscriptionPatch, nowMs: number): Promise<SubscriptionRecord | undefined>;
  /** Deletes it and its deliveries. */
  delete(id: string): Promise<boolean>;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

/** One event to deliver to one subscription; UNIQUE(subscription, event id) makes fan-out exactly-once. */
export interface DeliveryRecord {
  id: number;
  subscriptionId: string;
  /** The subscription's tenant (denormalised so a tenant's deliveries list without a join). */
  tenantId: string;
  inboxId: number | null;
  eventId: string;
  eventType: string;
  /** The JSON body to send. */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAtMs: number;
  leaseOwner: string | null;
  leaseExpiresAtMs: number | null;
  lastError: string | null;
  createdAtMs: number;
  deliveredAtMs: number | null;
}

export interface NewDelivery {
  subscriptionId: string;
  tenantId: string;
  inboxId?: number | null;
  eventId: string;
  eventType: string;
  payload: string;
  /** Default: now. */
  nextAttemptAtMs?: number;
}

export interface DeliveryRepository {
  /** Queues a delivery; the same (subscription, event id) twice stores one row and reports `duplicate: true`. */
  enqueue(delivery: NewDelivery, nowMs: number): Promise<{ delivery: DeliveryRecord; duplicate: boolean }>;
  get(id: number): Promise<DeliveryRecord | undefined>;
  /**
   * Leases up to `limit` pending deliveries due at `nowMs` whose lease is free or lapsed (SKIP LOCKED on PostgreSQL)
   * and counts the attempt.
   */
  claimDue(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<DeliveryRecord[]>;
  markDelivered(id: number, nowMs: number): Promise<void>;
  /** Retry at `nextAttemptAtMs`, or `dead` when it is null. */
  markFailed(id: number, error: string, nextAttemptAtMs: number | null): Promise<void>;
  listBySubscription(subscriptionId: string, limit?: number): Promise<DeliveryRecord[]>;
  /** A tenant's newest deliveries, optionally only those in `status` (`dead`: its dead letters). */
  listByTenant(tenantId: string, limit?: number, status?: DeliveryStatus): Promise<DeliveryRecord[]>;
  /** How many of a tenant's deliveries are in each status. */
  countByStatus(tenantId: string): Promise<Record<DeliveryStatus, number>>;
  /**
   * Puts a `dead` or `delivered` delivery back to `pending`, due at `nowMs`, with its attempts reset (a replay gets
   * the whole retry schedule again). Its id, and so its `webhook-id`, stays. False when there is none in those states.
   */
  requeue(id: number, nowMs: number): Promise<boolean>;
  /**
   * `requeue` for every `dead` or `delivered` delivery of these event ids to a still-active subscription (replaying a
   * received webhook). Returns how many were put back.
   */
  requeueEvents(eventIds: string[], nowMs: number): Promise<number>;
}

export function subscriptionContext(id: string): string {
  return `subscriptions/${id}`;
}

/** What a sealed delivery payload's additional data names: `{subscription id}/{event id}` (unique, known before the INSERT). */
export function deliveryContext(key: string): string {
  return `deliveries/${key}`;
}

export function createSubscriptionRepository(db: Db, keys: KeyStore): SubscriptionRepository {
  const k = db.kysely;
  const decode = async (r: Selectable<SubscriptionsTable>): Promise<SubscriptionRecord> => ({
    id: r.id,
    tenantId: r.tenant_id,
    url: r.url,
    secret: new Secret(
      (await keys.decrypt(r.key_id, Buffer.from(r.secret_ct), subscriptionContext(r.id))).toString('utf8'),
      'subscription-secret',
    ),
    events: JSON.parse(r.events) as string[],
    active: Number(r.active) === 1,
    createdAtMs: Number(r.created_at_ms),
    updatedAtMs: Number(r.updated_at_ms),
  });
  const decodeAll = async (rows: Selectable<SubscriptionsTable>[]) => {
    const out: SubscriptionRecord[] = [];
    for (const r of rows) out.push(await decode(r));
    return out;
  };
  return {
    async create(s, nowMs) {
      const id = s.id ?? randomUUID();
      const sealed = await keys.encrypt(s.secret.reveal(), subscriptionContext(id));
      const row = await db.run('creating a subscription', () =>
        k
          .insertInto('subscriptions')
          .values({
            id,
            tenant_id: s.tenantId,
            url: s.url,
            secret_ct: sealed.ciphertext,
            key_id: sealed.keyId,
            events: JSON.stringify(s.events),
            active: s.active === false ? 0 : 1,
            created_at_ms: nowMs,
            updated_at_ms: nowMs,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return decode(row);
    },
    async get(id) {
      const row = await db.run('reading a subscription', () =>
        k.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst(),
      );
      return row ? decode(row) : undefined;
    },
    async listByTenant(tenantId) {
      const rows = await db.run('listing subscriptions', () =>
        k
          .selectFrom('subscriptions')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .orderBy('created_at_ms')
          .execute(),
      );
      return decodeAll(rows);
    },
    async listForEvent(tenantId, eventType) {
      const rows = await db.run('listing subscriptions', () =>
        k
          .selectFrom('subscriptions')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('active', '=', 1)
          .orderBy('created_at_ms')
          .execute(),
      );
      const matching = rows.filter((r) => {
        const events = JSON.parse(r.events) as string[];
        return events.length === 0 || events.includes('*') || events.includes(eventType);
      });
      return decodeAll(matching);
    },
    async update(id, patch, nowMs) {
      const set: Partial<SubscriptionsTable> = { updated_at_ms: nowMs };
      if (patch.url !== undefined) set.url = patch.url;
      if (patch.events !== undefined) set.events = JSON.stringify(patch.events);
      if (patch.active !== undefined) set.active = patch.active ? 1 : 0;
      if (patch.secret !== undefined) {
        const sealed = await keys.encrypt(patch.secret.reveal(), subscriptionContext(id));
        set.secret_ct = sealed.ciphertext;
        set.key_id = sealed.keyId;
      }
      const row = await db.run('updating a subscription', () =>
        k.updateTable('subscriptions').set(set).where('id', '=', id).returningAll().executeTakeFirst(),
      );
      return row ? decode(row) : undefined;
    },
    async delete(id) {
      return db.run('deleting a subscription', () =>
        k.transaction().execute(async (trx) => {
          await trx.deleteFrom('deliveries').where('subscription_id', '=', id).execute();
          const r = await trx.deleteFrom('subscriptions').where('id', '=', id).executeTakeFirst();
          return Number(r.numDeletedRows) > 0;
        }),
      );
    },
  };
}

/** A stored delivery, its payload opened (a row from before migration 3 keeps it in plain `payload`). */
async function decodeDelivery(r: Selectable<DeliveriesTable>, keys: KeyStore): Promise<DeliveryRecord> {
  const n = (v: number | null) => (v === null ? null : Number(v));
  const payload =
    r.key_id !== null && r.payload_ct !== null
      ? (
          await keys.decrypt(
            r.key_id,
            Buffer.from(r.payload_ct),
            deliveryContext(`${r.subscription_id}/${r.event_id}`),
          )
        ).toString('utf8')
      : r.payload;
  return {
    id: Number(r.id),
    subscriptionId: r.subscription_id,
    tenantId: r.tenant_id,
    inboxId: n(r.inbox_id),
    eventId: r.event_id,
    eventType: r.event_type,
    payload,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAtMs: Number(r.next_attempt_at_ms),
    leaseOwner: r.lease_owner,
    leaseExpiresAtMs: n(r.lease_expires_at_ms),
    lastError: r.last_error,
    createdAtMs: Number(r.created_at_ms),
    deliveredAtMs: n(r.delivered_at_ms),
  };
}

/** The columns a replay resets: pending, due now, a fresh retry schedule, no lease. */
function requeued(nowMs: number) {
  return {
    status: 'pending',
    next_attempt_at_ms: nowMs,
    attempts: 0,
    lease_owner: null,
    lease_expires_at_ms: null,
  } as const;
}

export function createDeliveryRepository(db: Db, keys: KeyStore): DeliveryRepository {
  const k = db.kysely;
  const decodeAll = async (rows: Selectable<DeliveriesTable>[]) => {
    const out: DeliveryRecord[] = [];
    for (const r of rows) out.push(await decodeDelivery(r, keys));
    return out;
  };
  return {
    async enqueue(d, nowMs) {
      // The payload carries the customer's message: sealed like a token, in the same INSERT.
      const sealed = await keys.encrypt(d.payload, deliveryContext(`${d.subscriptionId}/${d.eventId}`));
      return db.run('queueing a delivery', async () => {
        const inserted = await k
          .insertInto('deliveries')
          .values({
            subscription_id: d.subscriptionId,
            tenant_id: d.tenantId,
            inbox_id: d.inboxId ?? null,
            event_id: d.eventId,
            event_type: d.eventType,
            payload: '',
            payload_ct: sealed.ciphertext,
            key_id: sealed.keyId,
            status: 'pending',
            attempts: 0,
            next_attempt_at_ms: d.nextAttemptAtMs ?? nowMs,
            lease_owner: null,
            lease_expires_at_ms: null,
            last_error: null,
            created_at_ms: nowMs,
            delivered_at_ms: null,
          })
          .onConflict((oc) => oc.columns(['subscription_id', 'event_id']).doNothing())
          .returningAll()
          .executeTakeFirst();
        if (inserted) return { delivery: await decodeDelivery(inserted, keys), duplicate: false };
        const existing = await k
          .selectFrom('deliveries')
          .selectAll()
          .where('subscription_id', '=', d.subscriptionId)
          .where('event_id', '=', d.eventId)
          .executeTakeFirstOrThrow();
        return { delivery: await decodeDelivery(existing, keys), duplicate: true };
      });
    },
    async get(id) {
      const row = await db.run('reading a delivery', () =>
        k.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst(),
      );
      return row ? decodeDelivery(row, keys) : undefined;
    },
    async claimDue(nowMs, limit, owner, leaseMs) {
      if (limit <= 0) return [];
      const lock = db.engine === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
      const statement = sql<Selectable<DeliveriesTable>>`
        UPDATE deliveries
        SET lease_owner = ${owner}, lease_expires_at_ms = ${nowMs + leaseMs}, attempts = attempts + 1
        WHERE id IN (
          SELECT id FROM deliveries
          WHERE status = 'pending' AND next_attempt_at_ms <= ${nowMs}
            AND (lease_owner IS NULL OR lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ${nowMs})
          ORDER BY next_attempt_at_ms, id
          LIMIT ${limit}
          ${lock}
        )
        RETURNING *`;
      const rows = await db.run('claiming due deliveries', () =>
        db.engine === 'postgres'
          ? statement.execute(k).then((r) => r.rows)
          : k.transaction().execute((trx) => statement.execute(trx).then((r) => r.rows)),
      );
      return (await decodeAll(rows)).sort((a, b) => a.nextAttemptAtMs - b.nextAttemptAtMs || a.id - b.id);
    },
    async markDelivered(id, nowMs) {
      await db.run('marking a delivery delivered', () =>
        k
          .updateTable('deliveries')
          .set({ status: 'delivered', delivered_at_ms: nowMs, lease_owner: null, lease_expires_at_ms: null })
          .where('id', '=', id)
          .execute(),
      );
    },
    async markFailed(id, error, nextAttemptAtMs) {
      await db.run('recording a delivery failure', () =>
        k
          .updateTable('deliveries')
          .set({
            status: nextAttemptAtMs === null ? 'dead' : 'pending',
            next_attempt_at_ms: nextAttemptAtMs ?? sql<number>`next_attempt_at_ms`,
            last_error: error.slice(0, 1000),
            lease_owner: null,
            lease_expires_at_ms: null,
          })
          .where('id', '=', id)
          .execute(),
      );
    },
    async listByTenant(tenantId, limit = 100, status) {
      const rows = await db.run('listing deliveries', () => {
        let q = k.selectFrom('deliveries').selectAll().where('tenant_id', '=', tenantId);
        if (status !== undefined) q = q.where('status', '=', status);
        return q
          .orderBy('id', 'desc')
          .limit(Math.min(Math.max(limit, 1), 10_000))
          .execute();
      });
      return decodeAll(rows);
    },
    async countByStatus(tenantId) {
      const rows = await db.run('counting deliveries', () =>
        k
          .selectFrom('deliveries')
          .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
          .where('tenant_id', '=', tenantId)
          .groupBy('status')
          .execute(),
      );
      const out: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
      for (const r of rows) out[r.status as DeliveryStatus] = Number(r.n);
      return out;
    },
    async requeue(id, nowMs) {
      const r = await db.run('requeueing a delivery', () =>
        k
          .updateTable('deliveries')
          .set(requeued(nowMs))
          .where('id', '=', id)
          .where('status', 'in', ['dead', 'delivered'])
          .executeTakeFirst(),
      );
      return Number(r.numUpdatedRows) > 0;
    },
    async requeueEvents(eventIds, nowMs) {
      let n = 0;
      // Chunked: one statement's parameters stay well under SQLite's and PostgreSQL's limits.
      for (let i = 0; i < eventIds.length; i += 500) {
        const chunk = eventIds.slice(i, i + 500);
        const r = await db.run('requeueing deliveries', () =>
          k
            .updateTable('deliveries')
            .set(requeued(nowMs))
            .where('event_id', 'in', chunk)
            .where('status', 'in', ['dead', 'delivered'])
            .where(
              'subscription_id',
              'in',
              k.selectFrom('subscriptions').select('id').where('active', '=', 1),
            )
            .executeTakeFirst(),
        );
        n += Number(r.numUpdatedRows);
      }
      return n;
    },
    async listBySubscription(subscriptionId, limit = 100) {
      const rows = await db.run('listing deliveries', () =>
        k
          .selectFrom('deliveries')
          .selectAll()
          .where('subscription_id', '=', subscriptionId)
          .orderBy('id', 'desc')
          .limit(Math.min(Math.max(limit, 1), 1000))
          .execute(),
      );
      return decodeAll(rows);
    },
  };
}
