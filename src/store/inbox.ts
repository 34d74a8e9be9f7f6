import { CompiledQuery, type Selectable, sql } from 'kysely';
import type { Sealed } from '../vault/crypto/keyring.js';
import type { Db } from './engine.js';
import type { KeyStore } from './key-store.js';
import type { WebhookInboxTable } from './schema.js';

/**
 * What a sealed webhook body's additional data names: its dedupe key (unique, and known before the INSERT, so the
 * body is sealed without a second round trip for a row id).
 */
export function inboxContext(dedupeKey: string): string {
  return `webhook_inbox/${dedupeKey}`;
}

/** `pending` waits for a worker; `processing` is leased; `done` handled; `dead` gave up; `rejected` bad signature. */
export type InboxStatus = 'pending' | 'processing' | 'done' | 'dead' | 'rejected';

/** One webhook delivery as received: the raw bytes, kept until processed. */
export interface InboxItem {
  id: number;
  body: Buffer;
  signatureValid: boolean;
  /** UNIQUE: a redelivery with the same key is recognised as a duplicate. */
  dedupeKey: string;
  status: InboxStatus;
  attempts: number;
  receivedAtMs: number;
  /** When a worker may (re)try it. */
  availableAtMs: number;
  /** Set once routed by phone number id. */
  tenantId: string | null;
  leaseOwner: string | null;
  leaseExpiresAtMs: number | null;
  lastError: string | null;
  processedAtMs: number | null;
}

export interface NewInboxItem {
  body: Buffer | Uint8Array;
  signatureValid: boolean;
  dedupeKey: string;
  receivedAtMs: number;
  tenantId?: string | null;
  /** Default `pending` when the signature is valid, `rejected` when not. */
  status?: InboxStatus;
}

/**
 * Rows inserted already leased (`processing`, attempt 1) to the instance that received them, which processes them
 * from memory without claiming them back; if it dies, the lease lapses and any instance's claim takes them.
 */
export interface InboxLease {
  owner: string;
  expiresAtMs: number;
}

