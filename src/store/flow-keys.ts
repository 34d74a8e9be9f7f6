import { createHash, randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { Secret } from '../core/secret.js';
import type { Db, StoreEngine } from './engine.js';
import type { KeyStore } from './key-store.js';
import type { Migration } from './migrations.js';

/**
 * WhatsApp Flows key pairs, one current pair per phone number: the private key encrypted at rest like tokens (AES-GCM
 * under the active data key, bound to its row), the public key in clear (it is public; Meta holds a copy).
 *
 * Lifecycle: `pending` (generated, not yet on Meta) → `active` (uploaded and checked) → `retiring` (a newer key was
 * uploaded; still accepted until `retire_after_ms`, because WhatsApp clients keep the old public key for a while and
 * re-fetch it only after a 421) → `retired` (refused; its private key erased).
 */
export type FlowKeyState = 'pending' | 'active' | 'retiring' | 'retired';

export interface FlowKeyRecord {
  id: string;
  tenantId: string;
  phoneNumberId: string;
  publicKeyPem: string;
  /** SHA-256 of the public key's PEM, first 16 hex: tells keys apart in lists and logs. */
  fingerprint: string;
  state: FlowKeyState;
  createdAtMs: number;
  uploadedAtMs: number | null;
  retireAfterMs: number | null;
  /** What Meta answered for the key (`VALID`, `MISMATCH`) at the last check. */
  metaStatus: string | null;
  checkedAtMs: number | null;
}

export interface FlowKeysTable {
  id: string;
  tenant_id: string;
  phone_number_id: string;
  public_key_pem: string;
  fingerprint: string;
  private_ct: Buffer | null;
  key_id: string | null;
  state: string;
  created_at_ms: number;
  uploaded_at_ms: number | null;
  retire_after_ms: number | null;
  meta_status: string | null;
  checked_at_ms: number | null;
}

/** The migration that adds the table (appended to MIGRATIONS). */
export function flowKeysMigration(version: number): Migration {
  return {
    version,
    name: 'flow keys',
    statements(engine: StoreEngine) {
      const ms = engine === 'postgres' ? 'BIGINT' : 'INTEGER';
      const bytes = engine === 'postgres' ? 'BYTEA' : 'BLOB';
      return [
        `CREATE TABLE flow_keys (
          id TEXT PRIMARY KEY,
          tenant_id TEXT NOT NULL,
          phone_number_id TEXT NOT NULL,
          public_key_pem TEXT NOT NULL,
          fingerprint TEXT NOT NULL,
          private_ct ${bytes},
          key_id TEXT,
          state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retiring', 'retired')),
          created_at_ms ${ms} NOT NULL,
          uploaded_at_ms ${ms},
          retire_after_ms ${ms},
          meta_status TEXT,
          checked_at_ms ${ms}
        )`,
        `CREATE INDEX flow_keys_phone ON flow_keys (phone_number_id, state)`,
        `CREATE INDEX flow_keys_key_id ON flow_keys (key_id)`,
        // One active key per number: the upload that activates a key retires the previous one in the same transaction.
        `CREATE UNIQUE INDEX flow_keys_one_active ON flow_keys (phone_number_id) WHERE state = 'active'`,
      ];
    },
  };
}

export function flowKeyContext(id: string): string {
  return `flow_keys/${id}`;
}

export function flowKeyFingerprint(publicKeyPem: string): string {
  return createHash('sha256').update(publicKeyPem.trim()).digest('hex').slice(0, 16);
}

export interface FlowKeyRepository {
  /** Stores a new `pending` pair for a number. */
  create(
    input: { tenantId: string; phoneNumberId: string; publicKeyPem: string; privateKeyPem: Secret },
    nowMs: number,
  ): Promise<FlowKeyRecord>;
  get(id: string): Promise<FlowKeyRecord | undefined>;
  listByPhone(phoneNumberId: string): Promise<FlowKeyRecord[]>;
  listByTenant(tenantId: string): Promise<FlowKeyRecord[]>;
  /**
   * The key is on Meta: it becomes `active`; the number's previous active key becomes `retiring` until
   * `nowMs + graceMs`. One transaction.
   */
  activate(id: string, nowMs: number, graceMs: number, metaStatus: string): Promise<FlowKeyRecord>;
  /** Records Meta's answer to a key check. */
  recordCheck(id: string, metaStatus: string, nowMs: number): Promise<void>;
  /** The private keys a request may be encrypted for: active first, then retiring ones still in their grace period. */
  privateKeys(
    phoneNumberId: string,
    nowMs: number,
  ): Promise<Array<{ record: FlowKeyRecord; privateKeyPem: Secret }>>;
  /** Retires keys past their grace period and erases their private key. Returns the keys it retired (for the audit). */
  retireDue(nowMs: number): Promise<FlowKeyRecord[]>;
}

export function createFlowKeyRepository(db: Db, keys: KeyStore): FlowKeyRepository {
  const k = db.kysely;
  const decode = (r: Selectable<FlowKeysTable>): FlowKeyRecord => ({
    id: r.id,
    tenantId: r.tenant_id,
    phoneNumberId: r.phone_number_id,
    publicKeyPem: r.public_key_pem,
    fingerprint: r.fingerprint,
    state: r.state as FlowKeyState,
    createdAtMs: Number(r.created_at_ms),
    uploadedAtMs: r.uploaded_at_ms === null ? null : Number(r.uploaded_at_ms),
    retireAfterMs: r.retire_after_ms === null ? null : Number(r.retire_after_ms),
    metaStatus: r.meta_status,
    checkedAtMs: r.checked_at_ms === null ? null : Number(r.checked_at_ms),
  });
  const one = async (id: string) =>
    db.run('reading a flow key', () =>
      k.selectFrom('flow_keys').selectAll().where('id', '=', id).executeTakeFirst(),
    );
  return {
    async create(input, nowMs) {
      const id = randomUUID();
      const sealed = await keys.encrypt(input.privateKeyPem.reveal(), flowKeyContext(id));
      const row = await db.run('storing a flow key', () =>
        k
          .insertInto('flow_keys')
          .values({
            id,
            tenant_id: input.tenantId,
            phone_number_id: input.phoneNumberId,
            public_key_pem: input.publicKeyPem.trim(),
            fingerprint: flowKeyFingerprint(input.publicKeyPem),
            private_ct: sealed.ciphertext,
            key_id: sealed.keyId,
            state: 'pending',
            created_at_ms: nowMs,
            uploaded_at_ms: null,
            retire_after_ms: null,
            meta_status: null,
            checked_at_ms: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return decode(row);
    },
    async get(id) {
      const row = await one(id);
      return row ? decode(row) : undefined;
    },
    async listByPhone(phoneNumberId) {
      const rows = await db.run('listing flow keys', () =>
        k
          .selectFrom('flow_keys')
          .selectAll()
          .where('phone_number_id', '=', phoneNumberId)
          .orderBy('created_at_ms', 'desc')
          .execute(),
      );
      return rows.map(decode);
    },
    async listByTenant(tenantId) {
      const rows = await db.run('listing flow keys', () =>
        k
          .selectFrom('flow_keys')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .orderBy('created_at_ms', 'desc')
          .execute(),
      );
      return rows.map(decode);
    },
    async activate(id, nowMs, graceMs, metaStatus) {
      const row = await db.exclusive('activating a flow key', async (trx) => {
        const target = await trx.selectFrom('flow_keys').selectAll().where('id', '=', id).executeTakeFirst();
        if (!target) throw new Error(`no flow key ${id}`);
        if (target.state === 'retired') throw new Error(`flow key ${id} is retired`);
        await trx
          .updateTable('flow_keys')
          .set({ state: 'retiring', retire_after_ms: nowMs + graceMs })
          .where('phone_number_id', '=', target.phone_number_id)
          .where('state', '=', 'active')
          .where('id', '!=', id)
          .execute();
        return trx
          .updateTable('flow_keys')
          .set({
            state: 'active',
            uploaded_at_ms: nowMs,
            retire_after_ms: null,
            meta_status: metaStatus,
            checked_at_ms: nowMs,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
      });
      return decode(row);
    },
    async recordCheck(id, metaStatus, nowMs) {
      await db.run('recording a flow key check', () =>
        k
          .updateTable('flow_keys')
          .set({ meta_status: metaStatus, checked_at_ms: nowMs })
          .where('id', '=', id)
          .execute(),
      );
    },
    async privateKeys(phoneNumberId, nowMs) {
      const rows = await db.run('reading flow keys', () =>
        k
          .selectFrom('flow_keys')
          .selectAll()
          .where('phone_number_id', '=', phoneNumberId)
          .where('state', 'in', ['active', 'retiring'])
          .execute(),
      );
      const usable = rows
        .filter(
          (r) => r.state === 'active' || (r.retire_after_ms !== null && Number(r.retire_after_ms) > nowMs),
        )
        .sort((a, b) =>
          a.state === 'active'
            ? -1
            : b.state === 'active'
              ? 1
              : Number(b.created_at_ms) - Number(a.created_at_ms),
        );
      const out: Array<{ record: FlowKeyRecord; privateKeyPem: Secret }> = [];
      for (const r of usable) {
        if (!r.private_ct || !r.key_id) continue;
        const pem = await keys.decrypt(r.key_id, Buffer.from(r.private_ct), flowKeyContext(r.id));
        out.push({ record: decode(r), privateKeyPem: new Secret(pem.toString('utf8'), 'flow-private-key') });
      }
      return out;
    },
    async retireDue(nowMs) {
      // RETURNING: only the instance whose update retired a row reports it (no double audit entries).
      const rows = await db.run('retiring flow keys', () =>
        k
          .updateTable('flow_keys')
          .set({ state: 'retired', private_ct: null, key_id: null })
          .where('state', '=', 'retiring')
          .where('retire_after_ms', '<=', nowMs)
          .returningAll()
          .execute(),
      );
      return rows.map(decode);
    },
  };
}
