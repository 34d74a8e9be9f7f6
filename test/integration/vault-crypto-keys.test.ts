import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import { openStore } from '../../src/store/open-store.js';
import { open, seal } from '../../src/vault/crypto/aead.js';
import { CryptoError } from '../../src/vault/crypto/crypto-error.js';
import { createDataKey, Keyring, rewrapDataKey, unwrapDataKey } from '../../src/vault/crypto/keyring.js';
import {
  loadMasterKey,
  MASTER_KEY_FILE,
  masterKeyId,
  parseMasterKey,
} from '../../src/vault/crypto/master-key.js';
import { testMasterKey } from '../support/store.js';

function captureLogger(): Logger & { lines: { level: string; msg: string; fields?: unknown }[] } {
  const lines: { level: string; msg: string; fields?: unknown }[] = [];
  const at = (level: string) => (msg: string, fields?: unknown) => {
    lines.push({ level, msg, fields });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'wacloud-keys-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('AES-256-GCM seal/open', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('wacloud:v1:dk_1:credentials/c1/v1');
  const plain = Buffer.from('EAAGplaintexttoken0123456789');

  it('round-trips, and each seal uses a fresh IV', () => {
    const a = seal(key, plain, aad);
    const b = seal(key, plain, aad);
    expect(a.equals(b)).toBe(false);
    expect(open(key, a, aad, 'x').equals(plain)).toBe(true);
    expect(a.includes(plain)).toBe(false);
  });

  it('rejects any changed byte (format, IV, tag, body) with a CryptoError', () => {
    const sealed = seal(key, plain, aad);
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] = (bad[i] as number) ^ 0x01;
      expect(() => open(key, bad, aad, 'credentials/c1/v1'), `byte ${i}`).toThrow(CryptoError);
    }
  });

  it('rejects other additional data, another key, truncation and garbage', () => {
    const sealed = seal(key, plain, aad);
    expect(() => open(key, sealed, Buffer.from('wacloud:v1:dk_1:credentials/c2/v1'), 'c')).toThrow(
      /failed authentication/,
    );
    expect(() => open(randomBytes(32), sealed, aad, 'c')).toThrow(CryptoError);
    expect(() => open(key, sealed.subarray(0, 20), aad, 'c')).toThrow(/not a wacloud ciphertext/);
    expect(() => open(key, Buffer.from('hello'), aad, 'c')).toThrow(CryptoError);
    expect(() => seal(randomBytes(16), plain, aad)).toThrow(/32 bytes/);
    try {
      open(key, sealed, Buffer.from('other'), 'credentials/c1/v1');
    } catch (err) {
      expect((err as CryptoError).code).toBe('CRYPTO');
      expect((err as Error).message).not.toContain(plain.toString());
    }
  });
});

describe('master key parsing (WACLOUD_MASTER_KEY)', () => {
  const bytes = randomBytes(32);

  it('accepts 64 hex chars, base64 and base64url of 32 bytes', () => {
    expect(parseMasterKey(bytes.toString('hex')).equals(bytes)).toBe(true);
    expect(parseMasterKey(bytes.toString('hex').toUpperCase()).equals(bytes)).toBe(true);
    expect(parseMasterKey(new Secret(bytes.toString('base64'))).equals(bytes)).toBe(true);
    expect(parseMasterKey(` ${bytes.toString('base64url')}\n`).equals(bytes)).toBe(true);
  });

  it.each([
    ['too short hex', randomBytes(16).toString('hex')],
    ['31 bytes of base64', randomBytes(31).toString('base64')],
    ['33 bytes of base64', randomBytes(33).toString('base64')],
    ['a passphrase', 'correct horse battery staple and more words here'],
    ['empty', ''],
    ['hex with a bad char', `${bytes.toString('hex').slice(0, 63)}g`],
  ])('rejects %s with a ConfigError naming the variable, not the value', (_name, value) => {
    let caught: unknown;
    try {
      parseMasterKey(value);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe('WACLOUD_MASTER_KEY');
    expect((caught as ConfigError).code).toBe('CONFIG_INVALID');
    if (value.length > 8) expect((caught as Error).message).not.toContain(value);
  });

  it('a bad WACLOUD_MASTER_KEY fails openStore before any database is created', async () => {
    const dataDir = tempDir();
    await expect(
      openStore({ dataDir, databaseUrl: undefined, masterKey: new Secret('not-a-key') }),
    ).rejects.toBeInstanceOf(ConfigError);
    expect(() => statSync(join(dataDir, 'wacloud.db'))).toThrow();
  });
});

describe('master key file (no WACLOUD_MASTER_KEY)', () => {
  it('is generated on first run with mode 0600 and a warning, then reused silently', () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const log = captureLogger();
    const first = loadMasterKey({ dataDir, logger: log });
    expect(first.source).toBe('file');
    const path = join(dataDir, MASTER_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const warnings = log.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/WACLOUD_MASTER_KEY is not set/);
    expect(JSON.stringify(log.lines)).not.toContain(first.key.toString('base64'));
    const second = loadMasterKey({ dataDir, logger: log });
    expect(second.key.equals(first.key)).toBe(true);
    expect(second.id).toBe(first.id);
    expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
  });

  it('WACLOUD_MASTER_KEY wins over the file', () => {
    const dataDir = tempDir();
    const fromFile = loadMasterKey({ dataDir });
    const env = randomBytes(32);
    const fromEnv = loadMasterKey({ dataDir, masterKey: new Secret(env.toString('base64')) });
    expect(fromEnv.source).toBe('env');
    expect(fromEnv.key.equals(env)).toBe(true);
    expect(fromEnv.id).not.toBe(fromFile.id);
  });

  it('tightens a file readable by others to 0600, with a warning', () => {
    const dataDir = tempDir();
    loadMasterKey({ dataDir });
    const path = join(dataDir, MASTER_KEY_FILE);
    chmodSync(path, 0o644);
    const log = captureLogger();
    loadMasterKey({ dataDir, logger: log });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(log.lines.some((l) => l.level === 'warn' && /0600/.test(l.msg))).toBe(true);
  });

  it.each([
    ['not JSON', '{"format": "wacloud-master-key", "version": 1, "key": '],
    [
      'another format',
      JSON.stringify({ format: 'something-else', version: 1, key: randomBytes(32).toString('base64') }),
    ],
    [
      'a short key',
      JSON.stringify({ format: 'wacloud-master-key', version: 1, key: randomBytes(16).toString('base64') }),
    ],
    ['a non-base64 key', JSON.stringify({ format: 'wacloud-master-key', version: 1, key: '!'.repeat(44) })],
    ['null', 'null'],
    ['empty', ''],
  ])('a corrupt file (%s) is a CryptoError naming the file, never silently replaced', (_name, content) => {
    const dataDir = tempDir();
    const path = join(dataDir, MASTER_KEY_FILE);
    writeFileSync(path, content, { mode: 0o600 });
    expect(() => loadMasterKey({ dataDir })).toThrow(CryptoError);
    expect(() => loadMasterKey({ dataDir })).toThrow(new RegExp(MASTER_KEY_FILE));
    expect(readFileSync(path, 'utf8')).toBe(content);
  });

  it('with createIfMissing false, a missing file is a CryptoError', () => {
    expect(() => loadMasterKey({ dataDir: tempDir(), createIfMissing: false })).toThrow(/no master key/);
  });
});

