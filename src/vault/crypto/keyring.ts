import { randomBytes } from 'node:crypto';
import { KEY_BYTES, open, seal } from './aead.js';
import { CryptoError } from './crypto-error.js';
import type { MasterKey } from './master-key.js';

/** A data key's life: `active` encrypts new values; `retiring` still decrypts rows not yet re-encrypted; `retired`
 * keys no row uses any more (kept wrapped so an old backup can still be read). */
export type DataKeyState = 'active' | 'retiring' | 'retired';

/** A data key as stored: wrapped (encrypted) by the master key, never in clear. */
export interface DataKeyRecord {
  keyId: string;
  /** AES-256-GCM of the 32 key bytes under the master key, additional data `wacloud:data-key:<keyId>`. */
  wrappedKey: Buffer;
  /** Fingerprint of the master key that wrapped it (diagnoses "wrong master key"). */
  masterKeyId: string;
  state: DataKeyState;
  createdAtMs: number;
  retiredAtMs: number | null;
}

/** A sealed value and the id of the data key that sealed it: stored side by side. */
export interface Sealed {
  keyId: string;
  ciphertext: Buffer;
}

function wrapAad(keyId: string): Buffer {
  return Buffer.from(`wacloud:data-key:${keyId}`, 'utf8');
}

/** Additional data for a value: key id first, then where the value lives (`credentials/<id>/v<version>`). */
function valueAad(keyId: string, context: string): Buffer {
  return Buffer.from(`wacloud:v1:${keyId}:${context}`, 'utf8');
}

/** A new random data key, wrapped by `master`. Returns the record to store and the clear key for the keyring. */
export function createDataKey(master: MasterKey, nowMs: number): { record: DataKeyRecord; key: Buffer } {
  const keyId = `dk_${randomBytes(6).toString('hex')}`;
  const key = randomBytes(KEY_BYTES);
  return {
    key,
    record: {
      keyId,
      wrappedKey: seal(master.key, key, wrapAad(keyId)),
      masterKeyId: master.id,
      state: 'active',
      createdAtMs: nowMs,
      retiredAtMs: null,
    },
  };
}

/** Unwraps one stored data key; a wrong master key is reported as such, naming both fingerprints. */
export function unwrapDataKey(master: MasterKey, record: DataKeyRecord): Buffer {
  try {
    return open(master.key, record.wrappedKey, wrapAad(record.keyId), `data key ${record.keyId}`);
  } catch (err) {
    if (record.masterKeyId !== master.id) {
      throw new CryptoError(
        `data key ${record.keyId} was wrapped by master key ${record.masterKeyId}, but the master key in use is ${master.id}: WACLOUD_MASTER_KEY is wrong or the master key file was replaced`,
      );
    }
    throw err;
  }
}

/** Re-wraps a data key under another master key (master key rotation). */
export function rewrapDataKey(from: MasterKey, to: MasterKey, record: DataKeyRecord): DataKeyRecord {
  const key = unwrapDataKey(from, record);
  return { ...record, wrappedKey: seal(to.key, key, wrapAad(record.keyId)), masterKeyId: to.id };
}

/**
 * The clear data keys in memory, and the one that encrypts. Values are bound to their key id and their `context`
 * (table, row id, version) through the additional data.
 */
export class Keyring {
  readonly #keys = new Map<string, Buffer>();
  #records: DataKeyRecord[] = [];
  #active: string | undefined;

  constructor(
    readonly master: MasterKey,
    records: DataKeyRecord[] = [],
  ) {
    this.load(records);
  }

  /** Replaces the loaded keys with `records` (all unwrapped now, so a wrong master key fails at once). */
  load(records: DataKeyRecord[]): void {
    const keys = new Map<string, Buffer>();
    for (const r of records) keys.set(r.keyId, unwrapDataKey(this.master, r));
    const active = records.filter((r) => r.state === 'active');
    if (active.length > 1) {
      throw new CryptoError(`the keyring has ${active.length} active data keys; expected one`);
    }
    this.#keys.clear();
    for (const [id, key] of keys) this.#keys.set(id, key);
    this.#records = records.map((r) => ({ ...r }));
    this.#active = active[0]?.keyId;
  }

  get activeKeyId(): string | undefined {
    return this.#active;
  }

  get records(): readonly DataKeyRecord[] {
    return this.#records;
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** Seals `plaintext` with the active key, bound to `context`. */
  encrypt(plaintext: string | Buffer, context: string): Sealed {
    const keyId = this.#active;
    if (!keyId) throw new CryptoError('the keyring has no active data key');
    const key = this.#keys.get(keyId) as Buffer;
    const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    return { keyId, ciphertext: seal(key, bytes, valueAad(keyId, context)) };
  }

  /** Opens a value sealed by key `keyId` for `context`; CryptoError when the key is unknown or the value is not genuine. */
  decrypt(keyId: string, ciphertext: Buffer, context: string): Buffer {
    const key = this.#keys.get(keyId);
    if (!key) throw new CryptoError(`${context}: data key ${keyId} is not in the keyring`);
    return open(key, ciphertext, valueAad(keyId, context), context);
  }
}
