import type { Selectable } from 'kysely';
import { WacloudError } from '../core/errors.js';
import type { Db } from './engine.js';
import type { ApiKeysTable } from './schema.js';

/** A broker API key as stored: only its hash, never the key. `tenantId` null means an admin key. */
export interface ApiKeyRecord {
  keyId: string;
  /** SHA-256 hex of the full key (see broker/security/api-key.ts). */
  hash: string;
  tenantId: string | null;
  label: string;
  createdAtMs: number;
  lastUsedAtMs: number | null;
  revokedAtMs: number | null;
}

export interface NewApiKeyRecord {
  keyId: string;
  hash: string;
  tenantId: string | null;
  label: string;
}

export interface ApiKeyRepository {
  insert(key: NewApiKeyRecord, nowMs: number): Promise<ApiKeyRecord>;
  /** Looks a key up by its hash (revoked keys included: check `revokedAtMs`). */
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  get(keyId: string): Promise<ApiKeyRecord | undefined>;
  /** Keys of one tenant, or the admin keys when `tenantId` is null. */
  listByTenant(tenantId: string | null): Promise<ApiKeyRecord[]>;
  list(): Promise<ApiKeyRecord[]>;
  /** Number of keys not revoked (the broker asks whether any admin key exists yet). */
  count(): Promise<number>;
  /** Records a use. */
  touch(keyId: string, nowMs: number): Promise<void>;
  /** Revokes a key; returns false when it does not exist or was already revoked. */
  revoke(keyId: string, nowMs: number): Promise<boolean>;
}

const HEX64 = /^[0-9a-f]{64}$/;

function decode(r: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    keyId: r.key_id,
    hash: r.key_hash,
    tenantId: r.tenant_id,
    label: r.label,
    createdAtMs: Number(r.created_at_ms),
    lastUsedAtMs: r.last_used_at_ms === null ? null : Number(r.last_used_at_ms),
    revokedAtMs: r.revoked_at_ms === null ? null : Number(r.revoked_at_ms),
  };
}

export function createApiKeyRepository(db: Db): ApiKeyRepository {
  const k = db.kysely;
  return {
    async insert(key, nowMs) {
      // A full key here would be stored in clear: accept only what a hash looks like.
      if (!HEX64.test(key.hash))
        throw new WacloudError('VALIDATION', 'API key hash must be 64 lower-case hex chars');
      const row = await db.run(`saving API key ${key.keyId}`, () =>
        k
          .insertInto('api_keys')
          .values({
            key_id: key.keyId,
            key_hash: key.hash,
            tenant_id: key.tenantId,
            label: key.label,
            created_at_ms: nowMs,
            last_used_at_ms: null,
            revoked_at_ms: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return decode(row);
    },
    async findByHash(hash) {
      if (!HEX64.test(hash)) return undefined;
      const row = await db.run('looking up an API key', () =>
        k.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst(),
      );
      return row ? decode(row) : undefined;
    },
    async get(keyId) {
      const row = await db.run('reading an API key', () =>
        k.selectFrom('api_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst(),
      );
      return row ? decode(row) : undefined;
    },
    async listByTenant(tenantId) {
      const rows = await db.run('listing API keys', () =>
        k
          .selectFrom('api_keys')
          .selectAll()
          .where('tenant_id', tenantId === null ? 'is' : '=', tenantId)
          .orderBy('created_at_ms')
          .execute(),
      );
      return rows.map(decode);
    },
    async list() {
      const rows = await db.run('listing API keys', () =>
        k.selectFrom('api_keys').selectAll().orderBy('created_at_ms').execute(),
      );
      return rows.map(decode);
    },
    async count() {
      const r = await db.run('counting API keys', () =>
        k
          .selectFrom('api_keys')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('revoked_at_ms', 'is', null)
          .executeTakeFirstOrThrow(),
      );
      return Number(r.n);
    },
    async touch(keyId, nowMs) {
      await db.run('recording an API key use', () =>
        k.updateTable('api_keys').set({ last_used_at_ms: nowMs }).where('key_id', '=', keyId).execute(),
      );
    },
    async revoke(keyId, nowMs) {
      const r = await db.run(`revoking API key ${keyId}`, () =>
        k
          .updateTable('api_keys')
          .set({ revoked_at_ms: nowMs })
          .where('key_id', '=', keyId)
          .where('revoked_at_ms', 'is', null)
          .executeTakeFirst(),
      );
      return Number(r.numUpdatedRows) > 0;
    },
  };
}
