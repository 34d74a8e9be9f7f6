import { randomBytes, randomInt } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// Per-request ids (trace ids, wamids) draw from a pooled buffer: one getrandom call per 8 KiB instead of one per
// id, which measured as a visible share of the send path's CPU. Secrets and tokens still use randomBytes directly.
const POOL_SIZE = 8192;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;

function pooledBytes(n: number): Buffer {
  if (poolOffset + n > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

/** Random base62 text (rejection sampling, so every character is uniform). */
export function base62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = randomBytes(Math.ceil((length - out.length) * 1.3) + 4);
    for (const b of bytes) {
      if (b < 248) out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A numeric Graph object id (15-16 digits, never starting with 0), like Meta's. */
export function numericId(digits = 15): string {
  let out = String(randomInt(1, 10));
  while (out.length < digits) out += String(randomInt(0, 1_000_000_000)).padStart(9, '0');
  return out.slice(0, digits);
}

/**
 * An access token: opaque, Meta-like (`EAA` + base62), generated at run time so no literal token is ever committed.
 * The 4th character tells kinds apart at a glance, as Meta's prefixes loosely do.
 */
export function accessTokenValue(kind: 'user' | 'system_user' | 'page' | 'business'): string {
  const marker = { user: 'W', system_user: 'S', page: 'P', business: 'B' }[kind];
  return `EAA${marker}${base62(160)}`;
}

/** An authorization code (Meta's start with `AQ`). */
export function authCode(): string {
  return `AQ${base62(150)}`;
}

/** An app secret: 32 lowercase hex characters, like Meta's. */
export function appSecretValue(): string {
  return randomBytes(16).toString('hex');
}

/** An `fbtrace_id` / `x-fb-trace-id`: 11 url-safe characters, like Meta's. */
export function traceId(): string {
  return pooledBytes(9).toString('base64url').slice(0, 11);
}

/** A WhatsApp message id: `wamid.` + base64 of a small binary record, shaped like Meta's (`wamid.HBgL...`). */
export function wamid(recipientDigits: string): string {
  const tail = pooledBytes(12).toString('hex').toUpperCase();
  const inner = Buffer.concat([
    Buffer.from([0x1c, 0x18, recipientDigits.length]),
    Buffer.from(recipientDigits, 'latin1'),
    Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, tail.length]),
    Buffer.from(tail, 'latin1'),
    Buffer.from([0x00]),
  ]);
  return `wamid.${inner.toString('base64')}`;
}
