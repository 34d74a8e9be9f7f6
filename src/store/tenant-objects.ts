import { CompiledQuery } from 'kysely';
import type { Db } from './engine.js';

/** What a Graph object is, as far as ownership goes. */
export type TenantObjectKind = 'media' | 'template' | 'flow' | 'object';

/** How the tenant came to own it: created through the proxy, or received in one of its webhooks (a customer's media). */
export type TenantObjectOrigin = 'created' | 'webhook';

export interface TenantObject {
  objectId: string;
  tenantId: string;
  kind: TenantObjectKind;
  origin: TenantObjectOrigin;
  createdAtMs: number;
}

/** An owner to record (the store stamps the time). */
export type NewTenantObject = Omit<TenantObject, 'createdAtMs'>;

export interface TenantObjectRepository {
  /**
   * Records owners; an object that has one already keeps it (first owner wins, in one statement: two tenants racing
   * cannot both own it). One multi-row INSERT for the lot. Resolves with the ids recorded now (not owned before).
   */
  record(objects: NewTenantObject[], nowMs: number): Promise<string[]>;
  /** The owning tenant of `objectId`, or undefined. */
  ownerOf(objectId: string): Promise<string | undefined>;
  /** A tenant's objects, newest first. */
  listByTenant(tenantId: string, limit?: number): Promise<TenantObject[]>;
}

export function createTenantObjectRepository(db: Db): TenantObjectRepository {
  const k = db.kysely;
  return {
    async record(objects, nowMs) {
      if (objects.length === 0) return [];
      const p = (i: number) => (db.engine === 'postgres' ? `$${i + 1}` : '?');
      const rows: string[] = [];
      const params: unknown[] = [];
      for (const o of objects) {
        const at = params.length;
        rows.push(`(${p(at)}, ${p(at + 1)}, ${p(at + 2)}, ${p(at + 3)}, ${p(at + 4)})`);
        params.push(o.objectId, o.tenantId, o.kind, o.origin, nowMs);
      }
      const text =
        'INSERT INTO tenant_objects (object_id, tenant_id, kind, origin, created_at_ms) VALUES ' +
        `${rows.join(', ')} ON CONFLICT (object_id) DO NOTHING RETURNING object_id`;
      const r = await db.run('recording tenant objects', () =>
        k.executeQuery<{ object_id: string }>(CompiledQuery.raw(text, params)),
      );
      return r.rows.map((row) => row.object_id);
    },
    async ownerOf(objectId) {
      const row = await db.run('reading an object owner', () =>
        k
          .selectFrom('tenant_objects')
          .select('tenant_id')
          .where('object_id', '=', objectId)
          .executeTakeFirst(),
      );
      return row?.tenant_id;
    },
    async listByTenant(tenantId, limit = 100) {
      const rows = await db.run('listing tenant objects', () =>
        k
          .selectFrom('tenant_objects')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .orderBy('created_at_ms', 'desc')
          .limit(Math.min(Math.max(limit, 1), 1000))
          .execute(),
      );
      return rows.map((r) => ({
        objectId: r.object_id,
        tenantId: r.tenant_id,
        kind: r.kind as TenantObjectKind,
        origin: r.origin as TenantObjectOrigin,
        createdAtMs: Number(r.created_at_ms),
      }));
    },
  };
}