describe('data keys and the keyring', () => {
  it('wraps data keys under the master key; the wrong master key is named by fingerprint', () => {
    const master = testMasterKey();
    const other = testMasterKey();
    const { record, key } = createDataKey(master, 1);
    expect(record.wrappedKey.includes(key)).toBe(false);
    expect(unwrapDataKey(master, record).equals(key)).toBe(true);
    expect(() => unwrapDataKey(other, record)).toThrow(CryptoError);
    expect(() => unwrapDataKey(other, record)).toThrow(new RegExp(`${master.id}.*${other.id}`));
    expect(() => new Keyring(other, [record])).toThrow(/WACLOUD_MASTER_KEY is wrong/);
  });

  it('a wrapped key moved to another key id does not unwrap', () => {
    const master = testMasterKey();
    const { record } = createDataKey(master, 1);
    expect(() => unwrapDataKey(master, { ...record, keyId: 'dk_other' })).toThrow(CryptoError);
  });

  it('re-wraps under a new master key without changing the data key', () => {
    const a = testMasterKey();
    const b = testMasterKey();
    const { record, key } = createDataKey(a, 1);
    const moved = rewrapDataKey(a, b, record);
    expect(moved.masterKeyId).toBe(b.id);
    expect(unwrapDataKey(b, moved).equals(key)).toBe(true);
    expect(() => unwrapDataKey(a, moved)).toThrow(CryptoError);
  });

  it('encrypts with the active key and binds values to key id and context', () => {
    const master = testMasterKey();
    const old = createDataKey(master, 1).record;
    const active = createDataKey(master, 2).record;
    const ring = new Keyring(master, [{ ...old, state: 'retiring' }, active]);
    const sealed = ring.encrypt('EAAGsecretvalue', 'credentials/a/v1');
    expect(sealed.keyId).toBe(active.keyId);
    expect(ring.decrypt(sealed.keyId, sealed.ciphertext, 'credentials/a/v1').toString()).toBe(
      'EAAGsecretvalue',
    );
    expect(() => ring.decrypt(sealed.keyId, sealed.ciphertext, 'credentials/a/v2')).toThrow(CryptoError);
    expect(() => ring.decrypt(sealed.keyId, sealed.ciphertext, 'credentials/b/v1')).toThrow(CryptoError);
    expect(() => ring.decrypt(old.keyId, sealed.ciphertext, 'credentials/a/v1')).toThrow(CryptoError);
    expect(() => ring.decrypt('dk_missing', sealed.ciphertext, 'credentials/a/v1')).toThrow(
      /not in the keyring/,
    );
  });

  it('refuses a keyring with two active keys or none to encrypt with', () => {
    const master = testMasterKey();
    expect(
      () => new Keyring(master, [createDataKey(master, 1).record, createDataKey(master, 2).record]),
    ).toThrow(/2 active/);
    expect(() => new Keyring(master, []).encrypt('x', 'c')).toThrow(/no active data key/);
  });

  it('master key ids are stable fingerprints that reveal nothing of the key', () => {
    const key = randomBytes(32);
    expect(masterKeyId(key)).toBe(masterKeyId(Buffer.from(key)));
    expect(masterKeyId(key)).toMatch(/^[0-9a-f]{16}$/);
    expect(key.toString('hex')).not.toContain(masterKeyId(key));
  });
});
