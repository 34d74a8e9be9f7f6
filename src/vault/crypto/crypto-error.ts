import { WacloudError, type WacloudErrorOptions } from '../../core/errors.js';

/**
 * Encryption at rest failed: a ciphertext did not authenticate (tampered, moved to another row, wrong key), a key is
 * missing, or the master key is malformed. The message names the key id and the row, never key or token bytes.
 */
export class CryptoError extends WacloudError {
  constructor(message: string, options: WacloudErrorOptions = {}) {
    super('CRYPTO', message, options);
    this.name = 'CryptoError';
  }
}
