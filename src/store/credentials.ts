import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { sql } from 'kysely';
import {
  type CredentialKind,
  CredentialNotFoundError,
  type CredentialPatch,
  type CredentialRecord,
  type CredentialStatus,
  type CredentialStore,
  type CredentialSummary,
  type NewCredential,
} from '../auth/credential-store.js';
import { WacloudError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { Secret } from '../core/secret.js';
import { CryptoError } from '../vault/crypto/crypto-error.js';
import { type Db, NEVER_MS, type StoreEngine } from './engine.js';
import type { KeyStore } from './key-store.js';
import type { CredentialsTable } from './schema.js';

type Row = Selectable<CredentialsTable>;

/** Additional data of a credential's token: its row and version, so a ciphertext moved or replayed fails. */
export function credentialContext(id: string, version: number): string {
  return `credentials/${id}/v${version}`;
}

/**
 * The due-row pick of {@link SqlCredentialStore.claimDue}: due, not "never", lease free or lapsed, oldest first,
 * `FOR UPDATE SKIP LOCKED` on PostgreSQL. It repeats the partial index's predicate so the planner uses the index and
 * a sweep reads only due rows. Exported so tests can EXPLAIN it.
 */
export function dueCredentialIds(nowMs: number, limit: number, engine: StoreEngine) {
  return sql`
    SELECT id FROM credentials
    WHERE next_check_at_ms <= ${nowMs} AND next_check_at_ms < ${sql.lit(NEVER_MS)}
      AND (lease_owner IS NULL OR lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ${nowMs})
    ORDER BY next_check_at_ms
    LIMIT ${limit}
    ${engine === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``}`;
}

const num = (v: number | null): number | null => (v === null ? null : Number(v));

/**
 * The encrypted credential store on SQLite or PostgreSQL: implements {@link CredentialStore} exactly (including
 * `claim`). Tokens are {@link Secret}s in memory and AES-256-GCM ciphertext + key id in the database, bound to
 * credential id + version.
 */
export class SqlCredentialStore implements CredentialStore {
  constructor(
    readonly db: Db,
    readonly keys: KeyStore,
    readonly logger: Logger = silentLogger,
  ) {}

  async #decode(row: Row): Promise<CredentialRecord> {
    const version = Number(row.version);
    const token = await this.keys.decrypt(
      row.key_id,
      Buffer.from(row.token_ct),
      credentialContext(row.id, version),
    );
    return {
      id: row.id,
      tenantId: row.tenant_id,
      kind: row.kind as CredentialKind,
      appId: row.app_id,
      subjectId: row.subject_id,
      scopes: JSON.parse(row.scopes) as string[],
      targetIds: JSON.parse(row.target_ids) as string[],
      token: new Secret(token.toString('utf8'), 'access-token'),
      version,
      issuedAtMs: num(row.issued_at_ms),
      expiresAtMs: num(row.expires_at_ms),
      dataAccessExpiresAtMs: num(row.data_access_expires_at_ms),
      status: row.status as CredentialStatus,
      nextCheckAtMs: Number(row.next_check_at_ms),
      leaseOwner: row.lease_owner,
      leaseExpiresAtMs: num(row.lease_expires_at_ms),
      failures: Number(row.failures),
      lastError: row.last_error,
      createdAtMs: Number(row.created_at_ms),
      updatedAtMs: Number(row.updated_at_ms),
    };
  }

  async #decodeAll(rows: Row[]): Promise<CredentialRecord[]> {
    const out: CredentialRecord[] = [];
    for (const r of rows) out.push(await this.#decode(r));
    return out;
  }

  async get(id: string): Promise<CredentialRecord | undefined> {
    const row = await this.db.run('reading a credential', () =>
      this.db.kysely.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row ? this.#decode(row) : undefined;
  }

  async listByTenant(tenantId: string): Promise<CredentialRecord[]> {
    const rows = await this.db.run('listing credentials', () =>
      this.db.kysely
        .selectFrom('credentials')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .orderBy('created_at_ms')
        .orderBy('id')
        .execute(),
    );
    return this.#decodeAll(rows);
  }

  async list(): Promise<CredentialRecord[]> {
    const rows = await this.db.run('listing credentials', () =>
      this.db.kysely.selectFrom('credentials').selectAll().orderBy('created_at_ms').orderBy('id').execute(),
    );
    return this.#decodeAll(rows);
  }

  /** Token-free rows: no ciphertext is read or decrypted (metrics scrapes, proxy routing, listings). */
  async listSummaries(tenantId?: string): Promise<CredentialSummary[]> {
    const rows = await this.db.run('listing credentials', () => {
      let q = this.db.kysely
        .selectFrom('credentials')
        .select(['id', 'tenant_id', 'kind', 'version', 'status', 'expires_at_ms', 'created_at_ms']);
      if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
      return q.orderBy('created_at_ms').orderBy('id').execute();
    });
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      kind: r.kind as CredentialKind,
      version: Number(r.version),
      status: r.status as CredentialStatus,
      expiresAtMs: num(r.expires_at_ms),
      createdAtMs: Number(r.created_at_ms),
    }));
  }

  async insert(record: NewCredential, nowMs: number): Promise<CredentialRecord> {
    const id = record.id ?? randomUUID();
    const sealed = await this.keys.encrypt(record.token.reveal(), credentialContext(id, 1));
    const row = await this.db.run(`inserting credential ${id}`, async () => {
      try {
        return await this.db.kysely
          .insertInto('credentials')
          .values({
            id,
            tenant_id: record.tenantId,
            kind: record.kind,
            app_id: record.appId,
            subject_id: record.subjectId,
            scopes: JSON.stringify(record.scopes),
            target_ids: JSON.stringify(record.targetIds),
            token_ct: sealed.ciphertext,
            key_id: sealed.keyId,
            version: 1,
            issued_at_ms: record.issuedAtMs,
            expires_at_ms: record.expiresAtMs,
            data_access_expires_at_ms: record.dataAccessExpiresAtMs,
            status: record.status,
            next_check_at_ms: record.nextCheckAtMs,
            lease_owner: null,
            lease_expires_at_ms: null,
            failures: 0,
            last_error: null,
            created_at_ms: nowMs,
            updated_at_ms: nowMs,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new WacloudError('CONFLICT', `credential ${id} already exists`);
        }
        throw err;
      }
    });
    return this.#decode(row);
  }

  async update(
    id: string,
    expectedVersion: number,
    patch: CredentialPatch,
    nowMs: number,
  ): Promise<CredentialRecord | undefined> {
    const current = await this.get(id);
    if (!current) throw new CredentialNotFoundError(id);
    if (current.version !== expectedVersion) return undefined;
    const tokenChanged = patch.token !== undefined && !patch.token.equals(current.token);
    const version = tokenChanged ? expectedVersion + 1 : expectedVersion;
    const set: Partial<CredentialsTable> = { updated_at_ms: nowMs };
    if (tokenChanged && patch.token) {
      const sealed = await this.keys.encrypt(patch.token.reveal(), credentialContext(id, version));
      set.token_ct = sealed.ciphertext;
      set.key_id = sealed.keyId;
      set.version = version;
    }
    if (patch.kind !== undefined) set.kind = patch.kind;
    if (patch.scopes !== undefined) set.scopes = JSON.stringify(patch.scopes);
    if (patch.targetIds !== undefined) set.target_ids = JSON.stringify(patch.targetIds);
    if (patch.issuedAtMs !== undefined) set.issued_at_ms = patch.issuedAtMs;
    if (patch.expiresAtMs !== undefined) set.expires_at_ms = patch.expiresAtMs;
    if (patch.dataAccessExpiresAtMs !== undefined)
      set.data_access_expires_at_ms = patch.dataAccessExpiresAtMs;
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.nextCheckAtMs !== undefined) set.next_check_at_ms = patch.nextCheckAtMs;
    if (patch.leaseOwner !== undefined) set.lease_owner = patch.leaseOwner;
    if (patch.leaseExpiresAtMs !== undefined) set.lease_expires_at_ms = patch.leaseExpiresAtMs;
    if (patch.failures !== undefined) set.failures = patch.failures;
    if (patch.lastError !== undefined) set.last_error = patch.lastError;
    if (patch.subjectId !== undefined) set.subject_id = patch.subjectId;
    const row = await this.db.run(`updating credential ${id}`, () =>
      this.db.kysely
        .updateTable('credentials')
        .set(set)
        .where('id', '=', id)
        .where('version', '=', expectedVersion)
        .returningAll()
        .executeTakeFirst(),
    );
    // No row: another writer changed the version between our read and this compare-and-set.
    return row ? this.#decode(row) : undefined;
  }

  async claimDue(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<CredentialRecord[]> {
    if (limit <= 0) return [];
    const k = this.db.kysely;
    const leaseUntil = nowMs + leaseMs;
    const pick = dueCredentialIds(nowMs, limit, this.db.engine);
    const statement = sql<Row>`
      UPDATE credentials SET lease_owner = ${owner}, lease_expires_at_ms = ${leaseUntil}
      WHERE id IN (${pick})
      RETURNING *`;
    const rows = await this.db.run('claiming due credentials', () =>
      this.db.engine === 'postgres'
        ? statement.execute(k).then((r) => r.rows)
        : // SQLite: one statement in a write transaction, so the pick and the lease are one step across processes.
          k.transaction().execute((trx) => statement.execute(trx).then((r) => r.rows)),
    );
    rows.sort((a, b) => Number(a.next_check_at_ms) - Number(b.next_check_at_ms));
    // One row that does not decrypt (tampered, or its key is gone) must not stall the sweep for every other
    // credential: it is left out and keeps its lease, so it is retried (and reported again) once the lease lapses.
    const out: CredentialRecord[] = [];
    for (const row of rows) {
      try {
        out.push(await this.#decode(row));
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        this.logger.error('credential cannot be decrypted; the renewal sweep skips it', {
          credentialId: row.id,
          tenantId: row.tenant_id,
          error: err.message,
        });
      }
    }
    return out;
  }

  async claim(
    id: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<CredentialRecord | undefined> {
    const row = await this.db.run(`leasing credential ${id}`, () =>
      this.db.kysely
        .updateTable('credentials')
        .set({ lease_owner: owner, lease_expires_at_ms: nowMs + leaseMs })
        .where('id', '=', id)
        .where((eb) =>
          eb.or([
            eb('lease_owner', 'is', null),
            eb('lease_owner', '=', owner),
            eb('lease_expires_at_ms', 'is', null),
            eb('lease_expires_at_ms', '<=', nowMs),
          ]),
        )
        .returningAll()
        .executeTakeFirst(),
    );
    return row ? this.#decode(row) : undefined;
  }

  async releaseLease(id: string, owner: string, _nowMs: number): Promise<void> {
    await this.db.run(`releasing the lease on credential ${id}`, () =>
      this.db.kysely
        .updateTable('credentials')
        .set({ lease_owner: null, lease_expires_at_ms: null })
        .where('id', '=', id)
        .where('lease_owner', '=', owner)
        .execute(),
    );
  }

  async delete(id: string): Promise<void> {
    await this.db.run(`deleting credential ${id}`, () =>
      this.db.kysely.deleteFrom('credentials').where('id', '=', id).execute(),
    );
  }

  /** Number of credentials (diagnostics, `keys status`). */
  async count(): Promise<number> {
    const r = await this.db.run('counting credentials', () =>
      this.db.kysely
        .selectFrom('credentials')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
    );
    return Number(r.n);
  }
}
