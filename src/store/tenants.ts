import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { WacloudError } from '../core/errors.js';
import type { Db } from './engine.js';
import type { TenantsTable } from './schema.js';

export type TenantStatus = 'active' | 'suspended';

/** A business the broker acts for. */
export interface Tenant {
  id: string;
  name: string;
  status: TenantStatus;
  /** Free-form, non-secret settings (JSON object). */
  metadata: Record<string, unknown>;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface NewTenant {
  id?: string;
  name: string;
  status?: TenantStatus;
  metadata?: Record<string, unknown>;
}

export type TenantPatch = Partial<Pick<Tenant, 'name' | 'status' | 'metadata'>>;

/** Tenants: create, read, rename/suspend, and delete with everything that belongs to them (not the audit log). */
export interface TenantRepository {
  create(tenant: NewTenant, nowMs: number): Promise<Tenant>;
  get(id: string): Promise<Tenant | undefined>;
  list(): Promise<Tenant[]>;
  /** Returns the updated tenant, or undefined when there is none with that id. */
  update(id: string, patch: TenantPatch, nowMs: number): Promise<Tenant | undefined>;
  /**
   * Deletes the tenant and, in one transaction, its credentials, phone numbers, API keys, subscriptions (and their
   * deliveries) and pending OAuth states. The audit log is kept. Returns whether a tenant was deleted.
   */
  delete(id: string): Promise<boolean>;
}

function decode(r: Selectable<TenantsTable>): Tenant {
  return {
    id: r.id,
    name: r.name,
    status: r.status as TenantStatus,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    createdAtMs: Number(r.created_at_ms),
    updatedAtMs: Number(r.updated_at_ms),
  };
}

export function createTenantRepository(db: Db): TenantRepository {
  const k = db.kysely;
  return {
    async create(t, nowMs) {
      const id = t.id ?? randomUUID();
      const row = await db.run(`creating tenant ${id}`, async () => {
        const existing = await k.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst();
        if (existing) throw new WacloudError('CONFLICT', `tenant ${id} already exists`);
        return k
          .insertInto('tenants')
          .values({
            id,
            name: t.name,
            status: t.status ?? 'active',
            metadata: JSON.stringify(t.metadata ?? {}),
            created_at_ms: nowMs,
            updated_at_ms: nowMs,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      });
      return decode(row);
    },
    async get(id) {
      const row = await db.run('reading a tenant', () =>
        k.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst(),
      );
      return row ? decode(row) : undefined;
    },
    async list() {
      const rows = await db.run('listing tenants', () =>
        k.selectFrom('tenants').selectAll().orderBy('created_at_ms').orderBy('id').execute(),
      );
      return rows.map(decode);
    },
    async update(id, patch, nowMs) {
      const set: Partial<TenantsTable> = { updated_at_ms: nowMs };
      if (patch.name !== undefined) set.name = patch.name;
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.metadata !== undefined) set.metadata = JSON.stringify(patch.metadata);
      const row = await db.run(`updating tenant ${id}`, () =>
        k.updateTable('tenants').set(set).where('id', '=', id).returningAll().executeTakeFirst(),
      );
      return row ? decode(row) : undefined;
    },
    async delete(id) {
      return db.run(`deleting tenant ${id}`, () =>
        k.transaction().execute(async (trx) => {
          const subs = trx.selectFrom('subscriptions').select('id').where('tenant_id', '=', id);
          await trx.deleteFrom('deliveries').where('subscription_id', 'in', subs).execute();
          await trx.deleteFrom('subscriptions').where('tenant_id', '=', id).execute();
          await trx.deleteFrom('credentials').where('tenant_id', '=', id).execute();
          await trx.deleteFrom('phone_numbers').where('tenant_id', '=', id).execute();
          await trx.deleteFrom('api_keys').where('tenant_id', '=', id).execute();
          await trx.deleteFrom('oauth_states').where('tenant_id', '=', id).execute();
          const r = await trx.deleteFrom('tenants').where('id', '=', id).executeTakeFirst();
          return Number(r.numDeletedRows) > 0;
        }),
      );
    },
  };
}
