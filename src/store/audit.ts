import type { Selectable } from 'kysely';
import { Secret, scrubText } from '../core/secret.js';
import type { Db } from './engine.js';
import type { AuditLogTable } from './schema.js';

/** One audit entry: a token event, never a token value. */
export interface AuditEntry {
  id: number;
  tenantId: string | null;
  credentialId: string | null;
  /** e.g. `credential.refreshed`, `keys.rotated`. */
  event: string;
  detail: Record<string, unknown>;
  atMs: number;
}

export interface NewAuditEntry {
  tenantId?: string | null;
  credentialId?: string | null;
  event: string;
  /** JSON-serialisable; {@link Secret}s become fingerprints and token-like text is scrubbed before storing. */
  detail?: Record<string, unknown>;
}

export interface AuditQuery {
  tenantId?: string;
  credentialId?: string;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Entries older than this id (paging). */
  beforeId?: number;
}

export interface AuditLog {
  append(entry: NewAuditEntry, nowMs: number): Promise<AuditEntry>;
  /** Newest first. */
  list(query?: AuditQuery): Promise<AuditEntry[]>;
}

/** Serialises audit detail so no secret survives: Secrets print as fingerprints, then the text is scrubbed. */
export function auditDetailJson(detail: Record<string, unknown> | undefined): string {
  const json = JSON.stringify(detail ?? {}, (_k, v: unknown) =>
    v instanceof Secret ? v.toString() : typeof v === 'bigint' ? v.toString() : v,
  );
  return scrubText(json);
}

function decode(r: Selectable<AuditLogTable>): AuditEntry {
  return {
    id: Number(r.id),
    tenantId: r.tenant_id,
    credentialId: r.credential_id,
    event: r.event,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
    atMs: Number(r.at_ms),
  };
}

export function createAuditLog(db: Db): AuditLog {
  const k = db.kysely;
  return {
    async append(entry, nowMs) {
      const row = await db.run('writing the audit log', () =>
        k
          .insertInto('audit_log')
          .values({
            tenant_id: entry.tenantId ?? null,
            credential_id: entry.credentialId ?? null,
            event: entry.event,
            detail: auditDetailJson(entry.detail),
            at_ms: nowMs,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return decode(row);
    },
    async list(query = {}) {
      const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
      const rows = await db.run('reading the audit log', () => {
        let q = k.selectFrom('audit_log').selectAll();
        if (query.tenantId !== undefined) q = q.where('tenant_id', '=', query.tenantId);
        if (query.credentialId !== undefined) q = q.where('credential_id', '=', query.credentialId);
        if (query.beforeId !== undefined) q = q.where('id', '<', query.beforeId);
        return q.orderBy('id', 'desc').limit(limit).execute();
      });
      return rows.map(decode);
    },
  };
}
