export { KEY_BYTES, open, seal } from './aead.js';
export { CryptoError } from './crypto-error.js';
export {
  createDataKey,
  type DataKeyRecord,
  type DataKeyState,
  Keyring,
  rewrapDataKey,
  type Sealed,
  unwrapDataKey,
} from './keyring.js';
export {
  type LoadMasterKeyOptions,
  loadMasterKey,
  MASTER_KEY_FILE,
  type MasterKey,
  masterKeyId,
  parseMasterKey,
  type ResolveMasterKeyOptions,
  resolveMasterKey,
} from './master-key.js';
