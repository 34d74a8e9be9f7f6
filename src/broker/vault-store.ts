import type { InboxItem } from '../store/inbox.js';
import type { Store } from '../store/open-store.js';
import type { PhoneNumberRecord } from '../store/phone-numbers.js';
import type { DeliveryRecord } from '../store/subscriptions.js';
import type { BrokerStore, DeliveryRow, InboxRow, PhoneNumberRow } from './ports.js';

/** Row ids are numbers in the database and strings at the broker's edge; anything else is simply not found. */
function rowId(id: string): number | undefined {
  return /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}

function inboxRow(item: InboxItem): InboxRow {
  return {
    id: String(item.id),
    rawBody: item.body,
    dedupeKey: item.dedupeKey,
    receivedAtMs: item.receivedAtMs,
    status:
      item.status === 'done'
        ? 'processed'
        : item.status === 'dead' || item.status === 'rejected'
          ? 'failed'
          : 'pending',
    attempts: item.attempts,
    tenantId: item.tenantId,
    lastError: item.lastError,
  };
}

function phoneNumberRow(r: PhoneNumberRecord): PhoneNumberRow {
  return {
    id: r.id,
    tenantId: r.tenantId,
    wabaId: r.wabaId,
    displayNumber: r.displayPhoneNumber || null,
    verifiedName: r.verifiedName,
    credentialId: r.credentialId,
  };
}

function deliveryRow(d: DeliveryRecord): DeliveryRow {
  return {
    id: String(d.id),
    subscriptionId: d.subscriptionId,
    tenantId: d.tenantId,
    eventId: d.eventId,
    eventType: d.eventType,
    payload: d.payload,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAtMs: d.nextAttemptAtMs,
    lastError: d.lastError,
    createdAtMs: d.createdAtMs,
  };
}