export interface InboxRepository {
  /** Stores a delivery; on a dedupe-key clash stores nothing and returns the existing item with `duplicate: true`. */
  insert(item: NewInboxItem): Promise<{ item: InboxItem; duplicate: boolean }>;
  /**
   * Stores several deliveries with one statement (one commit: the webhook endpoint's group commit). Answers in order:
   * the new row id, or `duplicate: true` for a key already stored or repeated earlier in the same call.
   */
  insertMany(
    items: NewInboxItem[],
    lease?: InboxLease,
  ): Promise<Array<{ id: number | undefined; duplicate: boolean }>>;
  get(id: number): Promise<InboxItem | undefined>;
  /**
   * Leases up to `limit` pending items (and `processing` ones whose lease lapsed) that are available at `nowMs`,
   * oldest first; `FOR UPDATE SKIP LOCKED` on PostgreSQL so workers never block each other. Increments attempts.
   */
  claimPending(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<InboxItem[]>;
  /** Marks an item handled (optionally recording its tenant). */
  markDone(id: number, nowMs: number, tenantId?: string | null): Promise<void>;
  /** Marks several items handled, recording each one's tenant, in one transaction. */
  markDoneMany(items: Array<{ id: number; tenantId: string | null }>, nowMs: number): Promise<void>;
  /** Records a failure: back to `pending` at `retryAtMs`, or `dead` when `retryAtMs` is null. */
  markFailed(id: number, error: string, retryAtMs: number | null): Promise<void>;
  /** Records the tenant once the item is routed. */
  setTenant(id: number, tenantId: string): Promise<void>;
  /** Lists the row under more tenants too (a webhook carrying several tenants' events); idempotent. */
  addTenants(id: number, tenantIds: string[]): Promise<void>;
  /** Puts a `dead`, `done` or `rejected` item back to `pending` (operator retry). False when there is none. */
  requeue(id: number, nowMs: number): Promise<boolean>;
  /** The newest items, optionally of one tenant. */
  recent(limit: number, tenantId?: string): Promise<InboxItem[]>;
  /** Items per status. */
  countByStatus(): Promise<Record<string, number>>;
}

/** A stored row as an item, its body opened (a row from before migration 3 is plaintext: key_id null). */
async function decode(r: Selectable<WebhookInboxTable>, keys: KeyStore): Promise<InboxItem> {
  const n = (v: number | null) => (v === null ? null : Number(v));
  // Both drivers hand back a Buffer already: no copy.
  const stored = Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
  return {
    id: Number(r.id),
    body: r.key_id === null ? stored : await keys.decrypt(r.key_id, stored, inboxContext(r.dedupe_key)),
    signatureValid: Number(r.signature_valid) === 1,
    dedupeKey: r.dedupe_key,
    status: r.status as InboxStatus,
    attempts: Number(r.attempts),
    receivedAtMs: Number(r.received_at_ms),
    availableAtMs: Number(r.available_at_ms),
    tenantId: r.tenant_id,
    leaseOwner: r.lease_owner,
    leaseExpiresAtMs: n(r.lease_expires_at_ms),
    lastError: r.last_error,
    processedAtMs: n(r.processed_at_ms),
  };
}

/**
 * The columns a new row sets; the others are NULL. Fewer bound parameters per
 * row on the webhook ingest path (a group commit binds every row's).
 */
function newRow(item: NewInboxItem, sealed: Sealed) {
  const row = {
    body: sealed.ciphertext,
    key_id: sealed.keyId,
    signature_valid: item.signatureValid ? 1 : 0,
    dedupe_key: item.dedupeKey,
    status: item.status ?? (item.signatureValid ? 'pending' : 'rejected'),
    attempts: 0,
    received_at_ms: item.receivedAtMs,
    available_at_ms: item.receivedAtMs,
  };
  return item.tenantId == null ? row : { ...row, tenant_id: item.tenantId };
}

/**
 * The group-commit INSERT for `n` rows, written by hand: it runs once per webhook burst, and building it with Kysely's
 * query builder (an immutable node tree per value, then compiled) was a visible share of the ingest path's CPU and
 * garbage. Same text for the same `n`, so SQLite reuses its prepared statement.
 */
function insertManySql(engine: Db['engine'], n: number, leased: boolean): string {
  const per = leased ? 11 : 8;
  const rows: string[] = [];
  for (let r = 0; r < n; r++) {
    const p = (i: number) => (engine === 'postgres' ? `$${r * per + i + 1}` : '?');
    // Placeholders in text order (SQLite's `?` are positional), and the parameters pushed in the same order.
    if (leased)
      rows.push(
        `(${p(0)}, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}, ${p(10)})`,
      );
    else rows.push(`(${p(0)}, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, 0, ${p(5)}, ${p(6)}, ${p(7)})`);
  }
  return (
    'INSERT INTO webhook_inbox (body, key_id, signature_valid, dedupe_key, status, attempts, received_at_ms, ' +
    `available_at_ms, tenant_id${leased ? ', lease_owner, lease_expires_at_ms' : ''}) VALUES ${rows.join(', ')} ` +
    'ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key'
  );
}

export function createInboxRepository(db: Db, keys: KeyStore): InboxRepository {
  const k = db.kysely;
  const insertTexts = new Map<number, string>();
  const decodeAll = async (rows: Selectable<WebhookInboxTable>[]) => {
    const out: InboxItem[] = [];
    for (const r of rows) out.push(await decode(r, keys));
    return out;
  };
  /**
   * Seals each body with the active data key: one AES-GCM seal per row, in memory (the keyring's freshness is checked
   * once per call, not per row), so the group commit stays one statement and one round trip.
   */
  const sealAll = async (items: NewInboxItem[]): Promise<Sealed[]> => {
    const out: Sealed[] = [];
    for (const item of items) {
      const body = Buffer.isBuffer(item.body)
        ? item.body
        : Buffer.from(item.body.buffer, item.body.byteOffset, item.body.byteLength);
      const context = inboxContext(item.dedupeKey);
      out.push(out.length === 0 ? await keys.encrypt(body, context) : keys.keyring.encrypt(body, context));
    }
    return out;
  };
  return {
    async insertMany(items, lease) {
      if (items.length === 0) return [];
      // Memoised per row count, leased or not (negative keys: leased).
      const memo = lease ? -items.length : items.length;
      let text = insertTexts.get(memo);
      if (text === undefined) {
        text = insertManySql(db.engine, items.length, lease !== undefined);
        if (insertTexts.size < 256) insertTexts.set(memo, text);
      }
      const params: unknown[] = [];
      const sealed = await sealAll(items);
      for (const [i, item] of items.entries()) {
        const row = newRow(item, sealed[i] as Sealed);
        // Only a valid delivery waiting for processing is leased; a rejected one keeps its status.
        const leased = lease !== undefined && row.status === 'pending';
        params.push(
          row.body,
          row.key_id,
          row.signature_valid,
          row.dedupe_key,
          leased ? 'processing' : row.status,
        );
        if (lease) params.push(leased ? 1 : 0);
        params.push(row.received_at_ms, row.available_at_ms, item.tenantId ?? null);
        if (lease) params.push(leased ? lease.owner : null, leased ? lease.expiresAtMs : null);
      }
      const query = CompiledQuery.raw(text, params);
      const rows = await db.run('storing webhook deliveries', () =>
        k.executeQuery<{ id: number; dedupe_key: string }>(query).then((r) => r.rows),
      );
      const ids = new Map(rows.map((r) => [r.dedupe_key, Number(r.id)]));
      return items.map((item) => {
        const id = ids.get(item.dedupeKey);
        // A key seen again later in the same batch is a duplicate of the first one.
        if (id === undefined) return { id: undefined, duplicate: true };
        ids.delete(item.dedupeKey);
        return { id, duplicate: false };
      });
    },
    async insert(item) {
      const [sealed] = await sealAll([item]);
      return db.run('storing a webhook delivery', async () => {
        const inserted = await k
          .insertInto('webhook_inbox')
          .values(newRow(item, sealed as Sealed))
          .onConflict((oc) => oc.column('dedupe_key').doNothing())
          .returningAll()
          .executeTakeFirst();
        if (inserted) return { item: await decode(inserted, keys), duplicate: false };
        const existing = await k
          .selectFrom('webhook_inbox')
          .selectAll()
          .where('dedupe_key', '=', item.dedupeKey)
          .executeTakeFirstOrThrow();
        return { item: await decode(existing, keys), duplicate: true };
      });
    },
    async get(id) {
      const row = await db.run('reading a webhook delivery', () =>
        k.selectFrom('webhook_inbox').selectAll().where('id', '=', id).executeTakeFirst(),
      );
      return row ? decode(row, keys) : undefined;
    },
    async claimPending(nowMs, limit, owner, leaseMs) {
      if (limit <= 0) return [];
      const until = nowMs + leaseMs;
      const lock = db.engine === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
      const statement = sql<Selectable<WebhookInboxTable>>`
        UPDATE webhook_inbox
        SET status = 'processing', lease_owner = ${owner}, lease_expires_at_ms = ${until}, attempts = attempts + 1
        WHERE id IN (
          SELECT id FROM webhook_inbox
          WHERE status IN ('pending', 'processing') AND available_at_ms <= ${nowMs}
            AND (status = 'pending' OR lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ${nowMs})
          ORDER BY available_at_ms, id
          LIMIT ${limit}
          ${lock}
        )
        RETURNING *`;
      // One statement: atomic on its own on both engines (no BEGIN/COMMIT round around it).
      const rows = await db.run('claiming webhook deliveries', () =>
        statement.execute(k).then((r) => r.rows),
      );
      return (await decodeAll(rows)).sort((a, b) => a.availableAtMs - b.availableAtMs || a.id - b.id);
    },
    async markDone(id, nowMs, tenantId) {
      await db.run('marking a webhook delivery done', () =>
        k
          .updateTable('webhook_inbox')
          .set({
            status: 'done',
            processed_at_ms: nowMs,
            lease_owner: null,
            lease_expires_at_ms: null,
            ...(tenantId !== undefined ? { tenant_id: tenantId } : {}),
          })
          .where('id', '=', id)
          .execute(),
      );
    },
    async markDoneMany(items, nowMs) {
      if (items.length === 0) return;
      // One UPDATE per distinct tenant (a batch is mostly one), all in one transaction: one commit.
      const byTenant = new Map<string | null, number[]>();
      for (const { id, tenantId } of items) {
        const ids = byTenant.get(tenantId) ?? [];
        ids.push(id);
        byTenant.set(tenantId, ids);
      }
      await db.run('marking webhook deliveries done', () =>
        k.transaction().execute(async (trx) => {
          for (const [tenantId, ids] of byTenant) {
            await trx
              .updateTable('webhook_inbox')
              .set({
                status: 'done',
                processed_at_ms: nowMs,
                lease_owner: null,
                lease_expires_at_ms: null,
                tenant_id: tenantId,
              })
              .where('id', 'in', ids)
              .execute();
          }
        }),
      );
    },
    async markFailed(id, error, retryAtMs) {
      await db.run('recording a webhook processing failure', () =>
        k
          .updateTable('webhook_inbox')
          .set({
            status: retryAtMs === null ? 'dead' : 'pending',
            available_at_ms: retryAtMs ?? sql<number>`available_at_ms`,
            last_error: error.slice(0, 1000),
            lease_owner: null,
            lease_expires_at_ms: null,
          })
          .where('id', '=', id)
          .execute(),
      );
    },
    async addTenants(id, tenantIds) {
      if (tenantIds.length === 0) return;
      await db.run('listing a webhook under more tenants', () =>
        k
          .insertInto('webhook_inbox_tenants')
          .values(tenantIds.map((t) => ({ inbox_id: id, tenant_id: t })))
          .onConflict((oc) => oc.columns(['inbox_id', 'tenant_id']).doNothing())
          .execute(),
      );
    },
    async setTenant(id, tenantId) {
      await db.run('routing a webhook delivery', () =>
        k.updateTable('webhook_inbox').set({ tenant_id: tenantId }).where('id', '=', id).execute(),
      );
    },
    async requeue(id, nowMs) {
      const r = await db.run('requeueing a webhook delivery', () =>
        k
          .updateTable('webhook_inbox')
          .set({ status: 'pending', available_at_ms: nowMs, lease_owner: null, lease_expires_at_ms: null })
          .where('id', '=', id)
          .where('status', 'in', ['dead', 'done', 'rejected'])
          .executeTakeFirst(),
      );
      return Number(r.numUpdatedRows) > 0;
    },
    async recent(limit, tenantId) {
      const rows = await db.run('listing webhook deliveries', () => {
        let q = k.selectFrom('webhook_inbox').selectAll();
        if (tenantId !== undefined)
          q = q.where((eb) =>
            eb.or([
              eb('tenant_id', '=', tenantId),
              eb(
                'id',
                'in',
                eb.selectFrom('webhook_inbox_tenants').select('inbox_id').where('tenant_id', '=', tenantId),
              ),
            ]),
          );
        return q
          .orderBy('id', 'desc')
          .limit(Math.min(Math.max(limit, 1), 1000))
          .execute();
      });
      return decodeAll(rows);
    },
    async countByStatus() {
      const rows = await db.run('counting webhook deliveries', () =>
        k
          .selectFrom('webhook_inbox')
          .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('status')
          .execute(),
      );
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
  };
}
