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
  // 8 random bytes are exactly 11 base64url characters; encoded straight from the pool (no view, no slice).
  if (poolOffset + 8 > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  poolOffset += 8;
  return pool.toString('base64url', poolOffset - 8, poolOffset);
}

/** A WhatsApp message id: `wamid.` + base64 of a small binary record, shaped like Meta's (`wamid.HBgL...`). */
export function wamid(recipientDigits: string): string {
  // 0x1c 0x18 <len> <digits> 0x15 0x02 0x00 0x11 0x18 <24> <24 uppercase hex chars> 0x00, written into one buffer.
  const n = recipientDigits.length;
  const out = Buffer.allocUnsafe(n + 34);
  out[0] = 0x1c;
  out[1] = 0x18;
  out[2] = n;
  out.write(recipientDigits, 3, 'latin1');
  out[n + 3] = 0x15;
  out[n + 4] = 0x02;
  out[n + 5] = 0x00;
  out[n + 6] = 0x11;
  out[n + 7] = 0x18;
  out[n + 8] = 24;
  const random = pooledBytes(12);
  for (let i = 0; i < 12; i++) {
    const b = random[i] as number;
    out[n + 9 + 2 * i] = HEX_UPPER[b >> 4] as number;
    out[n + 10 + 2 * i] = HEX_UPPER[b & 15] as number;
  }
  out[n + 33] = 0x00;
  return `wamid.${out.toString('base64')}`;
}

const HEX_UPPER = Buffer.from('0123456789ABCDEF', 'latin1');