/** The broker's view of the vault store (SQLite or PostgreSQL): a thin translation, no policy. */
export function vaultBrokerStore(store: Store): BrokerStore {
  return {
    engine: store.engine,
    tenants: {
      create: (input, nowMs) => store.tenants.create({ name: input.name }, nowMs),
      get: (id) => store.tenants.get(id),
      list: () => store.tenants.list(),
    },
    credentials: store.credentials,
    oauthStates: store.oauthStates,
    phoneNumbers: {
      async upsert(row) {
        await store.phoneNumbers.upsert(
          {
            id: row.id,
            tenantId: row.tenantId,
            wabaId: row.wabaId,
            displayPhoneNumber: row.displayNumber ?? '',
            verifiedName: row.verifiedName,
            credentialId: row.credentialId,
          },
          Date.now(),
        );
      },
      async get(id) {
        const r = await store.phoneNumbers.get(id);
        return r && phoneNumberRow(r);
      },
      async listByTenant(tenantId) {
        return (await store.phoneNumbers.listByTenant(tenantId)).map(phoneNumberRow);
      },
      tenantOfWaba: (wabaId) => store.phoneNumbers.tenantOfWaba(wabaId),
    },
    apiKeys: {
      async create(row) {
        await store.apiKeys.insert(
          { keyId: row.keyId, hash: row.hash, tenantId: row.tenantId, label: row.label },
          row.createdAtMs,
        );
      },
      findByHash: (hash) => store.apiKeys.findByHash(hash),
      list: (tenantId) =>
        tenantId === undefined ? store.apiKeys.list() : store.apiKeys.listByTenant(tenantId),
      revoke: (keyId, nowMs) => store.apiKeys.revoke(keyId, nowMs),
      count: () => store.apiKeys.count(),
    },
    inbox: {
      async insert(input) {
        const { item, duplicate } = await store.inbox.insert({
          body: input.rawBody,
          signatureValid: true,
          dedupeKey: input.dedupeKey,
          receivedAtMs: input.receivedAtMs,
        });
        return { id: String(item.id), duplicate };
      },
      async insertMany(inputs, lease) {
        const results = await store.inbox.insertMany(
          inputs.map((input) => ({
            body: input.rawBody,
            signatureValid: true,
            dedupeKey: input.dedupeKey,
            receivedAtMs: input.receivedAtMs,
          })),
          lease,
        );
        return results.map((r) => ({
          id: r.id === undefined ? undefined : String(r.id),
          duplicate: r.duplicate,
        }));
      },
      async claimPending(limit, owner, nowMs, leaseMs) {
        return (await store.inbox.claimPending(nowMs, limit, owner, leaseMs)).map(inboxRow);
      },
      async markProcessedMany(items, nowMs) {
        const rows: Array<{ id: number; tenantId: string | null }> = [];
        for (const item of items) {
          const n = rowId(item.id);
          if (n !== undefined) rows.push({ id: n, tenantId: item.tenantId });
        }
        await store.inbox.markDoneMany(rows, nowMs);
      },
      async markProcessed(id, tenantId, nowMs) {
        const n = rowId(id);
        if (n !== undefined) await store.inbox.markDone(n, nowMs, tenantId);
      },
      async markFailed(id, error) {
        // A body that cannot be parsed or routed will not get better by retrying: dead-letter it (replayable).
        const n = rowId(id);
        if (n !== undefined) await store.inbox.markFailed(n, error, null);
      },
      async requeue(id, nowMs) {
        const n = rowId(id);
        return n === undefined ? false : store.inbox.requeue(n, nowMs);
      },
      async get(id) {
        const n = rowId(id);
        const item = n === undefined ? undefined : await store.inbox.get(n);
        return item && inboxRow(item);
      },
      async recent(limit, tenantId) {
        return (await store.inbox.recent(limit, tenantId)).map(inboxRow);
      },
    },
    subscriptions: {
      create: (input, nowMs) =>
        store.subscriptions.create(
          { tenantId: input.tenantId, url: input.url, secret: input.secret, events: input.events },
          nowMs,
        ),
      listByTenant: (tenantId) => store.subscriptions.listByTenant(tenantId),
      get: (id) => store.subscriptions.get(id),
      setActive: async (id, active, nowMs) =>
        (await store.subscriptions.update(id, { active }, nowMs)) !== undefined,
      delete: (id) => store.subscriptions.delete(id),
    },
    deliveries: {
      async enqueue(input, nowMs) {
        const { duplicate } = await store.deliveries.enqueue(
          {
            subscriptionId: input.subscriptionId,
            tenantId: input.tenantId,
            eventId: input.eventId,
            eventType: input.eventType,
            payload: input.payload,
            nextAttemptAtMs: input.nextAttemptAtMs,
          },
          nowMs,
        );
        return !duplicate;
      },
      async claimDue(nowMs, limit, owner, leaseMs) {
        return (await store.deliveries.claimDue(nowMs, limit, owner, leaseMs)).map(deliveryRow);
      },
      async markDelivered(id, nowMs) {
        const n = rowId(id);
        if (n !== undefined) await store.deliveries.markDelivered(n, nowMs);
      },
      async markRetry(id, nextAttemptAtMs, error) {
        const n = rowId(id);
        if (n !== undefined) await store.deliveries.markFailed(n, error, nextAttemptAtMs);
      },
      async markDead(id, error) {
        const n = rowId(id);
        if (n !== undefined) await store.deliveries.markFailed(n, error, null);
      },
      async get(id) {
        const n = rowId(id);
        const d = n === undefined ? undefined : await store.deliveries.get(n);
        return d && deliveryRow(d);
      },
      async listByTenant(tenantId, limit, status) {
        return (await store.deliveries.listByTenant(tenantId, limit, status)).map(deliveryRow);
      },
      countByStatus: (tenantId) => store.deliveries.countByStatus(tenantId),
      async requeue(id, nowMs) {
        const n = rowId(id);
        return n === undefined ? false : store.deliveries.requeue(n, nowMs);
      },
      requeueEvents: (eventIds, nowMs) => store.deliveries.requeueEvents(eventIds, nowMs),
    },
    audit: {
      async append(row) {
        await store.audit.append(
          { tenantId: row.tenantId, credentialId: row.credentialId, event: row.event, detail: row.detail },
          row.atMs,
        );
      },
      async list(options) {
        return (await store.audit.list({ tenantId: options.tenantId, limit: options.limit })).map((e) => ({
          ...e,
          id: String(e.id),
        }));
      },
    },
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
