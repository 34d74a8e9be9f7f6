import type { CredentialStore } from '../auth/credential-store.js';
import type { OAuthStateStore } from '../auth/oauth-state-store.js';
import type { Secret } from '../core/secret.js';
import type { FlowKeyStorePort, FlowKeyView } from '../flows/key-custody.js';

/**
 * What the broker needs from its store. The vault's SQLite/PostgreSQL store provides it (src/broker/vault-store.ts
 * adapts `openStore`); keeping the broker on these ports keeps policy out of the persistence layer.
 */
export interface Tenant {
  id: string;
  name: string;
  createdAtMs: number;
}

export interface PhoneNumberRow {
  id: string;
  tenantId: string;
  wabaId: string;
  displayNumber: string | null;
  verifiedName: string | null;
  credentialId: string | null;
}

export interface ApiKeyRow {
  keyId: string;
  hash: string;
  /** null: an admin key. */
  tenantId: string | null;
  label: string;
  createdAtMs: number;
  revokedAtMs: number | null;
}

export interface InboxRow {
  id: string;
  rawBody: Uint8Array;
  dedupeKey: string;
  receivedAtMs: number;
  status: 'pending' | 'processed' | 'failed';
  attempts: number;
  tenantId: string | null;
  lastError: string | null;
}

export interface SubscriptionRow {
  id: string;
  tenantId: string;
  url: string;
  secret: Secret;
  /** Event types to deliver (`message`, `status`, `credential.expiring`, ...); empty = everything. */
  events: string[];
  active: boolean;
  createdAtMs: number;
}

export interface DeliveryRow {
  id: string;
  subscriptionId: string;
  tenantId: string;
  eventId: string;
  eventType: string;
  payload: string;
  status: 'pending' | 'delivered' | 'dead';
  /** Attempts so far, including the one a claim starts (claimDue counts it). */
  attempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
  createdAtMs: number;
}

export interface AuditRow {
  id: string;
  tenantId: string | null;
  credentialId: string | null;
  event: string;
  /** Scrubbed detail; never a token value. */
  detail: Record<string, unknown>;
  atMs: number;
}

/** A Graph object and its owning tenant: created through the proxy, or received in one of its webhooks. */
export interface TenantObjectRow {
  objectId: string;
  tenantId: string;
  kind: 'media' | 'template' | 'flow' | 'object';
  origin: 'created' | 'webhook';
}

