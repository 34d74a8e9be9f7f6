import type { Selectable } from 'kysely';
import type { Db } from './engine.js';
import type { PhoneNumbersTable } from './schema.js';

/** A WhatsApp business phone number and who it belongs to; webhooks are routed by its id. */
export interface PhoneNumberRecord {
  /** Meta's phone number id. */
  id: string;
  tenantId: string;
  wabaId: string;
  displayPhoneNumber: string;
  verifiedName: string | null;
  /** The credential that sends for it, when known. */
  credentialId: string | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export type PhoneNumberInput = Omit<PhoneNumberRecord, 'createdAtMs' | 'updatedAtMs'>;

export interface PhoneNumberRepository {
  /**
   * Inserts or updates (by id) a phone number; `createdAtMs` survives an update. A number owned by another tenant is
   * never moved (one conditional statement, so two tenants racing cannot both win): the owner's row comes back
   * unchanged, and the caller compares `tenantId`. Delete it first to hand a number over.
   */
  upsert(phone: PhoneNumberInput, nowMs: number): Promise<PhoneNumberRecord>;
  get(id: string): Promise<PhoneNumberRecord | undefined>;
  /** The tenant owning `phoneNumberId`, or undefined: the webhook router's lookup. */
  findTenantId(phoneNumberId: string): Promise<string | undefined>;
  listByTenant(tenantId: string): Promise<PhoneNumberRecord[]>;
  /** The tenant owning a WABA (through its phone numbers), for WABA-level webhooks. */
  tenantOfWaba(wabaId: string): Promise<string | undefined>;
  delete(id: string): Promise<boolean>;
}

function decode(r: Selectable<PhoneNumbersTable>): PhoneNumberRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    wabaId: r.waba_id,
    displayPhoneNumber: r.display_phone_number,
    verifiedName: r.verified_name,
    credentialId: r.credential_id,
    createdAtMs: Number(r.created_at_ms),
    updatedAtMs: Number(r.updated_at_ms),
  };
}

export function createPhoneNumberRepository(db: Db): PhoneNumberRepository {
  const k = db.kysely;
  const repo: PhoneNumberRepository = {
    async upsert(p, nowMs) {
      const row = await db.run(`saving phone number ${p.id}`, () =>
        k
          .insertInto('phone_numbers')
          .values({
            id: p.id,
            tenant_id: p.tenantId,
            waba_id: p.wabaId,
            display_phone_number: p.displayPhoneNumber,
            verified_name: p.verifiedName,
            credential_id: p.credentialId,
            created_at_ms: nowMs,
            updated_at_ms: nowMs,
          })
          .onConflict((oc) =>
            oc
              .column('id')
              .doUpdateSet({
                tenant_id: p.tenantId,
                waba_id: p.wabaId,
                display_phone_number: p.displayPhoneNumber,
                verified_name: p.verifiedName,
                credential_id: p.credentialId,
                updated_at_ms: nowMs,
              })
              .where('phone_numbers.tenant_id', '=', p.tenantId),
          )
          .returningAll()
          .executeTakeFirst(),
      );
      if (row) return decode(row);
      const owner = await repo.get(p.id);
      if (!owner) throw new Error(`phone number ${p.id} vanished while being saved`);
      return owner;
    },
    async get(id) {
      const row = await db.run('reading a phone number', () =>
        k.selectFrom('phone_numbers').selectAll().where('id', '=', id).executeTakeFirst(),
      );
      return row ? decode(row) : undefined;
    },
    async findTenantId(phoneNumberId) {
      const row = await db.run('routing by phone number', () =>
        k.selectFrom('phone_numbers').select('tenant_id').where('id', '=', phoneNumberId).executeTakeFirst(),
      );
      return row?.tenant_id;
    },
    async listByTenant(tenantId) {
      const rows = await db.run('listing phone numbers', () =>
        k.selectFrom('phone_numbers').selectAll().where('tenant_id', '=', tenantId).orderBy('id').execute(),
      );
      return rows.map(decode);
    },
    async tenantOfWaba(wabaId) {
      const row = await db.run('routing by WABA', () =>
        k
          .selectFrom('phone_numbers')
          .select('tenant_id')
          .where('waba_id', '=', wabaId)
          .orderBy('created_at_ms')
          .limit(1)
          .executeTakeFirst(),
      );
      return row?.tenant_id;
    },
    async delete(id) {
      const r = await db.run(`deleting phone number ${id}`, () =>
        k.deleteFrom('phone_numbers').where('id', '=', id).executeTakeFirst(),
      );
      return Number(r.numDeletedRows) > 0;
    },
  };
  return repo;
}
