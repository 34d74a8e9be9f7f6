import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Secret } from '../../core/secret.js';

/** Broker API keys look like `wck_<id>_<secret>`: the id is shown in lists, only a hash of the whole key is stored. */
const KEY_PATTERN = /^wck_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  /** The full key: shown once, never stored. */
  key: Secret;
  keyId: string;
  /** SHA-256 of the key, hex: what the store keeps and looks up by. */
  hash: string;
}

/** Generates a 256-bit API key. */
export function generateApiKey(): NewApiKey {
  const keyId = randomBytes(5).toString('hex').slice(0, 8);
  const secret = randomBytes(32).toString('base64url');
  const value = `wck_${keyId}_${secret}`;
  return { key: new Secret(value, 'api-key'), keyId, hash: hashApiKey(value) };
}

/**
 * SHA-256 is right for API keys (unlike passwords): they carry 256 bits of entropy, so a fast hash cannot be
 * brute-forced, and the lookup stays fast on the proxy's hot path.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The key id of a well-formed key, or undefined (bad shape: reject before any lookup). */
export function apiKeyId(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

export function hashesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
