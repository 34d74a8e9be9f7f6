import { createHmac, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { Secret } from '../../core/secret.js';
import { KEY_BYTES } from './aead.js';
import { CryptoError } from './crypto-error.js';

/** The key that wraps the data keys. Never stored next to the data unless no secret manager supplied it. */
export interface MasterKey {
  /** 32 bytes. Kept off any printed form: {@link MasterKey.toJSON} and friends are not defined on purpose. */
  readonly key: Buffer;
  /** A public fingerprint (HMAC of a constant under the key): tells keys apart, reveals nothing. */
  readonly id: string;
  /** Where it came from: `WACLOUD_MASTER_KEY`, the generated file, or an explicit option. */
  readonly source: 'env' | 'file' | 'option';
  /** The file path when `source` is `file`. */
  readonly path?: string;
}

/** File name of the generated master key in the data dir. */
export const MASTER_KEY_FILE = 'master-key.json';

interface MasterKeyFile {
  format: 'wacloud-master-key';
  version: 1;
  /** base64 of the 32 key bytes. */
  key: string;
  createdAt: string;
}

/** Fingerprint of a master key: first 16 hex chars of HMAC-SHA256(key, "wacloud master key id"). */
export function masterKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('wacloud master key id').digest('hex').slice(0, 16);
}

/**
 * Parses a 32-byte key given as hex (64 chars) or base64/base64url (44 or 43 chars). Anything else is a ConfigError
 * naming `variable` and saying what was wrong, without echoing the value.
 */
export function parseMasterKey(value: Secret | string, variable = 'WACLOUD_MASTER_KEY'): Buffer {
  const text = (value instanceof Secret ? value.reveal() : value).trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/]{43}=?$/.test(text) || /^[A-Za-z0-9_-]{43}$/.test(text)) {
    bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new ConfigError(
      variable,
      `must be ${KEY_BYTES} random bytes as 64 hex characters or 44 base64 characters (got ${text.length} characters); generate one with: openssl rand -base64 32`,
    );
  }
  return bytes;
}

export interface LoadMasterKeyOptions {
  /** `config.masterKey` (`WACLOUD_MASTER_KEY`). Wins over the file. */
  masterKey?: Secret | undefined;
  /** `config.dataDir`: where the generated file lives when no master key is given. */
  dataDir: string;
  logger?: Logger;
  /** Don't create the file when it is missing (read-only commands); throw instead. */
  createIfMissing?: boolean;
}

/**
 * Resolves the master key: `WACLOUD_MASTER_KEY` when set; otherwise `<dataDir>/master-key.json`, generated on first
 * run with mode 0600 and a warning (fine for development, but in production the key belongs in a secret manager,
 * not next to the data it protects).
 */
export function loadMasterKey(options: LoadMasterKeyOptions): MasterKey {
  if (options.masterKey) {
    const key = parseMasterKey(options.masterKey);
    return { key, id: masterKeyId(key), source: 'env' };
  }
  const path = join(options.dataDir, MASTER_KEY_FILE);
  if (existsSync(path)) return readMasterKeyFile(path, options.logger);
  if (options.createIfMissing === false) {
    throw new CryptoError(`no master key: WACLOUD_MASTER_KEY is not set and ${path} does not exist`);
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_BYTES);
  const file: MasterKeyFile = {
    format: 'wacloud-master-key',
    version: 1,
    key: key.toString('base64'),
    createdAt: new Date().toISOString(),
  };
  let fd: number;
  try {
    // 'wx': never overwrite a key another process just wrote (two first runs racing).
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readMasterKeyFile(path, options.logger);
    throw new CryptoError(
      `cannot create the master key file ${path} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  try {
    writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
  } finally {
    closeSync(fd);
  }
  options.logger?.warn(
    'WACLOUD_MASTER_KEY is not set: generated a master key file next to the data (mode 0600). Back it up: without it the stored tokens cannot be decrypted. In production, set WACLOUD_MASTER_KEY from a secret manager.',
    { path, masterKeyId: masterKeyId(key) },
  );
  return { key, id: masterKeyId(key), source: 'file', path };
}

function readMasterKeyFile(path: string, logger: Logger | undefined): MasterKey {
  let parsed: Partial<MasterKeyFile>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<MasterKeyFile>;
  } catch (err) {
    const reason =
      err instanceof SyntaxError ? 'it is not valid JSON' : `${(err as NodeJS.ErrnoException).code}`;
    throw new CryptoError(
      `the master key file ${path} is corrupt or unreadable (${reason}); restore it from backup or set WACLOUD_MASTER_KEY`,
    );
  }
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    parsed.format !== 'wacloud-master-key' ||
    parsed.version !== 1
  ) {
    throw new CryptoError(`the master key file ${path} is corrupt (unknown format); restore it from backup`);
  }
  const key = typeof parsed.key === 'string' ? Buffer.from(parsed.key, 'base64') : Buffer.alloc(0);
  if (key.length !== KEY_BYTES || key.toString('base64') !== parsed.key) {
    throw new CryptoError(
      `the master key file ${path} is corrupt (the key is not ${KEY_BYTES} bytes of base64)`,
    );
  }
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) {
      chmodSync(path, 0o600);
      logger?.warn('the master key file was readable by others; its mode is now 0600', {
        path,
        previousMode: mode.toString(8),
      });
    }
  } catch {
    // Best effort: a read-only mount still lets us use the key.
  }
  return { key, id: masterKeyId(key), source: 'file', path };
}
