import { WacloudError, type WacloudErrorOptions } from '../core/errors.js';

/** The store failed: database unreachable, full, locked, corrupt, or a migration failed. Never carries a secret. */
export class StoreError extends WacloudError {
  constructor(message: string, options: WacloudErrorOptions = {}) {
    super('STORE', message, options);
    this.name = 'StoreError';
  }
}
