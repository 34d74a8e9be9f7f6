import type { Clock } from '../core/clock.js';
import { CryptoError } from '../vault/crypto/crypto-error.js';
import {
  createDataKey,
  type DataKeyRecord,
  type DataKeyState,
  Keyring,
  type Sealed,
} from '../vault/crypto/keyring.js';
import type { MasterKey } from '../vault/crypto/master-key.js';
import type { Db } from './engine.js';

function toRecord(r: {
  key_id: string;
  wrapped_key: Buffer;
  master_key_id: string;
  state: string;
  created_at_ms: number;
  retired_at_ms: number | null;
}): DataKeyRecord {
  return {
    keyId: r.key_id,
    wrappedKey: Buffer.from(r.wrapped_key),
    masterKeyId: r.master_key_id,
    state: r.state as DataKeyState,
    createdAtMs: Number(r.created_at_ms),
    retiredAtMs: r.retired_at_ms === null ? null : Number(r.retired_at_ms),
  };
}

/** Reads all data keys. */
export async function readDataKeys(db: Db): Promise<DataKeyRecord[]> {
  const rows = await db.run('reading the keyring', () =>
    db.kysely.selectFrom('data_keys').selectAll().orderBy('created_at_ms').execute(),
  );
  return rows.map(toRecord);
}

/**
 * The keyring as the repositories use it: encrypts with the active data key, decrypts with any known key, and
 * reloads from the database when it meets a key id it has not seen (another process rotated) or when its view is
 * older than `refreshMs`.
 */
export class KeyStore {
  readonly keyring: Keyring;
  #loadedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly db: Db,
    readonly master: MasterKey,
    readonly clock: Clock,
    readonly refreshMs = 60_000,
  ) {
    this.keyring = new Keyring(master);
  }

  /** Loads the keyring, creating the first data key in an empty store (under the store-wide lock). */
  async init(): Promise<void> {
    await this.db.exclusive('creating the first data key', async (trx) => {
      const any = await trx
        .selectFrom('data_keys')
        .select('key_id')
        .where('state', '=', 'active')
        .executeTakeFirst();
      if (any) return;
      const { record } = createDataKey(this.master, this.clock.now());
      await trx
        .insertInto('data_keys')
        .values({
          key_id: record.keyId,
          wrapped_key: record.wrappedKey,
          master_key_id: record.masterKeyId,
          state: record.state,
          created_at_ms: record.createdAtMs,
          retired_at_ms: null,
        })
        .execute();
    });
    await this.reload();
  }

  /** Re-reads the data keys from the database. */
  async reload(): Promise<void> {
    this.keyring.load(await readDataKeys(this.db));
    this.#loadedAtMs = this.clock.now();
  }

  /** Seals a value for `context` with the active key (refreshing a stale view first, so rotations elsewhere apply). */
  async encrypt(plaintext: string | Buffer, context: string): Promise<Sealed> {
    if (this.clock.now() - this.#loadedAtMs >= this.refreshMs) await this.reload();
    return this.keyring.encrypt(plaintext, context);
  }

  /** Opens a stored value; an unknown key id triggers one reload before failing. */
  async decrypt(keyId: string, ciphertext: Buffer, context: string): Promise<Buffer> {
    if (!this.keyring.has(keyId)) await this.reload();
    if (!this.keyring.has(keyId)) {
      throw new CryptoError(
        `${context}: data key ${keyId} is not in the keyring (deleted, or another store's row)`,
      );
    }
    return this.keyring.decrypt(keyId, ciphertext, context);
  }
}
