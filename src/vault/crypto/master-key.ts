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
import { isSecretReferenceText } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { Secret } from '../../core/secret.js';
import type { SecretSourceFromUrlOptions } from '../secret-sources/secret-reference.js';
import { KEY_BYTES } from './aead.js';
import { CryptoError } from './crypto-error.js';

/** The key that wraps the data keys. Never stored next to the data unless no secret manager supplied it. */
export interface MasterKey {
  /** 32 bytes. Kept off any printed form: {@link MasterKey.toJSON} and friends are not defined on purpose. */
  readonly key: Buffer;
  /** A public fingerprint (HMAC of a constant under the key): tells keys apart, reveals nothing. */
  readonly id: string;
  /**
   * Where it came from: `WACLOUD_MASTER_KEY` holding the key (`env`) or a secret reference to it (`reference`), the
   * generated file, or an explicit option.
   */
  readonly source: 'env' | 'reference' | 'file' | 'option';
  /** The file path when `source` is `file`. */
  readonly path?: string;
  /** Which secret source and key held it when `source` is `reference` (names only, never a credential). */
  readonly reference?: string;
  /** True when this call generated the key file (first run): openStore removes it again if the database disagrees. */
  readonly generated?: boolean;
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
  if (options.masterKey && referenceText(options.masterKey) !== undefined) {
    throw new ConfigError(
      'WACLOUD_MASTER_KEY',
      'holds a secret reference, which must be fetched first: use resolveMasterKey (async) or openStore',
    );
  }
  if (options.masterKey) {
    const key = parseMasterKey(options.masterKey);
    return { key, id: masterKeyId(key), source: 'env' };
  }
  const path = join(options.dataDir, MASTER_KEY_FILE);
  if (existsSync(path)) return readMasterKeyFile(path, options.logger);
  if (options.createIfMissing === false) {
    // A missing setting (exit 3 in the CLI), not a crypto failure: say where the key is looked for.
    throw new ConfigError(
      'WACLOUD_MASTER_KEY',
      `no master key: WACLOUD_MASTER_KEY is not set and ${path} does not exist; set it, or point WACLOUD_DATA_DIR at the data dir that holds the key file`,
    );
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
  return { key, id: masterKeyId(key), source: 'file', path, generated: true };
}

/** The trimmed text of a `WACLOUD_MASTER_KEY` that is a secret reference (`vault://…`, `file:…`), else undefined. */
function referenceText(value: Secret): string | undefined {
  // A raw key (hex or base64) never starts with a reference scheme: none contains ':'.
  const text = value.reveal().trim();
  return isSecretReferenceText(text) ? text : undefined;
}

export interface ResolveMasterKeyOptions extends LoadMasterKeyOptions {
  /**
   * How to reach the secret source when `WACLOUD_MASTER_KEY` is a reference: `env` (for `env:` references and
   * VAULT_TOKEN / VAULT_NAMESPACE; default process.env), Vault token, AWS client options, GCP token provider,
   * transport, `timeoutMs` (default 10 s per request).
   */
  secretSources?: Omit<SecretSourceFromUrlOptions, 'variable'>;
}

/**
 * {@link loadMasterKey}, plus `WACLOUD_MASTER_KEY` as a secret reference: `file:/run/secrets/wacloud_master_key`,
 * `vault://vault.internal:8200/secret/wacloud/prod#master_key`, `aws-sm://wacloud/prod#master_key`,
 * `gcp-sm://project/wacloud-master-key`, `dotenv:/etc/wacloud/keys.env#MASTER`, `env:OTHER_VARIABLE`. The value is
 * fetched once, at start, and must be a key in the same form as the variable itself (64 hex or 44 base64 chars).
 * A source that cannot be read is a {@link SecretSourceError}; a missing secret or a value that is not a key is a
 * ConfigError naming `WACLOUD_MASTER_KEY`. Neither ever quotes the value.
 */
export async function resolveMasterKey(options: ResolveMasterKeyOptions): Promise<MasterKey> {
  const ref = options.masterKey ? referenceText(options.masterKey) : undefined;
  if (ref === undefined) return loadMasterKey(options);
  const { key, where } = await resolveKeyReference('WACLOUD_MASTER_KEY', ref, options.secretSources);
  return { key, id: masterKeyId(key), source: 'reference', reference: where };
}

/**
 * Fetches a master key through a secret reference held by `variable` (`WACLOUD_MASTER_KEY`, or the variable named by
 * `wacloud keys rewrap-master --new-key-env`) with the settings' one resolver, and parses it. Errors name the
 * variable and the source, never the value.
 */
export async function resolveKeyReference(
  variable: string,
  ref: string,
  secretSources: Omit<SecretSourceFromUrlOptions, 'variable'> = {},
): Promise<{ key: Buffer; where: string }> {
  const { resolveSecretSetting } = await import('../secret-sources/secret-reference.js');
  const { value, where } = await resolveSecretSetting(variable, ref, secretSources);
  try {
    return { key: parseMasterKey(value, variable), where };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(variable, `the value at ${where} ${err.message.slice(variable.length + 2)}`);
  }
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
