import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CryptoError } from './crypto-error.js';

/** Format byte first, so the layout can change later without guessing. */
const FORMAT_V1 = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** AES-256: 32-byte keys. */
export const KEY_BYTES = 32;

/**
 * Encrypts with AES-256-GCM. Output: `0x01 | iv (12) | tag (16) | ciphertext`. `aad` is authenticated but not
 * stored: the caller rebuilds it from where the ciphertext lives (key id, table, row id, version), so a ciphertext
 * copied elsewhere fails to open.
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new CryptoError(`an AES-256 key must be ${KEY_BYTES} bytes`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(FORMAT_V1), iv, cipher.getAuthTag(), body]);
}

/**
 * Opens what {@link seal} produced. Throws a {@link CryptoError} saying `what` could not be decrypted when the bytes
 * were changed, the additional data differs (another row or version) or the key is not the one used.
 */
export function open(key: Buffer, sealed: Buffer, aad: Buffer, what: string): Buffer {
  if (key.length !== KEY_BYTES) throw new CryptoError(`an AES-256 key must be ${KEY_BYTES} bytes`);
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== FORMAT_V1) {
    throw new CryptoError(`${what}: not a wacloud ciphertext (bad length or format byte)`);
  }
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const body = sealed.subarray(1 + IV_BYTES + TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    // GCM says only "unable to authenticate": all three causes look the same, so name them all.
    throw new CryptoError(
      `${what}: ciphertext failed authentication (tampered, copied from another row or version, or wrong key)`,
    );
  }
}