export interface BrokerStore {
  engine: 'sqlite' | 'postgres';
  tenants: {
    create(input: { name: string }, nowMs: number): Promise<Tenant>;
    get(id: string): Promise<Tenant | undefined>;
    list(): Promise<Tenant[]>;
  };
  credentials: CredentialStore;
  oauthStates: OAuthStateStore;
  phoneNumbers: {
    upsert(row: PhoneNumberRow): Promise<void>;
    get(id: string): Promise<PhoneNumberRow | undefined>;
    listByTenant(tenantId: string): Promise<PhoneNumberRow[]>;
    /** The tenant that owns a WABA (through its phone numbers), for WABA-level webhooks. */
    tenantOfWaba(wabaId: string): Promise<string | undefined>;
  };
  apiKeys: {
    create(row: Omit<ApiKeyRow, 'revokedAtMs'>): Promise<void>;
    findByHash(hash: string): Promise<ApiKeyRow | undefined>;
    list(tenantId?: string | null): Promise<ApiKeyRow[]>;
    revoke(keyId: string, nowMs: number): Promise<boolean>;
    count(): Promise<number>;
    /** Records a use (the access cache calls it at most once a minute per key). */
    touch(keyId: string, nowMs: number): Promise<void>;
  };
  /** Dashboard sessions ended by logout, by the SHA-256 of their id; shared by every instance. */
  revokedSessions: {
    revoke(sessionIdHash: string, expiresAtMs: number, nowMs: number): Promise<void>;
    isRevoked(sessionIdHash: string): Promise<boolean>;
  };
  inbox: {
    /** Commits the raw body; a repeated dedupe key is reported, not stored twice. */
    insert(input: {
      rawBody: Uint8Array;
      dedupeKey: string;
      receivedAtMs: number;
    }): Promise<{ id: string; duplicate: boolean }>;
    /**
     * Commits several bodies at once (group commit); answers in order. Optional: `insert` is used without it. With
     * `lease`, new rows are stored already leased to that owner (no claim needed), and each new row's id is returned.
     */
    insertMany?(
      inputs: Array<{ rawBody: Uint8Array; dedupeKey: string; receivedAtMs: number }>,
      lease?: { owner: string; expiresAtMs: number },
    ): Promise<Array<{ id?: string; duplicate: boolean }>>;
    /** Leases pending rows (SKIP LOCKED on PostgreSQL) for processing. */
    claimPending(limit: number, owner: string, nowMs: number, leaseMs: number): Promise<InboxRow[]>;
    markProcessed(id: string, tenantId: string | null, nowMs: number): Promise<void>;
    /** Marks several rows processed in one transaction. Optional: `markProcessed` is used without it. */
    markProcessedMany?(items: Array<{ id: string; tenantId: string | null }>, nowMs: number): Promise<void>;
    markFailed(id: string, error: string, nowMs: number): Promise<void>;
    requeue(id: string, nowMs: number): Promise<boolean>;
    get(id: string): Promise<InboxRow | undefined>;
    /** Rows listed under a tenant: routed to it first, or carrying its events among another tenant's. */
    recent(limit: number, tenantId?: string): Promise<InboxRow[]>;
    /** Lists a row under further tenants (its events belong to several). */
    addTenants(id: string, tenantIds: string[]): Promise<void>;
  };
  subscriptions: {
    create(
      input: Omit<SubscriptionRow, 'id' | 'createdAtMs' | 'active'>,
      nowMs: number,
    ): Promise<SubscriptionRow>;
    listByTenant(tenantId: string): Promise<SubscriptionRow[]>;
    get(id: string): Promise<SubscriptionRow | undefined>;
    /** Deactivated: nothing new is queued for it and its pending deliveries are dead-lettered when due. */
    setActive(id: string, active: boolean, nowMs: number): Promise<boolean>;
    delete(id: string): Promise<boolean>;
  };
  deliveries: {
    /** Exactly once per (subscription, event id): a repeat returns false. */
    enqueue(
      input: Omit<DeliveryRow, 'id' | 'status' | 'attempts' | 'lastError' | 'createdAtMs'>,
      nowMs: number,
    ): Promise<boolean>;
    claimDue(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<DeliveryRow[]>;
    markDelivered(id: string, nowMs: number): Promise<void>;
    markRetry(id: string, nextAttemptAtMs: number, error: string): Promise<void>;
    markDead(id: string, error: string): Promise<void>;
    get(id: string): Promise<DeliveryRow | undefined>;
    /** Newest first; `status` narrows it (`dead`: the dead letters). */
    listByTenant(tenantId: string, limit: number, status?: DeliveryRow['status']): Promise<DeliveryRow[]>;
    countByStatus(tenantId: string): Promise<Record<DeliveryRow['status'], number>>;
    /** A `dead` or `delivered` delivery back to `pending` with a fresh retry schedule; same id (`webhook-id`). */
    requeue(id: string, nowMs: number): Promise<boolean>;
    /** `requeue` for the deliveries of these event ids to active subscriptions; how many were put back. */
    requeueEvents(eventIds: string[], nowMs: number): Promise<number>;
  };
  /** WhatsApp Flows key pairs (the Flow endpoint and the dashboard); optional so stores without them still work. */
  flowKeys?: FlowKeyStorePort & { listByTenant(tenantId: string): Promise<FlowKeyView[]> };
  /** Object ownership, shared by every instance (first owner wins, never moved). */
  objects: {
    /** Resolves with the ids recorded now (the others had an owner already, maybe another tenant). */
    record(rows: TenantObjectRow[], nowMs: number): Promise<string[]>;
    ownerOf(objectId: string): Promise<string | undefined>;
  };
  /** Deletes customer content (webhook bodies, delivery payloads) older than the cutoff, in bounded batches. */
  retention: {
    purge(cutoffMs: number, limit: number): Promise<{ webhooks: number; deliveries: number }>;
  };
  audit: {
    append(row: Omit<AuditRow, 'id'>): Promise<void>;
    list(options: { tenantId?: string; limit: number }): Promise<AuditRow[]>;
  };
  ping(): Promise<void>;
  close(): Promise<void>;
}
